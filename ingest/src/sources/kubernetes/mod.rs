//! Kubernetes usage: nodes (capacity, instance, providerID) into `k8s_nodes` and pods (workload,
//! labels, effective requests, measured usage) into `k8s_pod_usage`, in hourly windows, from
//! `kubectl` dumps ([`dumps`]) or the API ([`live`], `[[sources]] type = "kubernetes"`).
//!
//! - [`objects`]: the JSON of nodes, pods and PodMetrics read into typed facts, each list item
//!   by its kind with problems at their line and column (`json`); quantities exactly
//!   ([`quantity`]); effective requests as the scheduler computes them (`raw`);
//! - [`owners`]: a pod's workload through its owner chain;
//! - [`window`]: samples folded into hourly windows (gaps bridged, usage averaged);
//! - [`sample`]: one sample and the rows it folds into.
pub mod dumps;
mod json;
pub mod live;
pub mod objects;
pub mod owners;
pub mod quantity;
mod raw;
pub mod sample;
pub mod window;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use dumps::KubernetesDumps;
pub use live::KubernetesLive;

/// `[[sources]] type = "kubernetes"`: one cluster sampled through its API on every run. Reach it
/// by exactly one of `context`, `url` and `in_cluster = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    pub name: String,
    /// The cluster's name in the usage tables (and in workload ids `k8s://CLUSTER/…`).
    pub cluster: String,
    /// A kubeconfig context (server and credentials from the kubeconfig). Default: none.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubeconfig file for `context`. Default: `$KUBECONFIG`, else `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// A plain API URL without credentials (`kubectl proxy`, tests). Default: none.
    #[serde(default)]
    pub url: Option<String>,
    /// The pod's service account (costmill running in this cluster; deploy/rbac.yaml grants
    /// what it reads). Default: false.
    #[serde(default)]
    pub in_cluster: bool,
    /// Seconds between runs: each run's sighting stands for this long. Match `schedule`.
    /// Default: 60.
    #[serde(default = "default_interval")]
    pub interval_secs: u32,
    /// The longest gap between two sightings still counted as present throughout (missed
    /// runs). Default: 3 × `interval_secs`.
    #[serde(default)]
    pub max_gap_secs: Option<u32>,
    /// Objects per list page (`limit`). Default: 500, as kubectl.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Cron expression (with seconds) for `costmill serve`, e.g. `0 * * * * *` for every minute.
    /// Default: none (run on demand only).
    #[serde(default)]
    pub schedule: Option<String>,
}

fn default_interval() -> u32 {
    60
}

fn default_page_size() -> u32 {
    500
}

impl KubernetesConfig {
    pub fn timing(&self) -> window::Timing {
        window::Timing::new(self.interval_secs, self.max_gap_secs)
    }

    /// Problems as `(key, reason)`, keys relative to this entry.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.cluster.trim().is_empty() {
            problems.push(("cluster".into(), "name the cluster, e.g. `prod-eu`".into()));
        }
        let chosen = [self.context.is_some(), self.url.is_some(), self.in_cluster];
        if chosen.iter().filter(|c| **c).count() != 1 {
            problems.push((
                "context".into(),
                "set exactly one of `context`, `url` and `in_cluster = true`".into(),
            ));
        }
        if self.kubeconfig.is_some() && self.context.is_none() {
            problems.push(("kubeconfig".into(), "`kubeconfig` needs `context`".into()));
        }
        if let Some(url) = &self.url {
            if let Err(e) = url.parse::<http::Uri>() {
                problems.push(("url".into(), format!("`{url}` is not a URL: {e}")));
            }
        }
        if self.interval_secs == 0 {
            problems.push(("interval_secs".into(), "must be at least 1".into()));
        }
        if self.max_gap_secs.is_some_and(|g| g < self.interval_secs) {
            problems.push((
                "max_gap_secs".into(),
                format!("must be at least interval_secs ({})", self.interval_secs),
            ));
        }
        if self.page_size == 0 {
            problems.push(("page_size".into(), "must be at least 1".into()));
        }
        if let Some(period) = self.schedule_period() {
            if period != self.interval_secs {
                problems.push((
                    "interval_secs".into(),
                    format!(
                        "the schedule runs every {period} s but interval_secs = {}: each run's \
                         sample stands for interval_secs, so set interval_secs = {period}",
                        self.interval_secs
                    ),
                ));
            }
        }
        problems
    }

    /// Seconds between the schedule's next two runs, if it parses.
    fn schedule_period(&self) -> Option<u32> {
        let schedule: cron::Schedule = self.schedule.as_deref()?.parse().ok()?;
        let mut next = schedule.upcoming(chrono::Utc);
        let (a, b) = (next.next()?, next.next()?);
        u32::try_from((b - a).num_seconds()).ok()
    }
}

/// A live run that could not read the cluster; nothing was landed.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error("kubernetes cluster `{cluster}`: {reason}")]
    Config { cluster: String, reason: String },
    #[error("kubernetes cluster `{cluster}`: kubeconfig: {source}")]
    Kubeconfig {
        cluster: String,
        source: kube::config::KubeconfigError,
    },
    #[error("kubernetes cluster `{cluster}`: in-cluster config: {source}")]
    InCluster {
        cluster: String,
        source: kube::config::InClusterError,
    },
    #[error("kubernetes cluster `{cluster}`: client: {source}")]
    Client {
        cluster: String,
        source: kube::Error,
    },
    #[error(
        "kubernetes cluster `{cluster}`: the API refused to {verb} {resource} (403 Forbidden: \
         {message}). costmill's account needs `{verb}` on `{resource}`: apply deploy/rbac.yaml, \
         whose ClusterRole costmill-kubernetes-source grants it"
    )]
    Forbidden {
        cluster: String,
        verb: String,
        /// `pods`, `nodes`, `pods.metrics.k8s.io`.
        resource: String,
        /// The API group (`""` for core).
        group: String,
        message: String,
    },
    #[error("kubernetes cluster `{cluster}`: {call} failed ({code}): {message}")]
    Api {
        cluster: String,
        call: String,
        code: u16,
        message: String,
    },
    #[error("kubernetes cluster `{cluster}`: {call}: {source}")]
    Request {
        cluster: String,
        call: String,
        source: kube::Error,
    },
    #[error("kubernetes cluster `{cluster}`: {call}: unexpected answer: {problem}")]
    Answer {
        cluster: String,
        call: String,
        problem: String,
    },
}

/// The API client `config` names.
pub async fn client(config: &KubernetesConfig) -> Result<kube::Client, KubernetesError> {
    let cluster = || config.cluster.clone();
    if let Some((_, reason)) = config
        .problems()
        .into_iter()
        .find(|(k, _)| k == "context" || k == "kubeconfig" || k == "url")
    {
        return Err(KubernetesError::Config {
            cluster: cluster(),
            reason,
        });
    }
    let kube_config = if let Some(context) = &config.context {
        let options = kube::config::KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let loaded = match &config.kubeconfig {
            Some(path) => match kube::config::Kubeconfig::read_from(path) {
                Ok(file) => kube::Config::from_custom_kubeconfig(file, &options).await,
                Err(e) => Err(e),
            },
            None => kube::Config::from_kubeconfig(&options).await,
        };
        loaded.map_err(|source| KubernetesError::Kubeconfig {
            cluster: cluster(),
            source,
        })?
    } else if let Some(url) = &config.url {
        let uri = url
            .parse::<http::Uri>()
            .map_err(|e| KubernetesError::Config {
                cluster: cluster(),
                reason: format!("`{url}` is not a URL: {e}"),
            })?;
        kube::Config::new(uri)
    } else {
        kube::Config::incluster().map_err(|source| KubernetesError::InCluster {
            cluster: cluster(),
            source,
        })?
    };
    kube::Client::try_from(kube_config).map_err(|source| KubernetesError::Client {
        cluster: cluster(),
        source,
    })
}
