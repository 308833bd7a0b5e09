//! The executor run (`costmill migrations execute`, and `costmill serve` on its schedule): the
//! migrations people approved (or the policy approves) are applied within the policy, the
//! rollbacks people asked for are carried out, and every action lands in the audit trail.
//!
//! - Dry run (the default): each executor previews what it would send; nothing changes and
//!   nothing is recorded.
//! - One run at a time (lease `migrations/executor`); at most `max_concurrent` moves roll out at
//!   once within it. Rollbacks go first, one by one, and are not held back by the policy's lists
//!   or windows.
//! - After a change the event is recorded with retries; a change the store never hears of is
//!   logged as an error naming the migration, for a person to reconcile.
use std::time::Duration;

use chrono::{DateTime, Utc};
use queries::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{ExecError, Executor, Outcome};
use crate::migration::{self, Action, EventRow, Filter, MigrationError, MigrationRow, Status};
use crate::policy::Policy;

/// The lease of an executor run.
pub const RUN_LEASE: &str = "migrations/executor";
/// The actor of what the executor records.
pub const EXECUTOR_ACTOR: &str = "executor";
/// The actor of approvals the policy gives (`auto_approve`).
pub const POLICY_ACTOR: &str = "policy";

/// The executors configured, one per migration kind.
#[derive(Default)]
pub struct Executors(Vec<Box<dyn Executor>>);

impl Executors {
    pub fn new(executors: Vec<Box<dyn Executor>>) -> Executors {
        Executors(executors)
    }

    pub fn get(&self, kind: &str) -> Option<&dyn Executor> {
        self.0.iter().find(|e| e.kind() == kind).map(|e| e.as_ref())
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.kind()).collect()
    }
}

/// What one run is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Preview only (the policy's `dry_run`, unless overridden).
    pub dry_run: bool,
    /// Only this migration.
    pub only: Option<String>,
    /// The time the policy's maintenance windows are checked against.
    pub now: DateTime<Utc>,
}

/// What happened to one migration in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunItem {
    pub id: String,
    pub kind: String,
    pub workload: String,
    /// `apply` or `rollback`.
    pub step: &'static str,
    /// `would apply`, `would roll back`, `applied`, `rolled back`, `failed, rolled back`,
    /// `failed`, `waiting` (policy or target said not now), `error`.
    pub result: &'static str,
    pub message: String,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("another executor run is under way ({0}); try again when it ends")]
    Busy(String),
    #[error(transparent)]
    Migration(#[from] MigrationError),
}

/// One executor run. Returns what happened to each migration considered, rollbacks first.
pub async fn run(
    store: &Store,
    executors: &Executors,
    policy: &Policy,
    options: &RunOptions,
) -> Result<Vec<RunItem>, RunError> {
    let lease = if options.dry_run {
        None
    } else {
        let owner = format!("executor-{}", queries::commit::new_batch_id());
        let info = queries::lease::process_info("migrations executor run");
        match store
            .acquire_lease(
                RUN_LEASE,
                &owner,
                &info,
                queries::lease::DEFAULT_TTL,
                Duration::ZERO,
                &CancellationToken::new(),
            )
            .await
        {
            Ok(lease) => Some(lease),
            Err(queries::StoreError::LeaseHeld { holder, .. }) => {
                return Err(RunError::Busy(holder))
            }
            Err(e) => return Err(MigrationError::Store(e).into()),
        }
    };
    let never = CancellationToken::new();
    let lost = lease.as_ref().map_or(&never, |l| l.lost());
    let result = run_held(store, executors, policy, options, lost).await;
    if let Some(lease) = lease {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "could not release the executor lease; it expires by itself");
        }
    }
    result
}

async fn run_held(
    store: &Store,
    executors: &Executors,
    policy: &Policy,
    options: &RunOptions,
    lost: &CancellationToken,
) -> Result<Vec<RunItem>, RunError> {
    let mut statuses = vec![Status::RollbackRequested, Status::Approved];
    if policy.auto_approve {
        statuses.push(Status::Proposed);
    }
    let mut todo = migration::list(
        store,
        &Filter {
            id: options.only.clone(),
            statuses,
            ..Filter::default()
        },
    )
    .await?;
    // Oldest first: the first approved is the first moved.
    todo.reverse();
    let (rollbacks, moves): (Vec<_>, Vec<_>) = todo
        .into_iter()
        .partition(|m| m.status == Status::RollbackRequested.as_str());

    // One migration's failure (the store down while recording, say) is its item: the others
    // still run, and what did change is reported.
    let as_item = |m: &MigrationRow, step: &'static str, result: Result<RunItem, RunError>| {
        result.unwrap_or_else(|e| item(m, step, "error", e.to_string(), None))
    };
    let lease_lost = |m: &MigrationRow, step| {
        item(
            m,
            step,
            "error",
            "the executor's lease was lost (another run may have taken over): not started".into(),
            None,
        )
    };
    let mut items = Vec::new();
    for m in &rollbacks {
        if lost.is_cancelled() {
            items.push(lease_lost(m, "rollback"));
            continue;
        }
        let result = roll_back(store, executors, m, options.dry_run).await;
        items.push(as_item(m, "rollback", result));
    }
    let mut ready = Vec::new();
    for m in moves {
        match policy.refuses(&m, options.now) {
            Some(reason) => items.push(item(&m, "apply", "waiting", reason, None)),
            None => ready.push(m),
        }
    }
    // At most max_concurrent moves at once. (A semaphore over join_all rather than
    // buffer_unordered, whose borrowing closure makes the run's future not Send.)
    let gate = tokio::sync::Semaphore::new(policy.max_concurrent);
    let applied = futures::future::join_all(ready.iter().map(|m| {
        let gate = &gate;
        async move {
            let _turn = gate.acquire().await;
            if lost.is_cancelled() {
                return lease_lost(m, "apply");
            }
            as_item(
                m,
                "apply",
                apply(store, executors, m, options.dry_run).await,
            )
        }
    }))
    .await;
    items.extend(applied);
    Ok(items)
}

fn item(
    m: &MigrationRow,
    step: &'static str,
    result: &'static str,
    message: String,
    outcome: Option<Outcome>,
) -> RunItem {
    RunItem {
        id: m.id.clone(),
        kind: m.kind.clone(),
        workload: m.workload.clone(),
        step,
        result,
        message,
        outcome,
    }
}

fn executor_for<'a>(
    executors: &'a Executors,
    m: &MigrationRow,
) -> Result<&'a dyn Executor, String> {
    executors.get(&m.kind).ok_or_else(|| {
        format!(
            "no executor for `{}` migrations is configured (add [migrations.{}] to costmill.toml; configured: {})",
            m.kind,
            m.kind,
            match executors.kinds() {
                k if k.is_empty() => "none".to_string(),
                k => k.join(", "),
            }
        )
    })
}

async fn apply(
    store: &Store,
    executors: &Executors,
    m: &MigrationRow,
    dry_run: bool,
) -> Result<RunItem, RunError> {
    let executor = match executor_for(executors, m) {
        Ok(e) => e,
        Err(message) => return Ok(item(m, "apply", "error", message, None)),
    };
    if dry_run {
        return Ok(match executor.preview(m).await {
            Ok(o) => item(m, "apply", "would apply", o.message.clone(), Some(o)),
            Err(ExecError::Refused { reason, .. }) => item(m, "apply", "waiting", reason, None),
            Err(e) => item(m, "apply", "error", e.to_string(), None),
        });
    }
    // What the workload is now, before anything changes: if the apply fails half way, the
    // failure record carries it, and a rollback restores it.
    let before = match executor.preview(m).await {
        Ok(o) => o,
        Err(ExecError::Refused { reason, .. }) => {
            return Ok(item(m, "apply", "waiting", reason, None))
        }
        Err(e) => return Ok(item(m, "apply", "error", e.to_string(), None)),
    };
    // A person may have rejected it while it waited for its turn.
    let now = migration::get(store, &m.id).await?;
    if now.status != m.status {
        return Ok(item(
            m,
            "apply",
            "waiting",
            format!("it became {} before its turn: not applied", now.status),
            None,
        ));
    }
    if m.status == Status::Proposed.as_str() {
        migration::act(
            store,
            &m.id,
            Action::Approve,
            POLICY_ACTOR,
            &serde_json::json!({"reason": "within the migration policy (auto_approve)"})
                .to_string(),
        )
        .await?;
    }
    Ok(match executor.apply(m).await {
        Ok(o) if o.ok => match record(store, m, Action::Applied, &detail_outcome(&o)).await {
            Ok(()) => item(m, "apply", "applied", o.message.clone(), Some(o)),
            // Rejected while it rolled out: the decision stands, the workload goes back.
            Err(RunError::Migration(MigrationError::InvalidTransition { status, .. })) => {
                let back = executor.rollback(m, &o).await;
                let restored = matches!(&back, Ok(b) if b.ok);
                let message = match &back {
                    Ok(b) if b.ok => format!("it became {status} while being applied: put back"),
                    Ok(b) => format!(
                        "it became {status} while being applied; putting it back failed: {}",
                        b.message
                    ),
                    Err(e) => format!(
                        "it became {status} while being applied; putting it back failed: {e}"
                    ),
                };
                tracing::warn!(migration = %m.id, "{message}");
                let result = if restored { "rolled back" } else { "error" };
                item(m, "apply", result, message, back.ok())
            }
            Err(e) => return Err(e),
        },
        Ok(o) => {
            record(store, m, Action::Failed, &detail_outcome(&o)).await?;
            let restored = serde_json::json!({
                "reason": "put back at once by the executor",
                "restored": o.spec_before,
            });
            record(store, m, Action::RolledBack, &restored.to_string()).await?;
            item(
                m,
                "apply",
                "failed, rolled back",
                o.message.clone(),
                Some(o),
            )
        }
        Err(ExecError::Refused { reason, .. }) => item(m, "apply", "waiting", reason, None),
        Err(e @ ExecError::Target { changed: true, .. }) => {
            let tried = Outcome {
                ok: false,
                message: e.to_string(),
                ..before
            };
            let detail =
                serde_json::json!({"error": e.to_string(), "changed": true, "outcome": tried});
            record(store, m, Action::Failed, &detail.to_string()).await?;
            item(
                m,
                "apply",
                "failed",
                format!(
                    "{e}; it may be partly moved: `costmill migrations rollback {}`",
                    m.id
                ),
                None,
            )
        }
        Err(e) => item(m, "apply", "error", e.to_string(), None),
    })
}

/// The outcome the apply recorded: what a rollback restores. Only the apply's own events
/// (from `approved`) count: a failed rollback's outcome holds the moved state as its "before".
pub fn applied_outcome(events: &[EventRow]) -> Option<Outcome> {
    events
        .iter()
        .rev()
        .filter(|e| {
            (e.action == Action::Applied.as_str() || e.action == Action::Failed.as_str())
                && e.status_before == Status::Approved.as_str()
        })
        .find_map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
            serde_json::from_value(detail.get("outcome")?.clone()).ok()
        })
}

async fn roll_back(
    store: &Store,
    executors: &Executors,
    m: &MigrationRow,
    dry_run: bool,
) -> Result<RunItem, RunError> {
    let executor = match executor_for(executors, m) {
        Ok(e) => e,
        Err(message) => return Ok(item(m, "rollback", "error", message, None)),
    };
    let events = migration::events(store, &m.id).await?;
    let Some(applied) = applied_outcome(&events) else {
        // Failed before anything changed (the failure says so): there is nothing to put back.
        // Otherwise what to restore is unknown, and a person must look.
        let unchanged = events.iter().any(|e| {
            e.action == Action::Failed.as_str()
                && serde_json::from_str::<serde_json::Value>(&e.detail)
                    .is_ok_and(|d| d["changed"] == false)
        });
        if !unchanged {
            return Ok(item(
                m,
                "rollback",
                "error",
                "no record of what the apply read before changing the workload: restore it by hand"
                    .into(),
                None,
            ));
        }
        let message = "nothing had been changed; nothing to restore".to_string();
        if !dry_run {
            let detail = serde_json::json!({"reason": message});
            record(store, m, Action::RolledBack, &detail.to_string()).await?;
        }
        let result = if dry_run {
            "would roll back"
        } else {
            "rolled back"
        };
        return Ok(item(m, "rollback", result, message, None));
    };
    if dry_run {
        let message = format!(
            "would restore the spec read before the move: {}",
            applied.spec_before
        );
        return Ok(item(
            m,
            "rollback",
            "would roll back",
            message,
            Some(applied),
        ));
    }
    Ok(match executor.rollback(m, &applied).await {
        Ok(o) if o.ok => {
            record(store, m, Action::RolledBack, &detail_outcome(&o)).await?;
            item(m, "rollback", "rolled back", o.message.clone(), Some(o))
        }
        Ok(o) => {
            record(store, m, Action::Failed, &detail_outcome(&o)).await?;
            item(m, "rollback", "failed", o.message.clone(), Some(o))
        }
        Err(e) => {
            let changed = matches!(e, ExecError::Target { changed: true, .. });
            let detail = serde_json::json!({"error": e.to_string(), "changed": changed});
            record(store, m, Action::Failed, &detail.to_string()).await?;
            item(m, "rollback", "failed", e.to_string(), None)
        }
    })
}

fn detail_outcome(o: &Outcome) -> String {
    serde_json::json!({ "outcome": o }).to_string()
}

/// Record what the executor did, retrying while the store is unreachable: the change is made,
/// and a rollback needs its record.
async fn record(
    store: &Store,
    m: &MigrationRow,
    action: Action,
    detail: &str,
) -> Result<(), RunError> {
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match migration::act(store, &m.id, action, EXECUTOR_ACTOR, detail).await {
            Ok(_) => return Ok(()),
            // The status moved on (a person rejected it meanwhile): the caller decides.
            Err(e @ MigrationError::InvalidTransition { .. }) => return Err(e.into()),
            Err(e @ MigrationError::Store(_)) if attempt < 5 => {
                tracing::warn!(migration = %m.id, action = action.as_str(), error = %e, attempt, "could not record; retrying");
            }
            Err(e) => {
                tracing::error!(
                    migration = %m.id,
                    workload = %m.workload,
                    action = action.as_str(),
                    detail,
                    error = %e,
                    "the executor changed the workload but could not record it: reconcile by hand"
                );
                return Err(e.into());
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}
