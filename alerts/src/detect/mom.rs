//! Month over month: month-to-date spend projected to month end, against last month's total.
//!
//! The projection is linear in days (month-to-date ÷ days elapsed × days in the month). For
//! allocated owners, charges whose period covers the month (most commitments and subscriptions)
//! are spread over its days by allocation, so they do not inflate it; a monthly fee billed as a
//! one-day charge does, early in the month (budgets, whose forecast counts such charges once, do
//! not have this limit). `min_days` keeps the first days of a month out.
use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::{alert_id, money, month_causes, series, Dimension};
use crate::config::MonthOverMonthConfig;
use crate::model::{Alert, AlertKind, AlertState};
use crate::AlertError;
use queries::Store;

/// First day of `as_of`'s month and of the month before.
pub fn month_bounds(as_of: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = as_of.with_day(1).expect("day 1");
    let prev = (start - Duration::days(1)).with_day(1).expect("day 1");
    (start, prev)
}

fn days_in_month(start: NaiveDate) -> i64 {
    let next = if start.month() == 12 {
        NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
    }
    .expect("valid month");
    (next - start).num_days()
}

/// `(projection of this month, total of last month)` from a daily series.
pub fn project(
    days: &BTreeMap<NaiveDate, Decimal>,
    month_start: NaiveDate,
    as_of: NaiveDate,
) -> (Decimal, Decimal) {
    let prev_start = month_bounds(as_of).1;
    let mtd: Decimal = days.range(month_start..=as_of).map(|(_, v)| *v).sum();
    let previous: Decimal = days.range(prev_start..month_start).map(|(_, v)| *v).sum();
    let elapsed = (as_of - month_start).num_days() + 1;
    let projection = mtd * Decimal::from(days_in_month(month_start)) / Decimal::from(elapsed);
    (projection, previous)
}

/// Month-over-month alerts as of `as_of` (the last complete day), reconciled with the existing
/// month-over-month alerts: one per series and month, kept while the projection stays beyond the
/// thresholds, resolved when it comes back or the month ends.
pub async fn detect(
    store: &Store,
    cfg: &MonthOverMonthConfig,
    dims: &[Dimension],
    metric: &str,
    as_of: NaiveDate,
    existing: &[Alert],
) -> Result<Vec<Alert>, AlertError> {
    let (month_start, prev_start) = month_bounds(as_of);
    let month = month_start.format("%Y-%m").to_string();
    let now = Utc::now();
    let mut out = Vec::new();
    let elapsed = (as_of - month_start).num_days() + 1;
    if elapsed >= cfg.min_days as i64 {
        for dim in dims {
            for ((key, currency), days) in series(store, *dim, metric, prev_start, as_of).await? {
                let (projection, previous) = project(&days, month_start, as_of);
                let diff = projection - previous;
                let big = diff.abs() >= cfg.min_impact
                    && (previous.is_zero()
                        || diff.abs() * Decimal::from(100) >= cfg.min_percent * previous);
                let id = alert_id("mom", &[dim.name(), &key, &currency, &month]);
                let before = existing.iter().find(|a| a.id == id);
                if !big {
                    if let Some(a) = before.filter(|a| a.state != AlertState::Resolved) {
                        out.push(Alert {
                            state: AlertState::Resolved,
                            updated_at: now,
                            ..a.clone()
                        });
                    }
                    continue;
                }
                let up = diff > Decimal::ZERO;
                let causes = month_causes(store, *dim, &key, &currency, metric, as_of, up).await?;
                let percent = if previous.is_zero() {
                    "new spend".to_string()
                } else {
                    format!(
                        "{}{}%",
                        if up { "+" } else { "" },
                        (diff * Decimal::from(100) / previous).round_dp(0)
                    )
                };
                let summary = format!(
                    "{} {key}: {month} heading for {} vs {} last month ({percent})",
                    dim.name(),
                    money(projection, &currency),
                    money(previous, &currency),
                );
                let (state, revision, acked_by) = match before {
                    // Back after it had resolved: tell again.
                    Some(a) if a.state == AlertState::Resolved => {
                        (AlertState::Open, a.revision + 1, String::new())
                    }
                    Some(a) => (a.state, a.revision, a.acked_by.clone()),
                    None => (AlertState::Open, 1, String::new()),
                };
                out.push(Alert {
                    id,
                    kind: AlertKind::MonthOverMonth,
                    dimension: dim.name().into(),
                    key,
                    currency,
                    state,
                    first_day: month_start,
                    last_day: as_of,
                    actual: projection,
                    expected: previous,
                    impact: diff,
                    causes,
                    summary,
                    acked_by,
                    revision,
                    updated_at: now,
                });
            }
        }
    }
    // Alerts of earlier months are over.
    for a in existing {
        if a.kind == AlertKind::MonthOverMonth
            && a.state != AlertState::Resolved
            && a.first_day < month_start
            && !out.iter().any(|o| o.id == a.id)
        {
            out.push(Alert {
                state: AlertState::Resolved,
                updated_at: now,
                ..a.clone()
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_linearly_in_days_and_totals_last_month() {
        let mut days = BTreeMap::new();
        let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        for day in 1..=31 {
            days.insert(d(10, day), Decimal::from(100));
        }
        for day in 1..=10 {
            days.insert(d(11, day), Decimal::from(150));
        }
        let (projection, previous) = project(&days, d(11, 1), d(11, 10));
        assert_eq!(previous, Decimal::from(3100));
        assert_eq!(projection, Decimal::from(4500)); // 1500 / 10 days × 30
        assert_eq!(
            month_bounds(d(1, 15).with_year(2027).unwrap()).1,
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
    }
}
