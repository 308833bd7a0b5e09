//! Pluggable sources, modelled on Vector: one config struct per source type (serde,
//! `deny_unknown_fields`, documented defaults) that builds a runnable component behind the
//! small [`Source`] trait. Adding a cloud means adding one variant and one module.
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use indicatif::ProgressBar;
use queries::Store;
use serde::{Deserialize, Serialize};

use crate::{FocusIngest, IngestError, IngestReport};

/// A runnable source: reads its input and lands it in the store.
pub trait Source: Send + Sync {
    fn name(&self) -> &str;
    fn run<'a>(
        &'a self,
        store: &'a Store,
        progress: &'a ProgressBar,
    ) -> Pin<Box<dyn Future<Output = Result<IngestReport, IngestError>> + Send + 'a>>;
}

/// One `[[sources]]` entry of costmill.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// FOCUS exports (CSV, CSV.gz, Parquet) on disk.
    FocusFiles(FocusFilesConfig),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::FocusFiles(c) => &c.name,
        }
    }

    pub fn build(&self) -> Box<dyn Source> {
        match self {
            SourceConfig::FocusFiles(c) => Box::new(c.build()),
        }
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
        match self {
            SourceConfig::FocusFiles(c) => {
                if c.paths.is_empty() {
                    problems.push(("paths".into(), "list at least one file or directory".into()));
                }
            }
        }
        problems
    }
}

/// `type = "focus_files"`: FOCUS export files, or directories of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusFilesConfig {
    /// Source name; billing months are replaced per source on re-ingest.
    pub name: String,
    /// Files (`.csv`, `.csv.gz`, `.parquet`) or directories holding them.
    pub paths: Vec<PathBuf>,
    /// Refuse spec deviations instead of counting them. Default: false.
    #[serde(default)]
    pub strict: bool,
    /// Problems listed before reading stops. Default: 20.
    #[serde(default = "default_max_errors")]
    pub max_errors: usize,
}

fn default_max_errors() -> usize {
    20
}

impl FocusFilesConfig {
    fn build(&self) -> FocusFilesSource {
        FocusFilesSource {
            config: self.clone(),
        }
    }
}

struct FocusFilesSource {
    config: FocusFilesConfig,
}

impl Source for FocusFilesSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn run<'a>(
        &'a self,
        store: &'a Store,
        progress: &'a ProgressBar,
    ) -> Pin<Box<dyn Future<Output = Result<IngestReport, IngestError>> + Send + 'a>> {
        Box::pin(async move {
            let job = FocusIngest {
                paths: expand_paths(&self.config.paths),
                source: self.config.name.clone(),
                strict: self.config.strict,
                max_errors: self.config.max_errors,
            };
            job.run(store, progress).await
        })
    }
}

/// Directories expand to the export files inside them, sorted; files stay as given.
pub fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        let name = p.to_string_lossy().to_lowercase();
                        name.ends_with(".csv")
                            || name.ends_with(".csv.gz")
                            || name.ends_with(".parquet")
                    })
                    .collect();
                files.sort();
                out.extend(files);
            }
            Err(_) => out.push(path.clone()),
        }
    }
    out
}
