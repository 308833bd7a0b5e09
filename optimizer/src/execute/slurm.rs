//! The Slurm executor (kind `slurm`): moves the pending jobs of one account from one partition
//! of a cluster to another (the spot partition), and back.
//!
//! - Workload id: `slurm://CLUSTER/PARTITION/ACCOUNT` ([`workload_id`]); ACCOUNT `*` means every
//!   account. CLUSTER names an entry of [`SlurmExecutorConfig::clusters`].
//! - `spec_after`: `{"partition": "spot", "requeue": true}` (`requeue` defaults to true): with
//!   it each moved job gets `Requeue=1`, so a job preempted on spot is requeued, not lost.
//! - Only pending jobs move (Slurm changes the partition of pending jobs only). The target
//!   partition must exist (else invalid) and be `UP` (else refused). The jobs are listed with
//!   `squeue` (fixed fields, `|`-separated; array tasks one by one, `N_T`) and moved one by one
//!   with `scontrol update JobId=N Partition=P [Requeue=1]`, then checked with `squeue`. A job
//!   that starts running meanwhile is skipped and reported; no pending job at all is a refusal.
//! - Rollback moves the jobs of the apply's `spec_before` that are pending in the target
//!   partition back to the partition (and requeue setting) the apply found them with. Jobs that
//!   run there cannot move: they are reported and the rollback is not `ok` (a later one may move
//!   them if they are requeued); finished jobs, and jobs someone moved elsewhere since, are
//!   reported and left alone.
//! - Commands run without a shell, with a timeout; every name and job id that reaches a command
//!   line is validated first.
mod cli;
mod spec;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;

use super::{ExecError, Executor, Outcome};
use crate::migration::MigrationRow;
use cli::Cluster;
use spec::{parse_workload, valid_job_id, valid_name, valid_partition_list, Workload};
pub use spec::{
    proposal, workload_id, SlurmClusterConfig, SlurmExecutorConfig, SlurmJob, SlurmSpec,
};

/// The migration kind.
pub const KIND: &str = "slurm";
/// Job states after which a job never runs again.
const FINISHED: [&str; 10] = [
    "COMPLETED",
    "COMPLETING",
    "CANCELLED",
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
];

/// Carries out Slurm migrations on the configured clusters.
pub struct SlurmExecutor {
    config: SlurmExecutorConfig,
}

impl SlurmExecutor {
    /// Checks the configuration: cluster names valid and unique, a timeout above zero.
    pub fn new(config: SlurmExecutorConfig) -> Result<SlurmExecutor, ExecError> {
        let invalid = |reason: String| ExecError::Invalid {
            id: "[migrations.slurm]".into(),
            reason,
        };
        if config.command_timeout_secs == 0 {
            return Err(invalid("command_timeout_secs must be above 0".into()));
        }
        for (i, cluster) in config.clusters.iter().enumerate() {
            if !valid_name(&cluster.name) {
                return Err(invalid(format!(
                    "cluster name `{}` is not a valid Slurm name",
                    cluster.name
                )));
            }
            if config.clusters[..i].iter().any(|c| c.name == cluster.name) {
                return Err(invalid(format!(
                    "cluster `{}` is listed twice",
                    cluster.name
                )));
            }
        }
        Ok(SlurmExecutor { config })
    }

    /// The migration's workload, target spec and cluster.
    fn target<'a>(
        &'a self,
        m: &'a MigrationRow,
    ) -> Result<(Workload, SlurmSpec, Cluster<'a>), ExecError> {
        let invalid = |reason: String| ExecError::Invalid {
            id: m.id.clone(),
            reason,
        };
        if m.kind != KIND {
            return Err(invalid(format!(
                "kind `{}` is not handled by the Slurm executor",
                m.kind
            )));
        }
        let workload = parse_workload(&m.id, &m.workload)?;
        let spec: SlurmSpec = serde_json::from_str(&m.spec_after).map_err(|e| {
            invalid(format!(
                "spec_after is not {{\"partition\": P, \"requeue\": B}}: {e}"
            ))
        })?;
        if !valid_name(&spec.partition) {
            return Err(invalid(format!(
                "partition `{}` is not a valid Slurm name",
                spec.partition
            )));
        }
        if spec.partition == workload.partition {
            return Err(invalid(format!(
                "the jobs are in partition `{}` already",
                spec.partition
            )));
        }
        let config = self
            .config
            .clusters
            .iter()
            .find(|c| c.name == workload.cluster)
            .ok_or_else(|| {
                invalid(format!(
                    "no Slurm cluster `{}` is configured for the executor",
                    workload.cluster
                ))
            })?;
        let cluster = Cluster {
            config,
            id: &m.id,
            timeout: Duration::from_secs(self.config.command_timeout_secs),
        };
        Ok((workload, spec, cluster))
    }

    /// The pending jobs to move, and the commands that move them.
    async fn plan<'a>(
        &'a self,
        m: &'a MigrationRow,
    ) -> Result<(SlurmSpec, Cluster<'a>, Vec<SlurmJob>, Vec<Vec<String>>), ExecError> {
        let (workload, spec, cluster) = self.target(m)?;
        match cluster.partition_state(&spec.partition).await?.as_deref() {
            None => {
                return Err(ExecError::Invalid {
                    id: m.id.clone(),
                    reason: format!(
                        "cluster `{}` has no partition `{}`",
                        workload.cluster, spec.partition
                    ),
                })
            }
            Some("UP") => {}
            Some(state) => {
                return Err(ExecError::Refused {
                    id: m.id.clone(),
                    reason: format!("partition `{}` is {state}", spec.partition),
                })
            }
        }
        let jobs = cluster.pending(&workload).await?;
        if jobs.is_empty() {
            return Err(ExecError::Refused {
                id: m.id.clone(),
                reason: format!("nothing to move: no pending job in {}", m.workload),
            });
        }
        let requeue = spec.requeue.then_some(true);
        let updates = jobs
            .iter()
            .map(|j| update_args(&j.job_id, &spec.partition, requeue))
            .collect();
        Ok((spec, cluster, jobs, updates))
    }
}

fn update_args(job_id: &str, partition: &str, requeue: Option<bool>) -> Vec<String> {
    let mut args = vec![
        "update".to_string(),
        format!("JobId={job_id}"),
        format!("Partition={partition}"),
    ];
    if let Some(r) = requeue {
        args.push(format!("Requeue={}", u8::from(r)));
    }
    args
}

fn command_line(args: &[String]) -> String {
    format!("scontrol {}", args.join(" "))
}

fn ids(jobs: &[SlurmJob]) -> Vec<String> {
    jobs.iter().map(|j| j.job_id.clone()).collect()
}

impl Executor for SlurmExecutor {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        async move {
            let (spec, _, jobs, updates) = self.plan(m).await?;
            Ok(Outcome {
                ok: true,
                spec_before: json!({ "jobs": jobs }),
                spec_after: json!({
                    "partition": spec.partition,
                    "requeue": spec.requeue,
                    "jobs": ids(&jobs),
                }),
                requests: updates.iter().map(|a| command_line(a)).collect(),
                message: format!(
                    "would move {} pending job(s) of {} to partition {}",
                    jobs.len(),
                    m.workload,
                    spec.partition
                ),
            })
        }
        .boxed()
    }

    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        async move {
            let (spec, cluster, jobs, updates) = self.plan(m).await?;
            let mut requests = Vec::new();
            let mut updated: Vec<&SlurmJob> = Vec::new();
            let mut skipped: Vec<(String, String)> = Vec::new();
            for (job, args) in jobs.iter().zip(&updates) {
                requests.push(command_line(args));
                if let Err(e) = cluster.run("scontrol", args).await {
                    // Started (or ended) since it was listed: not movable, not an error.
                    let now = cluster.states(std::slice::from_ref(&job.job_id)).await.ok();
                    match now.as_ref().map(|s| s.get(&job.job_id)) {
                        Some(Some(s)) if s.state != "PENDING" => {
                            skipped.push((job.job_id.clone(), s.state.clone()));
                            continue;
                        }
                        Some(None) => {
                            skipped.push((job.job_id.clone(), "gone".into()));
                            continue;
                        }
                        _ => {}
                    }
                    let moved: Vec<&str> = updated.iter().map(|j| j.job_id.as_str()).collect();
                    return Err(e.into_exec(&cluster, !moved.is_empty(), &moved));
                }
                updated.push(job);
            }
            let updated_ids: Vec<String> = updated.iter().map(|j| j.job_id.clone()).collect();
            let now = cluster
                .states(&updated_ids)
                .await
                .map_err(|e| e.into_exec(&cluster, !updated.is_empty(), &[]))?;
            let mut moved = Vec::new();
            for job in &updated {
                match now.get(&job.job_id) {
                    // Moved and already gone (it ran and ended): scontrol said it moved.
                    None => moved.push(job.job_id.clone()),
                    Some(s) if s.partition == spec.partition && (s.requeue || !spec.requeue) => {
                        moved.push(job.job_id.clone())
                    }
                    Some(s) if s.state != "PENDING" && s.partition == job.partition => {
                        skipped.push((job.job_id.clone(), s.state.clone()))
                    }
                    Some(s) => {
                        return Err(ExecError::Target {
                            id: m.id.clone(),
                            target: cluster.name("squeue"),
                            reason: format!(
                                "job {} is {} in partition {} with Requeue={} after the update; \
                                 moved: {}",
                                job.job_id,
                                s.state,
                                s.partition,
                                u8::from(s.requeue),
                                moved.join(", ")
                            ),
                            changed: true,
                        })
                    }
                }
            }
            if moved.is_empty() {
                return Err(ExecError::Refused {
                    id: m.id.clone(),
                    reason: format!(
                        "nothing moved: every pending job of {} started first ({})",
                        m.workload,
                        describe(&skipped)
                    ),
                });
            }
            let mut message = format!(
                "moved {} pending job(s) of {} to partition {}: {}",
                moved.len(),
                m.workload,
                spec.partition,
                moved.join(", ")
            );
            if !skipped.is_empty() {
                message.push_str(&format!(
                    "; skipped (no longer pending): {}",
                    describe(&skipped)
                ));
            }
            tracing::info!(migration = %m.id, %message, "slurm migration applied");
            Ok(Outcome {
                ok: true,
                spec_before: json!({ "jobs": jobs }),
                spec_after: json!({
                    "partition": spec.partition,
                    "requeue": spec.requeue,
                    "jobs": moved,
                    "skipped": skipped_json(&skipped),
                }),
                requests,
                message,
            })
        }
        .boxed()
    }

    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        async move {
            let (_, spec, cluster) = self.target(m)?;
            let jobs = applied_jobs(m, applied)?;
            let now = cluster
                .states(&ids(&jobs))
                .await
                .map_err(|e| e.into_exec(&cluster, false, &[]))?;
            let mut requests = Vec::new();
            let mut restored: Vec<String> = Vec::new();
            let mut in_place = Vec::new();
            let mut finished: Vec<(String, String)> = Vec::new();
            let mut running: Vec<(String, String)> = Vec::new();
            let mut elsewhere: Vec<(String, String)> = Vec::new();
            for job in &jobs {
                let Some(s) = now.get(&job.job_id) else {
                    finished.push((job.job_id.clone(), "gone".into()));
                    continue;
                };
                let home = s.partition == job.partition;
                if s.state != "PENDING" {
                    if home {
                        in_place.push(job.job_id.clone());
                    } else if FINISHED.contains(&s.state.as_str()) {
                        finished.push((job.job_id.clone(), s.state.clone()));
                    } else {
                        running.push((
                            job.job_id.clone(),
                            format!("{} in {}", s.state, s.partition),
                        ));
                    }
                    continue;
                }
                if home && s.requeue == job.requeue {
                    in_place.push(job.job_id.clone());
                    continue;
                }
                if !home && s.partition != spec.partition {
                    // Moved again since, by someone else: theirs to undo.
                    elsewhere.push((job.job_id.clone(), format!("pending in {}", s.partition)));
                    continue;
                }
                let args = update_args(&job.job_id, &job.partition, Some(job.requeue));
                requests.push(command_line(&args));
                if let Err(e) = cluster.run("scontrol", &args).await {
                    let moved: Vec<&str> = restored.iter().map(String::as_str).collect();
                    return Err(e.into_exec(&cluster, !restored.is_empty(), &moved));
                }
                restored.push(job.job_id.clone());
            }
            let after = cluster
                .states(&restored)
                .await
                .map_err(|e| e.into_exec(&cluster, !restored.is_empty(), &[]))?;
            for job in jobs.iter().filter(|j| restored.contains(&j.job_id)) {
                if let Some(s) = after.get(&job.job_id) {
                    if s.partition != job.partition {
                        running.push((
                            job.job_id.clone(),
                            format!("{} in {}", s.state, s.partition),
                        ));
                    }
                }
            }
            let ok = running.is_empty();
            let mut message = format!(
                "moved {} job(s) of {} back: {}",
                restored.len(),
                m.workload,
                restored.join(", ")
            );
            if !in_place.is_empty() {
                message.push_str(&format!("; already in place: {}", in_place.join(", ")));
            }
            if !running.is_empty() {
                message.push_str(&format!(
                    "; not movable (Slurm moves pending jobs only): {}",
                    describe(&running)
                ));
            }
            if !elsewhere.is_empty() {
                message.push_str(&format!(
                    "; left alone (moved elsewhere since): {}",
                    describe(&elsewhere)
                ));
            }
            if !finished.is_empty() {
                message.push_str(&format!("; finished: {}", describe(&finished)));
            }
            tracing::info!(migration = %m.id, ok, %message, "slurm migration rolled back");
            let before: Vec<serde_json::Value> = jobs
                .iter()
                .map(|j| match now.get(&j.job_id) {
                    Some(s) => json!({
                        "job_id": j.job_id,
                        "partition": s.partition,
                        "state": s.state,
                        "requeue": s.requeue,
                    }),
                    None => json!({"job_id": j.job_id, "state": "gone"}),
                })
                .collect();
            Ok(Outcome {
                ok,
                spec_before: json!({ "jobs": before }),
                spec_after: json!({
                    "jobs": restored,
                    "in_place": in_place,
                    "not_movable": skipped_json(&running),
                    "finished": skipped_json(&finished),
                    "elsewhere": skipped_json(&elsewhere),
                }),
                requests,
                message,
            })
        }
        .boxed()
    }
}

/// The jobs an apply found (its `spec_before`), validated.
fn applied_jobs(m: &MigrationRow, applied: &Outcome) -> Result<Vec<SlurmJob>, ExecError> {
    let invalid = |reason: String| ExecError::Invalid {
        id: m.id.clone(),
        reason,
    };
    let jobs: Vec<SlurmJob> = applied
        .spec_before
        .get("jobs")
        .cloned()
        .ok_or_else(|| invalid("the applied spec lists no `jobs`".into()))
        .and_then(|v| {
            serde_json::from_value(v)
                .map_err(|e| invalid(format!("the applied spec's jobs do not parse: {e}")))
        })?;
    for job in &jobs {
        if !valid_job_id(&job.job_id) || !valid_partition_list(&job.partition) {
            return Err(invalid(format!(
                "the applied spec holds job `{}` in partition `{}`: not valid Slurm names",
                job.job_id, job.partition
            )));
        }
    }
    Ok(jobs)
}

fn describe(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(id, why)| format!("{id} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn skipped_json(items: &[(String, String)]) -> serde_json::Value {
    items
        .iter()
        .map(|(id, state)| json!({"job_id": id, "state": state}))
        .collect()
}
