//! The Kubernetes executor (kind `kubernetes`): moves a Deployment or StatefulSet to the pool a
//! migration names by patching its pod template, watches the rollout, and undoes it.
//!
//! - The migration's `workload` is `k8s://CLUSTER/NAMESPACE/NAME`; its evidence's `workload.kind`
//!   says Deployment or StatefulSet (without it, a Deployment then a StatefulSet of that name).
//! - Its `spec_after` (the planner's `SpotPool::patch`) is the intent: node selector entries and
//!   tolerations to add. The patch sent is built from the live object ([`patch`]): entries
//!   added, tolerations = live ∪ wanted, affinity untouched, and the object's resourceVersion as
//!   a precondition. It is a strategic merge patch.
//! - Refused, with nothing changed: `costmill.io/spot: never` on the workload or its pod
//!   template; a PodDisruptionBudget selecting its pods that allows no disruption now; a paused
//!   Deployment; a StatefulSet that updates `OnDelete`.
//! - Apply watches the rollout (status and new pods, every `poll_secs`): a container of a new
//!   pod in CrashLoopBackOff (or restarted `crash_loop_restarts` times) fails at once; pods still
//!   Pending (e.g. Unschedulable) or not ready after `rollout_timeout_secs` fail then. On failure
//!   the executor puts the prior template back by itself (a JSON merge patch of the selector
//!   entries it added, and the exact prior tolerations and affinity) and returns `ok: false`.
//! - Every request that changes something is in [`Outcome::requests`], as sent:
//!   `PATCH PATH?QUERY`, `Content-Type: …`, a blank line, the body (built by the client's own
//!   request builder, so they are the bytes on the wire).
//!
//! RBAC: `get` deployments and statefulsets, `list` poddisruptionbudgets and pods, `patch`
//! deployments and statefulsets (deploy/optional/optimizer-executor-rbac.yaml).
mod cluster;
mod config;
mod patch;
mod rollout;
mod workload;

use std::collections::BTreeMap;
use std::time::Instant;

use futures::future::BoxFuture;
use kube::api::Patch;
use serde_json::{json, Value};

pub use self::config::{KubeClusterConfig, KubernetesExecutorConfig, KubernetesSetupError};

use self::cluster::{render, Cluster};
use self::patch::{Intent, Placement};
use self::rollout::{Verdict, Watch};
use self::workload::{Live, Target};
use super::{ExecError, Executor, Outcome};
use crate::migration::MigrationRow;

/// A patch refused because the object changed since it was read (409) is rebuilt this often.
const CONFLICT_RETRIES: usize = 3;

/// Moves Kubernetes workloads; see the module docs.
pub struct KubernetesExecutor {
    clients: BTreeMap<String, kube::Client>,
    watch: Watch,
}

impl std::fmt::Debug for KubernetesExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesExecutor")
            .field("clusters", &self.clients.keys().collect::<Vec<_>>())
            .field("watch", &self.watch)
            .finish()
    }
}

impl KubernetesExecutor {
    /// One API client per configured cluster (no request is sent yet).
    pub async fn new(config: &KubernetesExecutorConfig) -> Result<Self, KubernetesSetupError> {
        let watch = config::watch(config)?;
        let mut clients = BTreeMap::new();
        for c in &config.clusters {
            if clients.contains_key(&c.name) {
                return Err(KubernetesSetupError::DuplicateCluster(c.name.clone()));
            }
            clients.insert(c.name.clone(), config::client_for(c).await?);
        }
        Ok(KubernetesExecutor { clients, watch })
    }

    fn cluster<'a>(
        &'a self,
        m: &'a MigrationRow,
        target: &'a Target,
    ) -> Result<Cluster<'a>, ExecError> {
        let client = self
            .clients
            .get(&target.cluster)
            .ok_or_else(|| ExecError::Invalid {
                id: m.id.clone(),
                reason: format!(
                    "cluster `{}` is not in the kubernetes executor's config (configured: {})",
                    target.cluster,
                    self.clients.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
        Ok(Cluster {
            id: &m.id,
            name: &target.cluster,
            client: client.clone(),
        })
    }

    /// Read the workload and decide what to send; refuse what must not be moved.
    async fn plan(
        &self,
        m: &MigrationRow,
        cluster: &Cluster<'_>,
        target: &Target,
    ) -> Result<Plan, ExecError> {
        let intent = patch::parse_intent(&m.spec_after).map_err(|reason| ExecError::Invalid {
            id: m.id.clone(),
            reason,
        })?;
        let live = cluster.find(target).await?;
        let refuse = |reason: String| ExecError::Refused {
            id: m.id.clone(),
            reason,
        };
        if let Some(on) = live.never_spot() {
            return Err(refuse(format!(
                "{} carries the annotation `costmill.io/spot: never` (on {on}); remove it to allow moving it",
                live.label()
            )));
        }
        if live.paused {
            return Err(refuse(format!(
                "{} is paused: a template change would not roll out",
                live.label()
            )));
        }
        if live.on_delete {
            return Err(refuse(format!(
                "{} updates OnDelete: its pods would not be replaced",
                live.label()
            )));
        }
        let mut budgets = Vec::new();
        for pdb in cluster.budgets(&live).await? {
            let name = pdb.metadata.name.clone().unwrap_or_default();
            match &pdb.status {
                Some(s) if s.disruptions_allowed > 0 => {
                    budgets.push(format!("{name} allows {}", s.disruptions_allowed))
                }
                Some(s) => {
                    return Err(refuse(format!(
                        "PodDisruptionBudget {}/{name} allows no disruption now (disruptionsAllowed 0, \
                         {} healthy of {} desired): moving the pods of {} would break it; try again when it allows one",
                        live.namespace,
                        s.current_healthy,
                        s.desired_healthy,
                        live.label()
                    )))
                }
                None => {
                    return Err(refuse(format!(
                        "PodDisruptionBudget {}/{name} has no status yet: whether it allows a disruption is unknown",
                        live.namespace
                    )))
                }
            }
        }
        Ok(Plan {
            after: live.placement.with(&intent),
            intent,
            live,
            budgets,
        })
    }

    async fn run(&self, m: &MigrationRow, apply: bool) -> Result<Outcome, ExecError> {
        let target = Target::parse(m)?;
        let cluster = self.cluster(m, &target)?;
        let mut plan = self.plan(m, &cluster, &target).await?;
        let mut attempt = 0;
        loop {
            let before = snapshot(&plan.live, &plan.live.placement);
            if plan.live.placement.satisfies(&plan.intent) {
                return Ok(Outcome {
                    ok: true,
                    spec_before: before.clone(),
                    spec_after: before,
                    requests: Vec::new(),
                    message: format!(
                        "{} in cluster `{}` already runs where the migration wants it: nothing to change",
                        plan.live.label(),
                        target.cluster
                    ),
                });
            }
            let body = patch::forward_patch(
                &plan.live.placement,
                &plan.after,
                plan.live.resource_version.as_deref(),
            );
            let forward = Patch::Strategic(body);
            let request = render(&plan.live, &forward);
            let change = patch::describe(&plan.live.placement, &plan.after);
            if !apply {
                let mut spec_after = snapshot(&plan.live, &plan.after);
                spec_after["metadata"] = json!({"generation": null, "resourceVersion": null});
                let budgets = match plan.budgets.is_empty() {
                    true => String::new(),
                    false => format!("; PodDisruptionBudget {}", plan.budgets.join(", ")),
                };
                return Ok(Outcome {
                    ok: true,
                    spec_before: before,
                    spec_after,
                    requests: vec![request],
                    message: format!(
                        "would patch {} in cluster `{}`: {change}{budgets}",
                        plan.live.label(),
                        target.cluster
                    ),
                });
            }
            tracing::info!(migration = %m.id, workload = %plan.live.label(), cluster = %target.cluster, "patching the pod template: {change}");
            match cluster.patch(&plan.live, &forward).await {
                Ok(patched) => return self.watch_apply(m, &cluster, plan, patched, request).await,
                Err(kube::Error::Api(status))
                    if status.code == 409 && attempt + 1 < CONFLICT_RETRIES =>
                {
                    attempt += 1;
                    tracing::info!(migration = %m.id, workload = %plan.live.label(), "changed since read ({}); reading it again", status.message);
                    plan = self.plan(m, &cluster, &target).await?;
                }
                Err(e) => {
                    // The API refused the patch (4xx): nothing changed. Otherwise it may have.
                    let changed = !matches!(&e, kube::Error::Api(s) if s.code < 500);
                    return Err(cluster.error(&Cluster::patch_op(&plan.live), e, changed));
                }
            }
        }
    }

    /// After the patch: watch the rollout; put the workload back if it fails.
    async fn watch_apply(
        &self,
        m: &MigrationRow,
        cluster: &Cluster<'_>,
        plan: Plan,
        patched: Live,
        request: String,
    ) -> Result<Outcome, ExecError> {
        let started = Instant::now();
        let before = snapshot(&plan.live, &plan.live.placement);
        let change = patch::describe(&plan.live.placement, &plan.after);
        let spec_after = snapshot(&patched, &plan.after);
        let generation = patched.generation.unwrap_or(0);
        let verdict = rollout::watch(
            cluster,
            &patched,
            generation,
            Some(&plan.intent),
            self.watch,
        )
        .await?;
        let why = match verdict {
            Verdict::Healthy(summary) => {
                return Ok(Outcome {
                    ok: true,
                    spec_before: before,
                    spec_after,
                    requests: vec![request],
                    message: format!(
                        "{} in cluster `{}` moved ({change}): {summary} at generation {generation} after {:.1?}",
                        patched.label(),
                        cluster.name,
                        started.elapsed()
                    ),
                })
            }
            Verdict::Failed(why) | Verdict::TimedOut(why) => why,
        };
        tracing::warn!(migration = %m.id, workload = %patched.label(), "the move failed, rolling back: {why}");
        let (restore, _, settled) = self
            .restore(cluster, &patched, &plan.live.placement, &plan.after)
            .await
            .map_err(|e| match e {
                ExecError::Target {
                    id, target, reason, ..
                } => ExecError::Target {
                    id,
                    target,
                    reason: format!("the move failed ({why}) and so did the rollback: {reason}"),
                    changed: true,
                },
                other => other,
            })?;
        Ok(Outcome {
            ok: false,
            spec_before: before,
            spec_after,
            requests: vec![request, restore],
            message: format!(
                "{} in cluster `{}` did not become healthy: {why}; put back to its prior template: {settled}",
                patched.label(),
                cluster.name
            ),
        })
    }

    /// Undo the move `before` → `after` on the live object (three-way: what people changed
    /// since stays; see [`patch::restored`]) and watch it settle. Returns the request as sent,
    /// whether it settled, and how it ended, for people.
    async fn restore(
        &self,
        cluster: &Cluster<'_>,
        live: &Live,
        before: &Placement,
        after: &Placement,
    ) -> Result<(String, bool, String), ExecError> {
        // Read it fresh (the controller bumps the resourceVersion as it updates the status),
        // and again when the API says it changed in between (409).
        let mut attempt = 0;
        let (request, restored) = loop {
            let current = cluster.reread(live, true).await?;
            let target = patch::restored(before, after, &current.placement);
            let restore = Patch::Merge(patch::restore_patch(
                &current.placement,
                &target,
                current.resource_version.as_deref(),
            ));
            let request = render(&current, &restore);
            tracing::info!(workload = %current.label(), "undoing the migration's changes to the pod template");
            match cluster.patch(&current, &restore).await {
                Ok(restored) => break (request, restored),
                Err(kube::Error::Api(status))
                    if status.code == 409 && attempt + 1 < CONFLICT_RETRIES =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(cluster.error(&Cluster::patch_op(&current), e, true)),
            }
        };
        let generation = restored.generation.unwrap_or(0);
        Ok(
            match rollout::watch(cluster, &restored, generation, None, self.watch).await? {
                Verdict::Healthy(summary) => (
                    request,
                    true,
                    format!("{summary} at generation {generation}"),
                ),
                Verdict::Failed(why) | Verdict::TimedOut(why) => (
                    request,
                    false,
                    format!("restored at generation {generation} but not settled: {why}"),
                ),
            },
        )
    }

    async fn run_rollback(
        &self,
        m: &MigrationRow,
        applied: &Outcome,
    ) -> Result<Outcome, ExecError> {
        let target = Target::parse(m)?;
        let cluster = self.cluster(m, &target)?;
        let invalid = |reason: String| ExecError::Invalid {
            id: m.id.clone(),
            reason,
        };
        let template = |v: &Value, which: &str| {
            Placement::from_json(&v["template"]).map_err(|e| {
                invalid(format!(
                    "the applied outcome's {which} is not a pod-template snapshot: {e}"
                ))
            })
        };
        let live = cluster.find(&target).await?;
        let now = snapshot(&live, &live.placement);
        if applied.requests.is_empty() {
            return Ok(Outcome {
                ok: true,
                spec_before: now.clone(),
                spec_after: now,
                requests: Vec::new(),
                message: format!(
                    "{}: the apply changed nothing, so there is nothing to put back",
                    live.label()
                ),
            });
        }
        let before = template(&applied.spec_before, "spec_before")?;
        let after = template(&applied.spec_after, "spec_after")?;
        if live.placement == before {
            return Ok(Outcome {
                ok: true,
                spec_before: now.clone(),
                spec_after: now,
                requests: Vec::new(),
                message: format!(
                    "{} already has its template from before the migration",
                    live.label()
                ),
            });
        }
        if live.placement != after {
            tracing::info!(migration = %m.id, workload = %live.label(), "the pod template changed since the migration applied; undoing only the migration's own changes");
        }
        let expected = patch::restored(&before, &after, &live.placement);
        let started = Instant::now();
        let (request, settled_ok, settled) = self.restore(&cluster, &live, &before, &after).await?;
        let restored = cluster.reread(&live, true).await?;
        let ok = settled_ok && restored.placement == expected;
        Ok(Outcome {
            ok,
            spec_before: now,
            spec_after: snapshot(&restored, &restored.placement),
            requests: vec![request],
            message: format!(
                "{} in cluster `{}` put back to its template from before the migration: {settled} after {:.1?}",
                live.label(),
                target.cluster,
                started.elapsed()
            ),
        })
    }
}

/// What [`KubernetesExecutor::plan`] decided.
struct Plan {
    intent: Intent,
    live: Live,
    after: Placement,
    /// `NAME allows N` for each PodDisruptionBudget selecting the pods.
    budgets: Vec<String>,
}

/// The recorded spec: which object, at which generation, and its pod template's placement.
fn snapshot(live: &Live, placement: &Placement) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": live.kind.as_str(),
        "namespace": live.namespace,
        "name": live.name,
        "metadata": {"generation": live.generation, "resourceVersion": live.resource_version},
        "template": placement.to_json(),
    })
}

impl Executor for KubernetesExecutor {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(self.run(m, false))
    }

    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(self.run(m, true))
    }

    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(self.run_rollback(m, applied))
    }
}
