//! Daily spikes (and drops), one alert per anomaly, updated while it lasts.
//!
//! Each run evaluates the last `HISTORY_DAYS` days of every watched series up to `as_of` (the last
//! day with data: a day not landed yet must not read as a drop to zero), groups anomalous days into
//! runs, and reconciles them with the stored alerts:
//! - a run reaching into the last `lookback_days` days is an alert; its id comes from the series
//!   and the run's first day, so the same anomaly found again (or one more day of it) keeps its id;
//! - the revision grows when the run reaches 2, 4, 8, 16… days, so a long anomaly is told again
//!   a few times, not every day;
//! - a stored alert whose run is over (or gone, after a late correction of the data) is resolved;
//! - acknowledged alerts stay acknowledged while they last.
use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::baseline::{evaluate, runs, Run, Thresholds};
use super::{alert_id, money, series, spike_causes, Dimension};
use crate::config::SpikeConfig;
use crate::model::{Alert, AlertKind, AlertState};
use crate::AlertError;
use queries::Store;

/// How far back runs are traced, so a long anomaly keeps its first day.
const HISTORY_DAYS: i64 = 60;

pub fn thresholds(cfg: &SpikeConfig) -> Thresholds {
    Thresholds {
        baseline_days: cfg.baseline_days,
        min_impact: cfg.min_impact,
        min_percent: cfg.min_percent,
        min_deviations: cfg.min_deviations,
    }
}

/// Revision of a run of `days` days: 1, then 2 at 2 days, 3 at 4 days, 4 at 8 days…
pub fn revision_for(days: i64) -> u32 {
    64 - (days.max(1) as u64).leading_zeros()
}

fn summary(dim: &str, key: &str, currency: &str, run: &Run) -> String {
    let days = (run.last_day - run.first_day).num_days() + 1;
    let up = run.impact > Decimal::ZERO;
    let pct = if run.last_expected.is_zero() {
        "new spend".to_string()
    } else {
        format!(
            "{}{}%",
            if up { "+" } else { "" },
            ((run.last_actual - run.last_expected) * Decimal::from(100) / run.last_expected)
                .round_dp(0)
        )
    };
    let span = if days == 1 {
        format!("on {}", run.last_day)
    } else {
        format!("for {days} days since {}", run.first_day)
    };
    format!(
        "{dim} {key}: {} {span}: {} vs {} expected ({pct}), impact {}",
        if up { "spend up" } else { "spend down" },
        money(run.last_actual, currency),
        money(run.last_expected, currency),
        money(run.impact, currency),
    )
}

/// Spike alerts for `dims` as of `as_of`, reconciled with `existing` (every stored spike alert).
pub async fn detect(
    store: &Store,
    cfg: &SpikeConfig,
    dim: Dimension,
    as_of: NaiveDate,
    existing: &[Alert],
) -> Result<Vec<Alert>, AlertError> {
    let t = thresholds(cfg);
    let weeks = (cfg.baseline_days / 7).max(1) as i64;
    let scan_from = as_of - Duration::days(HISTORY_DAYS - 1);
    let recent_from = as_of - Duration::days(cfg.lookback_days.max(1) as i64 - 1);
    let data = series(
        store,
        dim,
        &cfg.metric,
        scan_from - Duration::days(7 * weeks),
        as_of,
    )
    .await?;
    let now = Utc::now();
    let mut out: Vec<Alert> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ((key, currency), days) in &data {
        let verdicts = evaluate(days, scan_from, as_of, &t);
        for run in runs(&verdicts) {
            let id = alert_id(
                "spike",
                &[dim.name(), key, currency, &run.first_day.to_string()],
            );
            let before = existing.iter().find(|a| a.id == id);
            seen.insert(id.clone());
            if run.last_day < recent_from && before.is_none() {
                continue; // history nobody was told about: not news now
            }
            let over = run.last_day < as_of;
            let length = (run.last_day - run.first_day).num_days() + 1;
            let revision = revision_for(length);
            let (state, acked_by) = match before {
                // Found for the first time after it ended: still told once.
                None => (AlertState::Open, String::new()),
                Some(_) if over => (AlertState::Resolved, String::new()),
                Some(a) if a.state == AlertState::Acknowledged => {
                    (AlertState::Acknowledged, a.acked_by.clone())
                }
                Some(_) => (AlertState::Open, String::new()),
            };
            let acked_by = if state == AlertState::Resolved {
                before.map(|a| a.acked_by.clone()).unwrap_or_default()
            } else {
                acked_by
            };
            let up = run.impact > Decimal::ZERO;
            let causes = spike_causes(
                store,
                dim,
                key,
                currency,
                &cfg.metric,
                run.first_day,
                run.last_day,
                weeks,
                up,
            )
            .await?;
            let alert = Alert {
                id,
                kind: AlertKind::Spike,
                dimension: dim.name().into(),
                key: key.clone(),
                currency: currency.clone(),
                state,
                first_day: run.first_day,
                last_day: run.last_day,
                actual: run.last_actual,
                expected: run.last_expected,
                impact: run.impact,
                summary: summary(dim.name(), key, currency, &run),
                causes,
                acked_by,
                revision,
                updated_at: now,
            };
            if before.is_some_and(|b| same_content(b, &alert)) {
                continue;
            }
            out.push(alert);
        }
    }
    // Stored alerts of this dimension that no current run explains are over.
    for a in existing {
        if a.kind == AlertKind::Spike
            && a.dimension == dim.name()
            && a.state != AlertState::Resolved
            && !seen.contains(&a.id)
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

/// Equal, as stored (amounts to 18 decimal places), but for the time of the update: writing it
/// again would change nothing.
fn same_content(a: &Alert, b: &Alert) -> bool {
    canonical(a) == canonical(b)
}

fn canonical(a: &Alert) -> Alert {
    let exact = |d: Decimal| d.round_dp(18).normalize();
    Alert {
        actual: exact(a.actual),
        expected: exact(a.expected),
        impact: exact(a.impact),
        causes: a
            .causes
            .iter()
            .map(|c| crate::Cause {
                amount: exact(c.amount),
                ..c.clone()
            })
            .collect(),
        updated_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
        ..a.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_grow_at_doubling_lengths() {
        let seen: Vec<u32> = (1..=17).map(revision_for).collect();
        assert_eq!(
            seen,
            vec![1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5]
        );
    }
}
