//! The executor's configuration, and the API client of each cluster it names.
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rollout::Watch;

/// `[migrations.kubernetes]`: the clusters the executor may change, and how it watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesExecutorConfig {
    /// The clusters, by the name costmill's workload ids use (`k8s://NAME/…`). Default: none.
    #[serde(default)]
    pub clusters: Vec<KubeClusterConfig>,
    /// How long a rollout may take before the executor puts the workload back, and how long it
    /// waits for a rollback to settle. Seconds; default 600.
    #[serde(default = "default_rollout_timeout")]
    pub rollout_timeout_secs: f64,
    /// How often the rollout is checked. Seconds, fractions allowed; default 5.
    #[serde(default = "default_poll")]
    pub poll_secs: f64,
    /// A container of a new pod restarted this many times means the move failed. Default 3.
    #[serde(default = "default_crash_loop_restarts")]
    pub crash_loop_restarts: i32,
}

fn default_rollout_timeout() -> f64 {
    600.0
}

fn default_poll() -> f64 {
    5.0
}

fn default_crash_loop_restarts() -> i32 {
    3
}

impl Default for KubernetesExecutorConfig {
    fn default() -> Self {
        KubernetesExecutorConfig {
            clusters: Vec::new(),
            rollout_timeout_secs: default_rollout_timeout(),
            poll_secs: default_poll(),
            crash_loop_restarts: default_crash_loop_restarts(),
        }
    }
}

/// One cluster and how to reach it: exactly one of `context`, `url`, `in_cluster = true`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeClusterConfig {
    /// The cluster's name in costmill's workload ids (`k8s://NAME/NAMESPACE/WORKLOAD`).
    pub name: String,
    /// A kubeconfig context (credentials and server from the kubeconfig). Default: none.
    #[serde(default)]
    pub context: Option<String>,
    /// The kubeconfig file for `context`. Default: `$KUBECONFIG`, else `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// A plain API URL without credentials (`kubectl proxy`, tests). Default: none.
    #[serde(default)]
    pub url: Option<String>,
    /// The service account costmill runs as (when it runs in this cluster). Default: false.
    #[serde(default)]
    pub in_cluster: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KubernetesSetupError {
    #[error("kubernetes executor: cluster `{0}` is configured twice")]
    DuplicateCluster(String),
    #[error("kubernetes executor: cluster `{cluster}`: {reason}")]
    Target { cluster: String, reason: String },
    #[error("kubernetes executor: {field} = {value} is not a positive number of seconds")]
    Duration { field: &'static str, value: f64 },
    #[error("kubernetes executor: crash_loop_restarts = {0} must be at least 1")]
    CrashLoopRestarts(i32),
    #[error("kubernetes executor: cluster `{cluster}`: url `{url}`: {source}")]
    Url {
        cluster: String,
        url: String,
        source: http::uri::InvalidUri,
    },
    #[error("kubernetes executor: cluster `{cluster}`: kubeconfig: {source}")]
    Kubeconfig {
        cluster: String,
        source: kube::config::KubeconfigError,
    },
    #[error("kubernetes executor: cluster `{cluster}`: in-cluster config: {source}")]
    InCluster {
        cluster: String,
        source: kube::config::InClusterError,
    },
    #[error("kubernetes executor: cluster `{cluster}`: client: {source}")]
    Client {
        cluster: String,
        source: kube::Error,
    },
}

fn seconds(field: &'static str, value: f64) -> Result<Duration, KubernetesSetupError> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(KubernetesSetupError::Duration { field, value }),
    }
}

pub(super) async fn client_for(
    c: &KubeClusterConfig,
) -> Result<kube::Client, KubernetesSetupError> {
    let cluster = || c.name.clone();
    if c.kubeconfig.is_some() && c.context.is_none() {
        return Err(KubernetesSetupError::Target {
            cluster: cluster(),
            reason: "`kubeconfig` needs `context`".into(),
        });
    }
    let chosen = [c.context.is_some(), c.url.is_some(), c.in_cluster];
    let config = match (chosen.iter().filter(|x| **x).count(), &c.context, &c.url) {
        (1, Some(context), _) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let loaded = match &c.kubeconfig {
                Some(path) => match kube::config::Kubeconfig::read_from(path) {
                    Ok(file) => kube::Config::from_custom_kubeconfig(file, &options).await,
                    Err(e) => Err(e),
                },
                None => kube::Config::from_kubeconfig(&options).await,
            };
            loaded.map_err(|source| KubernetesSetupError::Kubeconfig {
                cluster: cluster(),
                source,
            })?
        }
        (1, _, Some(url)) => {
            let uri = url
                .parse::<http::Uri>()
                .map_err(|source| KubernetesSetupError::Url {
                    cluster: cluster(),
                    url: url.clone(),
                    source,
                })?;
            kube::Config::new(uri)
        }
        (1, _, _) => {
            kube::Config::incluster().map_err(|source| KubernetesSetupError::InCluster {
                cluster: cluster(),
                source,
            })?
        }
        _ => {
            return Err(KubernetesSetupError::Target {
                cluster: cluster(),
                reason: "set exactly one of `context`, `url` and `in_cluster = true`".into(),
            })
        }
    };
    kube::Client::try_from(config).map_err(|source| KubernetesSetupError::Client {
        cluster: cluster(),
        source,
    })
}

/// How to watch rollouts, from the config.
pub(super) fn watch(config: &KubernetesExecutorConfig) -> Result<Watch, KubernetesSetupError> {
    Ok(Watch {
        timeout: seconds("rollout_timeout_secs", config.rollout_timeout_secs)?,
        poll: seconds("poll_secs", config.poll_secs)?,
        crash_loop_restarts: match config.crash_loop_restarts {
            n if n >= 1 => n,
            n => return Err(KubernetesSetupError::CrashLoopRestarts(n)),
        },
    })
}
