//! Executors: carry out an approved migration on the real workload, watch it, and undo it.
//!
//! One executor per migration kind (`workload_migrations.kind`), behind [`Executor`]; adding a
//! target means adding one module here. An executor changes only the workload the migration
//! names, and only through [`Executor::apply`] and [`Executor::rollback`]; [`Executor::preview`]
//! reads and changes nothing (the dry run). Policy (dry run by default, approvals, concurrency,
//! allow and deny lists, maintenance windows) and the audit trail are the runner's
//! ([`crate::policy`]), not the executor's.
pub mod kubernetes;
pub mod runner;
pub mod skypilot;
pub mod slurm;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::migration::MigrationRow;

/// What an executor did, or would do in a dry run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Apply: the workload runs where the migration wanted it. Rollback: it is back as it was.
    /// `false` from apply: it did not become healthy in time and the executor put it back
    /// (`spec_after` is then what it tried).
    pub ok: bool,
    /// The live spec read before the change (JSON), as the target reported it: what a rollback
    /// restores.
    pub spec_before: serde_json::Value,
    /// The spec after the change (JSON).
    pub spec_after: serde_json::Value,
    /// The changes sent, in order, as the target received them (patch bodies, commands).
    pub requests: Vec<String>,
    /// One line for people: what happened and why.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The migration names a workload or spec this executor cannot act on.
    #[error("migration {id}: {reason}")]
    Invalid { id: String, reason: String },
    /// The target says no for now or for good (e.g. `costmill.io/spot: never`, a
    /// PodDisruptionBudget that allows no disruption, no pending jobs to move). Nothing changed.
    #[error("migration {id} not applied: {reason}")]
    Refused { id: String, reason: String },
    /// The target could not be reached or answered an error. `changed` tells whether anything
    /// may have been changed before the failure (then roll back).
    #[error("migration {id}: {target} failed: {reason}")]
    Target {
        id: String,
        target: String,
        reason: String,
        changed: bool,
    },
}

/// Carries out migrations of one kind.
pub trait Executor: Send + Sync {
    /// The migration kind handled (`kubernetes`, `slurm`, `skypilot`).
    fn kind(&self) -> &'static str;

    /// Read the live workload and say what [`Executor::apply`] would send; change nothing.
    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>>;

    /// Move the workload and watch it until healthy or the executor's timeout; on timeout put it
    /// back and return `ok: false`.
    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>>;

    /// Put the workload back as `applied` (the outcome of its apply) found it.
    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>>;
}

/// `[migrations]` in costmill.toml: the policy and the executors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationsConfig {
    /// When `costmill serve` runs the executors (cron with seconds, UTC); it runs them only when
    /// an executor is configured. Default: `0 */5 * * * *` (every 5 minutes).
    pub schedule: String,
    /// What may move, when, and how many at once.
    pub policy: crate::policy::MigrationPolicy,
    /// `[migrations.kubernetes]`: the clusters whose workloads may be patched. Default: none.
    pub kubernetes: Option<kubernetes::KubernetesExecutorConfig>,
    /// `[migrations.slurm]`: the clusters whose pending jobs may be moved. Default: none.
    pub slurm: Option<slurm::SlurmExecutorConfig>,
    /// `[migrations.skypilot]`: where cross-cloud SkyPilot tasks are written. Default: none.
    pub skypilot: Option<skypilot::SkyPilotExecutorConfig>,
}

impl Default for MigrationsConfig {
    fn default() -> Self {
        MigrationsConfig {
            schedule: "0 */5 * * * *".into(),
            policy: crate::policy::MigrationPolicy::default(),
            kubernetes: None,
            slurm: None,
            skypilot: None,
        }
    }
}

impl MigrationsConfig {
    /// Any executor configured (else `costmill serve` does not schedule runs).
    pub fn any_executor(&self) -> bool {
        self.kubernetes.is_some() || self.slurm.is_some() || self.skypilot.is_some()
    }

    /// The executors configured, ready to run.
    pub async fn executors(&self) -> Result<runner::Executors, SetupError> {
        let mut executors: Vec<Box<dyn Executor>> = Vec::new();
        if let Some(config) = &self.kubernetes {
            executors.push(Box::new(kubernetes::KubernetesExecutor::new(config).await?));
        }
        if let Some(config) = &self.slurm {
            executors.push(Box::new(slurm::SlurmExecutor::new(config.clone())?));
        }
        if let Some(config) = &self.skypilot {
            executors.push(Box::new(skypilot::SkyPilotExecutor::new(config)));
        }
        Ok(runner::Executors::new(executors))
    }
}

/// An executor could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Kubernetes(#[from] kubernetes::KubernetesSetupError),
    #[error(transparent)]
    Slurm(#[from] ExecError),
}
