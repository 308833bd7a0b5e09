//! Workload migrations: proposals to move a workload to cheaper capacity, their states, and the
//! audit trail of every action (`migrations/009_workload_migrations.sql`).
//!
//! A proposal is written once; its status is its latest event. People act on it (`approve`,
//! `reject`, `rollback`) through the CLI or the API; an executor reports what it did (`applied`,
//! `failed`, `rolled back`). Each action is one event row (who, what, status before and after,
//! detail), written under a per-migration lease so that two actions on one migration never both
//! pass the state check.
//!
//! ```text
//! proposed ──approve──▶ approved ──(executor) applied──▶ applied ──rollback──▶ rollback requested
//!    │                     │                 └─failed──▶ failed ───rollback──▶      │
//!    └──reject──▶ rejected ◀──reject──┘                     │          (executor) rolled back
//!                                                            └──(executor) rolled back──▶ rolled back
//! ```
//!
//! A move that does not become healthy is put back by the executor at once: `failed`, then
//! `rolled back`, both by the executor.
use std::time::Duration;

use clickhouse::Row;
use queries::{q, Dec18, Param, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// How long an action waits for another action on the same migration.
const LEASE_WAIT: Duration = Duration::from_secs(10);
const LEASE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("no migration `{0}`; `costmill migrations list` shows them")]
    NotFound(String),
    #[error("migration `{id}` is {status}: it cannot be {action} (allowed: {allowed})")]
    InvalidTransition {
        id: String,
        status: &'static str,
        action: &'static str,
        allowed: &'static str,
    },
    #[error("migration `{id}` has an unknown status `{status}` in the store")]
    UnknownStatus { id: String, status: String },
    #[error("saving {0} does not fit Decimal(38, 18)")]
    Amount(rust_decimal::Decimal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Proposed,
    Approved,
    Applied,
    Failed,
    RollbackRequested,
    RolledBack,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Proposed,
        Status::Approved,
        Status::Applied,
        Status::Failed,
        Status::RollbackRequested,
        Status::RolledBack,
        Status::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Approved => "approved",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::RollbackRequested => "rollback_requested",
            Status::RolledBack => "rolled_back",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What is done to a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A person allows the move (scope `migrate`).
    Approve,
    /// A person declines it.
    Reject,
    /// A person asks for an applied (or failed) move to be undone.
    Rollback,
    /// The executor moved the workload.
    Applied,
    /// The executor could not (the workload may be partly moved: roll back).
    Failed,
    /// The executor put the workload back as it was.
    RolledBack,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Rollback => "rollback",
            Action::Applied => "applied",
            Action::Failed => "failed",
            Action::RolledBack => "rolled back",
        }
    }

    /// The statuses it applies to, and the status it leads to.
    fn rule(self) -> (&'static [Status], Status, &'static str) {
        use Status::*;
        match self {
            Action::Approve => (&[Proposed], Approved, "proposed"),
            Action::Reject => (&[Proposed, Approved], Rejected, "proposed, approved"),
            Action::Rollback => (&[Applied, Failed], RollbackRequested, "applied, failed"),
            Action::Applied => (&[Approved], Applied, "approved"),
            Action::Failed => (
                &[Approved, RollbackRequested],
                Failed,
                "approved, rollback_requested",
            ),
            Action::RolledBack => (
                &[RollbackRequested, Failed],
                RolledBack,
                "rollback_requested, failed",
            ),
        }
    }

    /// The status after this action, or why it is refused.
    pub fn next(self, id: &str, from: Status) -> Result<Status, MigrationError> {
        let (allowed, to, names) = self.rule();
        if allowed.contains(&from) {
            Ok(to)
        } else {
            Err(MigrationError::InvalidTransition {
                id: id.to_string(),
                status: from.as_str(),
                action: match self {
                    Action::Approve => "approved",
                    Action::Reject => "rejected",
                    Action::Rollback => "rolled back",
                    Action::Applied => "marked applied",
                    Action::Failed => "marked failed",
                    Action::RolledBack => "marked rolled back",
                },
                allowed: names,
            })
        }
    }
}

/// A proposed move, as a planner writes it.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    /// `kubernetes`, `slurm` or `skypilot`.
    pub kind: String,
    /// What moves, e.g. `k8s://prod/payments/deployment/payments-api`, `slurm://hpc/job/1234`.
    pub workload: String,
    pub team: String,
    pub service: String,
    pub env: String,
    pub from_placement: String,
    pub to_placement: String,
    /// The workload's spec before and after the move (JSON), as the executor will apply it.
    pub spec_before: String,
    pub spec_after: String,
    /// Net saving per month, after interruption risk and egress.
    pub saving_month: rust_decimal::Decimal,
    pub currency: String,
    /// JSON: current cost rows, candidate catalog rows, assumptions.
    pub evidence: String,
}

/// `workload_migrations` (migrations/009_workload_migrations.sql), column for column.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ProposalRow {
    id: String,
    created_at: u32,
    created_by: String,
    kind: String,
    workload: String,
    team: String,
    service: String,
    env: String,
    from_placement: String,
    to_placement: String,
    spec_before: String,
    spec_after: String,
    saving_month: Dec18,
    currency: String,
    evidence: String,
}

/// A migration and its current status (sql/workload_migrations_list.sql).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MigrationRow {
    pub id: String,
    /// Unix seconds, UTC.
    pub created_at: u32,
    pub created_by: String,
    pub kind: String,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub env: String,
    pub from_placement: String,
    pub to_placement: String,
    pub spec_before: String,
    pub spec_after: String,
    pub saving_month: Dec18,
    pub currency: String,
    pub evidence: String,
    pub status: String,
    /// Unix seconds of the latest event (0: none yet).
    pub updated_at: u32,
    pub updated_by: String,
    pub events: u64,
}

/// One action on a migration: `migration_events`, column for column.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    pub migration_id: String,
    pub seq: u64,
    /// Unix seconds, UTC.
    pub at: u32,
    pub actor: String,
    pub action: String,
    pub status_before: String,
    pub status_after: String,
    pub detail: String,
}

/// Which migrations to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub id: Option<String>,
    pub statuses: Vec<Status>,
    /// Empty: every team.
    pub teams: Vec<String>,
    pub offset: u64,
    pub limit: u64,
}

/// Store a proposal; returns its id.
pub async fn propose(
    store: &Store,
    proposal: &Proposal,
    created_by: &str,
) -> Result<String, MigrationError> {
    let id = format!("mig-{}", queries::commit::new_batch_id());
    let row = ProposalRow {
        id: id.clone(),
        created_at: chrono::Utc::now().timestamp() as u32,
        created_by: created_by.to_string(),
        kind: proposal.kind.clone(),
        workload: proposal.workload.clone(),
        team: proposal.team.clone(),
        service: proposal.service.clone(),
        env: proposal.env.clone(),
        from_placement: proposal.from_placement.clone(),
        to_placement: proposal.to_placement.clone(),
        spec_before: proposal.spec_before.clone(),
        spec_after: proposal.spec_after.clone(),
        saving_month: Dec18::from_decimal_exact(proposal.saving_month)
            .ok_or(MigrationError::Amount(proposal.saving_month))?,
        currency: proposal.currency.clone(),
        evidence: proposal.evidence.clone(),
    };
    store
        .insert_rows("workload_migrations", std::slice::from_ref(&row))
        .await?;
    Ok(id)
}

/// Migrations with their status, newest first.
pub async fn list(store: &Store, filter: &Filter) -> Result<Vec<MigrationRow>, MigrationError> {
    let limit = if filter.limit == 0 {
        u64::MAX
    } else {
        filter.limit
    };
    Ok(store
        .fetch_all(
            &q::workload_migrations_list()
                .bind_str("id", filter.id.clone().unwrap_or_default())
                .bind(
                    "statuses",
                    Param::StrArray(filter.statuses.iter().map(|s| s.as_str().into()).collect()),
                )
                .bind("teams", Param::StrArray(filter.teams.clone()))
                .bind("offset", Param::Int(filter.offset.into()))
                .bind("limit", Param::Int(limit.into())),
        )
        .await?)
}

/// One migration, or `NotFound`.
pub async fn get(store: &Store, id: &str) -> Result<MigrationRow, MigrationError> {
    let filter = Filter {
        id: Some(id.to_string()),
        ..Filter::default()
    };
    list(store, &filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| MigrationError::NotFound(id.to_string()))
}

/// The audit trail of a migration, oldest first.
pub async fn events(store: &Store, id: &str) -> Result<Vec<EventRow>, MigrationError> {
    Ok(store
        .fetch_all(&q::workload_migration_events().bind_str("id", id))
        .await?)
}

/// Apply an action: check it against the current status and record it, under the migration's
/// lease. Returns the migration as it now stands.
pub async fn act(
    store: &Store,
    id: &str,
    action: Action,
    actor: &str,
    detail: &str,
) -> Result<MigrationRow, MigrationError> {
    let holder = format!("mig-action-{}", queries::commit::new_batch_id());
    let lease = store
        .acquire_lease(
            &format!("migration/{id}"),
            &holder,
            &format!("{} of migration {id} by {actor}", action.as_str()),
            LEASE_TTL,
            LEASE_WAIT,
            &CancellationToken::new(),
        )
        .await?;
    let result = record(store, id, action, actor, detail).await;
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the migration lease; it expires by itself");
    }
    result?;
    get(store, id).await
}

async fn record(
    store: &Store,
    id: &str,
    action: Action,
    actor: &str,
    detail: &str,
) -> Result<(), MigrationError> {
    let current = get(store, id).await?;
    let from = Status::parse(&current.status).ok_or_else(|| MigrationError::UnknownStatus {
        id: id.to_string(),
        status: current.status.clone(),
    })?;
    let to = action.next(id, from)?;
    let now = chrono::Utc::now();
    let latest = events(store, id).await?.last().map_or(0, |e| e.seq);
    let event = EventRow {
        migration_id: id.to_string(),
        seq: (now.timestamp_millis() as u64).max(latest + 1),
        at: now.timestamp() as u32,
        actor: actor.to_string(),
        action: action.as_str().to_string(),
        status_before: from.as_str().to_string(),
        status_after: to.as_str().to_string(),
        detail: detail.to_string(),
    };
    store
        .insert_rows("migration_events", std::slice::from_ref(&event))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_leads_from_its_statuses_only() {
        use Action as A;
        use Status as S;
        let allowed = [
            (A::Approve, S::Proposed, S::Approved),
            (A::Reject, S::Proposed, S::Rejected),
            (A::Reject, S::Approved, S::Rejected),
            (A::Applied, S::Approved, S::Applied),
            (A::Failed, S::Approved, S::Failed),
            (A::Failed, S::RollbackRequested, S::Failed),
            (A::Rollback, S::Applied, S::RollbackRequested),
            (A::Rollback, S::Failed, S::RollbackRequested),
            (A::RolledBack, S::RollbackRequested, S::RolledBack),
            (A::RolledBack, S::Failed, S::RolledBack),
        ];
        let actions = [
            A::Approve,
            A::Reject,
            A::Rollback,
            A::Applied,
            A::Failed,
            A::RolledBack,
        ];
        for action in actions {
            for from in S::ALL {
                let expected = allowed
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|(_, _, to)| *to);
                match (action.next("m", from), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{action:?} from {from:?}"),
                    (
                        Err(MigrationError::InvalidTransition {
                            status, allowed, ..
                        }),
                        None,
                    ) => {
                        assert_eq!(status, from.as_str());
                        // The message lists where the action is allowed, which is not here.
                        assert!(!allowed.split(", ").any(|a| a == from.as_str()));
                    }
                    (got, want) => panic!("{action:?} from {from:?}: {got:?}, expected {want:?}"),
                }
            }
        }
        // Terminal: nothing leads out of rolled back or rejected.
        for action in actions {
            assert!(action.next("m", S::RolledBack).is_err());
            assert!(action.next("m", S::Rejected).is_err());
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
    }
}
