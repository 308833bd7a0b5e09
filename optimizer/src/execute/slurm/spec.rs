//! What a Slurm migration names and carries: the executor's settings, the workload id, the spec,
//! the jobs, and the proposal the planner writes.
use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::KIND;
use crate::execute::ExecError;
use crate::migration::Proposal;

const DEFAULT_COMMAND_TIMEOUT_SECS: u64 = 30;

/// The Slurm executor's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmExecutorConfig {
    /// The clusters migrations may name. Default: none (every Slurm migration is invalid).
    #[serde(default)]
    pub clusters: Vec<SlurmClusterConfig>,
    /// How long one `squeue` or `scontrol` may take, in seconds. Default: 30.
    #[serde(default = "default_command_timeout_secs")]
    pub command_timeout_secs: u64,
}

fn default_command_timeout_secs() -> u64 {
    DEFAULT_COMMAND_TIMEOUT_SECS
}

impl Default for SlurmExecutorConfig {
    fn default() -> Self {
        SlurmExecutorConfig {
            clusters: Vec::new(),
            command_timeout_secs: DEFAULT_COMMAND_TIMEOUT_SECS,
        }
    }
}

/// One cluster: how its commands are run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmClusterConfig {
    /// The cluster's name, as in workload ids.
    pub name: String,
    /// Its `slurm.conf`, given to the commands as `SLURM_CONF`. Default: the commands' own
    /// (`SLURM_CONF` of the service, else `/etc/slurm/slurm.conf`).
    #[serde(default)]
    pub slurm_conf: Option<PathBuf>,
    /// The directory of `squeue` and `scontrol`. Default: found on `PATH`.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
}

/// The spec a Slurm migration applies (`spec_after`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// The partition the jobs move to.
    pub partition: String,
    /// Set `Requeue=1` on the moved jobs. Default: true.
    #[serde(default = "yes")]
    pub requeue: bool,
}

fn yes() -> bool {
    true
}

/// A job as listed by `squeue`: what a rollback restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmJob {
    /// `N`, or `N_T` for a task of a job array.
    pub job_id: String,
    pub partition: String,
    pub account: String,
    pub user: String,
    pub requeue: bool,
    /// Not stored in the spec (it is `PENDING` there).
    #[serde(skip)]
    pub state: String,
}

/// `slurm://CLUSTER/PARTITION/ACCOUNT` (`ACCOUNT` `*`: every account).
pub fn workload_id(cluster: &str, partition: &str, account: &str) -> String {
    format!("slurm://{cluster}/{partition}/{account}")
}

/// A proposal to move the pending jobs of `account` (`*`: every account) from one partition of
/// `cluster` to another.
#[allow(clippy::too_many_arguments)]
pub fn proposal(
    cluster: &str,
    from_partition: &str,
    account: &str,
    to_partition: &str,
    requeue: bool,
    saving_month: Decimal,
    currency: &str,
    evidence: serde_json::Value,
    team: &str,
    service: &str,
) -> Proposal {
    let who = if account == "*" {
        "every account".to_string()
    } else {
        format!("account {account}")
    };
    Proposal {
        kind: KIND.into(),
        workload: workload_id(cluster, from_partition, account),
        team: team.into(),
        service: service.into(),
        env: String::new(),
        from_placement: format!("Slurm cluster {cluster}, partition {from_partition} ({who})"),
        to_placement: format!(
            "Slurm cluster {cluster}, partition {to_partition}{}",
            if requeue {
                ", requeued if preempted"
            } else {
                ""
            }
        ),
        spec_before: json!({"partition": from_partition}).to_string(),
        spec_after: json!({"partition": to_partition, "requeue": requeue}).to_string(),
        saving_month,
        currency: currency.into(),
        evidence: evidence.to_string(),
    }
}

/// A partition, account or cluster name that may reach a command line.
pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A job's partition list as squeue reports it (`debug` or `debug,spot`).
pub(super) fn valid_partition_list(s: &str) -> bool {
    s.split(',').all(valid_name)
}

pub(super) fn valid_job_id(s: &str) -> bool {
    let mut parts = s.splitn(2, '_');
    let digits = |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.next().is_none_or(digits)
}

/// The workload of a migration.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Workload {
    pub(super) cluster: String,
    pub(super) partition: String,
    /// None: every account.
    pub(super) account: Option<String>,
}

pub(super) fn parse_workload(id: &str, workload: &str) -> Result<Workload, ExecError> {
    let invalid = |reason: String| ExecError::Invalid {
        id: id.to_string(),
        reason,
    };
    let rest = workload.strip_prefix("slurm://").ok_or_else(|| {
        invalid(format!(
            "workload `{workload}` is not slurm://CLUSTER/PARTITION/ACCOUNT"
        ))
    })?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [cluster, partition, account] = parts[..] else {
        return Err(invalid(format!(
            "workload `{workload}` is not slurm://CLUSTER/PARTITION/ACCOUNT"
        )));
    };
    for (what, name) in [("cluster", cluster), ("partition", partition)] {
        if !valid_name(name) {
            return Err(invalid(format!(
                "{what} `{name}` is not a valid Slurm name"
            )));
        }
    }
    if account != "*" && !valid_name(account) {
        return Err(invalid(format!(
            "account `{account}` is not a valid Slurm name (or `*`)"
        )));
    }
    Ok(Workload {
        cluster: cluster.into(),
        partition: partition.into(),
        account: (account != "*").then(|| account.to_string()),
    })
}
