//! Alerts as costmill reasons about them, and their row in the `alerts` table
//! (migrations/005_alerts_deliveries_budgets.sql).
use chrono::{DateTime, NaiveDate, Utc};
use clickhouse::Row;
use queries::Dec18;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::AlertError;

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A day's spend far from its same-weekday baseline.
    Spike,
    /// Month-to-date spend, projected to month end, far from last month.
    MonthOverMonth,
    /// Actual or forecast spend crossed a budget threshold.
    Budget,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Spike => "spike",
            AlertKind::MonthOverMonth => "month-over-month",
            AlertKind::Budget => "budget",
        }
    }
    pub fn parse(s: &str) -> Option<AlertKind> {
        [
            AlertKind::Spike,
            AlertKind::MonthOverMonth,
            AlertKind::Budget,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertState {
    Open,
    /// Someone has seen it (`costmill alerts ack`): still tracked, not sent again.
    Acknowledged,
    /// The anomaly is over.
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }
    pub fn parse(s: &str) -> Option<AlertState> {
        [
            AlertState::Open,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One dimension value that contributed to an anomaly, with its share of the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// `service`, `region`, `sub-account`, `usage-type` (SKU), `resource`, …
    pub dimension: String,
    pub value: String,
    /// Actual minus expected of this value over the anomaly's days (negative for drops).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// One anomaly, updated while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable: the same anomaly found again keeps its id (see `detect::alert_id`).
    pub id: String,
    pub kind: AlertKind,
    /// The series: `service`, `team`, `sub-account`, `provider`, `cloud-service`, or `budget`.
    pub dimension: String,
    /// The series' value (a service name, a team, a budget name).
    pub key: String,
    pub currency: String,
    pub state: AlertState,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Spikes: the last anomalous day's spend. Month-over-month: the month-end projection.
    /// Budgets: actual or forecast spend of the month.
    #[serde(with = "rust_decimal::serde::str")]
    pub actual: Decimal,
    /// What was expected: the baseline, last month's total, or the budget amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub expected: Decimal,
    /// Actual minus expected, summed over the anomaly's days (for month-over-month and budgets:
    /// actual minus expected).
    #[serde(with = "rust_decimal::serde::str")]
    pub impact: Decimal,
    /// Biggest contributors first.
    pub causes: Vec<Cause>,
    /// One line a person reads first.
    pub summary: String,
    pub acked_by: String,
    /// Bumped when the alert changes in a way worth telling again (a new day, a bigger impact).
    pub revision: u32,
    pub updated_at: DateTime<Utc>,
}

impl Alert {
    /// `impact / expected` in percent, when expected is not zero.
    pub fn percent(&self) -> Option<Decimal> {
        if self.expected.is_zero() {
            None
        } else {
            Some((self.impact_per_day() * Decimal::from(100) / self.expected).round_dp(1))
        }
    }

    /// The last day's difference for spikes; the whole difference otherwise.
    pub fn impact_per_day(&self) -> Decimal {
        match self.kind {
            AlertKind::Spike => self.actual - self.expected,
            _ => self.impact,
        }
    }

    /// The CLI command that explains this alert.
    pub fn explain_command(&self) -> String {
        format!("costmill alerts explain {}", self.id)
    }
}

/// The `alerts` table row, column for column.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: String,
    pub kind: String,
    pub dimension: String,
    pub key: String,
    pub currency: String,
    pub state: String,
    /// Days since 1970-01-01 (ClickHouse `Date`).
    pub first_day: u16,
    pub last_day: u16,
    pub actual: Dec18,
    pub expected: Dec18,
    pub impact: Dec18,
    pub causes: String,
    pub summary: String,
    pub acked_by: String,
    pub revision: u32,
    pub updated_at: u32,
    pub version: u64,
}

pub(crate) fn day_number(d: NaiveDate) -> u16 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as u16
}

pub(crate) fn from_day_number(n: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(n as i64)
}

/// Decimals are stored exactly; an amount with more than 18 fractional digits is rounded there.
pub(crate) fn dec18(d: Decimal) -> Dec18 {
    Dec18::from_decimal_exact(d)
        .unwrap_or_else(|| Dec18::from_decimal_exact(d.round_dp(18)).unwrap_or(Dec18::ZERO))
}

impl AlertRow {
    pub fn from_alert(a: &Alert, version: u64) -> AlertRow {
        AlertRow {
            id: a.id.clone(),
            kind: a.kind.as_str().into(),
            dimension: a.dimension.clone(),
            key: a.key.clone(),
            currency: a.currency.clone(),
            state: a.state.as_str().into(),
            first_day: day_number(a.first_day),
            last_day: day_number(a.last_day),
            actual: dec18(a.actual),
            expected: dec18(a.expected),
            impact: dec18(a.impact),
            causes: serde_json::to_string(&a.causes).expect("causes serialize"),
            summary: a.summary.clone(),
            acked_by: a.acked_by.clone(),
            revision: a.revision,
            updated_at: a.updated_at.timestamp() as u32,
            version,
        }
    }

    pub fn into_alert(self) -> Result<Alert, AlertError> {
        let causes = serde_json::from_str(&self.causes).map_err(|source| AlertError::Causes {
            id: self.id.clone(),
            source,
        })?;
        Ok(Alert {
            kind: AlertKind::parse(&self.kind).unwrap_or(AlertKind::Spike),
            state: AlertState::parse(&self.state).unwrap_or(AlertState::Open),
            first_day: from_day_number(self.first_day),
            last_day: from_day_number(self.last_day),
            actual: self.actual.to_decimal()?,
            expected: self.expected.to_decimal()?,
            impact: self.impact.to_decimal()?,
            causes,
            updated_at: DateTime::from_timestamp(self.updated_at as i64, 0).unwrap_or_default(),
            id: self.id,
            dimension: self.dimension,
            key: self.key,
            currency: self.currency,
            summary: self.summary,
            acked_by: self.acked_by,
            revision: self.revision,
        })
    }
}
