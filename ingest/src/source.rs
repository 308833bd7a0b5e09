//! Pluggable sources, modelled on Vector: one config struct per source type (serde,
//! `deny_unknown_fields`, documented defaults) that builds a runnable component behind the small
//! [`Source`] trait. Adding a cloud means adding one module under `sources/` and one variant here.
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::record::SourceEvent;
use crate::sources::focus_files::{FocusFiles, FocusFilesConfig};
use crate::sources::kubernetes::{KubernetesConfig, KubernetesLive};
use crate::sources::metrics_file::{MetricsFile, MetricsFileConfig};
use crate::sources::slurm::{Slurm, SlurmConfig};
use crate::IngestError;

/// A runnable source: reads its input from where its checkpoint says and yields typed records.
pub trait Source: Send + Sync {
    fn name(&self) -> &str;
    /// The records since `checkpoint` (the last one this source yielded in a committed run).
    fn read(
        &self,
        checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>>;
}

/// One `[[sources]]` entry of costmill.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// FOCUS exports (CSV, CSV.gz, Parquet) on disk.
    FocusFiles(FocusFilesConfig),
    /// Per-service daily metrics (CSV or JSON lines) for proportional pools.
    MetricsFile(MetricsFileConfig),
    /// A Kubernetes cluster sampled through its API (nodes, pods, PodMetrics).
    Kubernetes(KubernetesConfig),
    /// Slurm accounting: sacct output files, or sacct run live.
    Slurm(SlurmConfig),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::FocusFiles(c) => &c.name,
            SourceConfig::MetricsFile(c) => &c.name,
            SourceConfig::Kubernetes(c) => &c.name,
            SourceConfig::Slurm(c) => &c.name,
        }
    }

    /// Cron expression for `costmill serve`, if any.
    pub fn schedule(&self) -> Option<&str> {
        match self {
            SourceConfig::FocusFiles(c) => c.schedule.as_deref(),
            SourceConfig::MetricsFile(c) => c.schedule.as_deref(),
            SourceConfig::Kubernetes(c) => c.schedule.as_deref(),
            SourceConfig::Slurm(c) => c.schedule.as_deref(),
        }
    }

    pub fn build(&self) -> Box<dyn Source> {
        match self {
            SourceConfig::FocusFiles(c) => Box::new(FocusFiles {
                name: c.name.clone(),
                paths: c.paths.clone(),
            }),
            SourceConfig::MetricsFile(c) => Box::new(MetricsFile {
                name: c.name.clone(),
                paths: c.paths.clone(),
            }),
            SourceConfig::Kubernetes(c) => Box::new(KubernetesLive {
                config: c.clone(),
                sample_time: None,
            }),
            SourceConfig::Slurm(c) => Box::new(Slurm::new(c.clone())),
        }
    }

    /// How the sinks treat this source's records.
    pub fn run_options(&self) -> crate::RunOptions {
        let mut options = crate::RunOptions::default();
        match self {
            SourceConfig::FocusFiles(c) => {
                options.strict = c.strict;
                options.max_errors = c.max_errors;
            }
            SourceConfig::MetricsFile(c) => options.max_errors = c.max_errors,
            SourceConfig::Kubernetes(_) => {}
            SourceConfig::Slurm(c) => options.max_errors = c.max_errors,
        }
        options
    }

    /// Problems as `(key, reason)`, keys relative to this entry.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let name = self.name();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problems.push((
                "name".into(),
                format!("`{name}` must be letters, digits, `-`, `_` or `.`"),
            ));
        }
        if let Some(schedule) = self.schedule() {
            if let Err(e) = schedule.parse::<cron::Schedule>() {
                problems.push((
                    "schedule".into(),
                    format!("`{schedule}` is not a cron expression with seconds, such as `0 0 * * * *` (hourly): {e}"),
                ));
            }
        }
        let paths = match self {
            SourceConfig::FocusFiles(c) => &c.paths,
            SourceConfig::MetricsFile(c) => &c.paths,
            // No paths: the cluster's API.
            SourceConfig::Kubernetes(c) => {
                problems.extend(c.problems());
                return problems;
            }
            // No paths: live mode (runs sacct).
            SourceConfig::Slurm(c) => {
                problems.extend(c.problems());
                return problems;
            }
        };
        if paths.is_empty() {
            problems.push(("paths".into(), "list at least one file or directory".into()));
        }
        problems
    }
}
