//! The measured saving of applied migrations (`costmill migrations report`): the workload's real
//! allocated cost per day before its move and after it, scaled to a month, beside the saving the
//! proposal estimated. Measured from `allocations` (sql/migration_measured_costs.sql), whose
//! `input_ref` is the workload id for Kubernetes workloads; other kinds show no measurement.
use chrono::{DateTime, Duration, Utc};
use clickhouse::Row;
use queries::{q, Dec18, Param, Store};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::migration::{self, Action, Filter, MigrationError, MigrationRow, Status};

/// Days in a month, as the recommendations count them (730 hours).
fn days_per_month() -> Decimal {
    Decimal::new(730, 0) / Decimal::new(24, 0)
}

/// One moved workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    pub id: String,
    pub workload: String,
    pub team: String,
    /// Its status now (`applied`, or `rolled_back` after a move that ran a while).
    pub status: String,
    /// When the move was applied (RFC 3339).
    pub moved_at: String,
    pub currency: String,
    pub estimated_saving_monthly: Decimal,
    /// Allocated cost per month before and after the move; `None` without a day of cost.
    pub before_monthly: Option<Decimal>,
    pub after_monthly: Option<Decimal>,
    /// `before − after`, when both are known.
    pub measured_saving_monthly: Option<Decimal>,
    pub before_days: u64,
    pub after_days: u64,
    /// Why there is no measurement, if there is none.
    pub note: String,
}

#[derive(Debug, Row, Deserialize)]
struct CostsRow {
    currency: String,
    before_cost: Dec18,
    before_days: u64,
    after_cost: Dec18,
    after_days: u64,
}

fn monthly(cost: Decimal, days: u64) -> Option<Decimal> {
    (days > 0).then(|| (cost / Decimal::from(days) * days_per_month()).round_dp(6))
}

/// Every migration that was applied, with its saving measured over up to `days` whole days on
/// each side of the move (after: until now or until it was rolled back).
pub async fn measure(
    store: &Store,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Measured>, MigrationError> {
    let moved = migration::list(
        store,
        &Filter {
            statuses: vec![
                Status::Applied,
                Status::RollbackRequested,
                Status::RolledBack,
            ],
            ..Filter::default()
        },
    )
    .await?;
    let mut out = Vec::new();
    for m in moved {
        let events = migration::events(store, &m.id).await?;
        let Some(applied) = events.iter().find(|e| e.action == Action::Applied.as_str()) else {
            // Rolled back without ever being applied (a failed move put back at once).
            continue;
        };
        let moved_at = DateTime::from_timestamp(applied.at.into(), 0).unwrap_or(now);
        let undone_at = events
            .iter()
            .filter(|e| e.seq > applied.seq && e.action == Action::Rollback.as_str())
            .map(|e| DateTime::from_timestamp(e.at.into(), 0).unwrap_or(now))
            .next();
        // Whole days on each side, the day of the move left out: [day − N, day) and
        // (day, day + N], the latter cut at now or at the rollback request.
        let window = Duration::days(days.into());
        let moved_day = moved_at
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(moved_at, |d| d.and_utc());
        let after_to = (moved_day + Duration::days(1) + window)
            .min(undone_at.unwrap_or(now))
            .min(now);
        out.push(measure_one(store, &m, moved_at, moved_day - window, after_to).await?);
    }
    Ok(out)
}

async fn measure_one(
    store: &Store,
    m: &MigrationRow,
    moved_at: DateTime<Utc>,
    before_from: DateTime<Utc>,
    after_to: DateTime<Utc>,
) -> Result<Measured, MigrationError> {
    let estimated = m.saving_month.to_decimal().map_err(MigrationError::Store)?;
    let mut measured = Measured {
        id: m.id.clone(),
        workload: m.workload.clone(),
        team: m.team.clone(),
        status: m.status.clone(),
        moved_at: moved_at.to_rfc3339(),
        currency: m.currency.clone(),
        estimated_saving_monthly: estimated,
        before_monthly: None,
        after_monthly: None,
        measured_saving_monthly: None,
        before_days: 0,
        after_days: 0,
        note: String::new(),
    };
    if m.kind != "kubernetes" {
        measured.note = format!(
            "`{}` migrations are not measured: their allocations are per job, not per workload",
            m.kind
        );
        return Ok(measured);
    }
    let at = |t: DateTime<Utc>| Param::DateTime(t.timestamp());
    let rows: Vec<CostsRow> = store
        .fetch_all(
            &q::migration_measured_costs()
                .bind_str("workload", m.workload.clone())
                .bind("before_from", at(before_from))
                .bind("moved", at(moved_at))
                .bind("after_to", at(after_to)),
        )
        .await?;
    let Some(row) = rows.iter().find(|r| r.currency == m.currency) else {
        measured.note = "no allocated cost of the workload around the move".into();
        return Ok(measured);
    };
    let before = row
        .before_cost
        .to_decimal()
        .map_err(MigrationError::Store)?;
    let after = row.after_cost.to_decimal().map_err(MigrationError::Store)?;
    measured.before_days = row.before_days;
    measured.after_days = row.after_days;
    measured.before_monthly = monthly(before, row.before_days);
    measured.after_monthly = monthly(after, row.after_days);
    measured.measured_saving_monthly = match (measured.before_monthly, measured.after_monthly) {
        (Some(b), Some(a)) => Some(b - a),
        _ => None,
    };
    if measured.after_days == 0 {
        measured.note = "no whole day of allocated cost since the move yet".into();
    } else if measured.before_days == 0 {
        measured.note = "no allocated cost before the move".into();
    }
    Ok(measured)
}
