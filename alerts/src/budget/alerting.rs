//! Budget alerts: one per budget and month, at the highest threshold crossed that month.
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{forecast, Basis, BudgetStatus, Threshold};
use crate::detect::money;
use crate::model::{Alert, AlertKind, AlertState};

/// The alert id of a budget's month: stable, so each check updates the same alert.
pub fn alert_id(budget: &str, month: chrono::NaiveDate) -> String {
    let text = format!("budget|{budget}|{}", month.format("%Y-%m"));
    format!(
        "budget-{:016x}",
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    )
}

/// The alerts to save after a budget check: new and updated alerts of the statuses' months, and
/// the alerts of months that are over, resolved. `existing` are the stored alerts (any kind).
///
/// - An alert is raised when a threshold is crossed, at the highest one (by percentage; actual
///   spend above the forecast at the same percentage). The level only goes up within a month:
///   it is the highest crossed since the alert was raised.
/// - `revision` is bumped (so Slack posts again) only when a higher level is crossed; updated
///   figures keep it. An acknowledged alert stays acknowledged unless a higher level is crossed,
///   and is then open again.
/// - When the month's figures fall back under every threshold (a forecast after a spike), the
///   alert is resolved; crossing again reopens it, with a new revision only at a higher level.
/// - An alert of an earlier month than its budget's status (or, for a budget no longer
///   configured, than `now`'s month) is resolved: its month is over.
pub fn alerts_for(statuses: &[BudgetStatus], existing: &[Alert], now: DateTime<Utc>) -> Vec<Alert> {
    let mut out = Vec::new();
    for s in statuses {
        let id = alert_id(&s.name, s.month);
        let before = existing.iter().find(|a| a.id == id);
        let previous = before.and_then(|a| level_in_summary(&a.summary));
        let current = s.highest().cloned();
        if current.is_none() && before.is_none_or(|a| a.state == AlertState::Resolved) {
            continue;
        }
        let higher = match (&current, &previous) {
            (Some(c), Some(p)) => rank(c) > rank(p),
            (Some(_), None) => true,
            (None, _) => false,
        };
        // The level never goes down within the month.
        let Some(level) = (if higher {
            current.clone()
        } else {
            previous.clone().or(current.clone())
        }) else {
            continue;
        };
        let (state, revision, acked_by) = match before {
            None => (AlertState::Open, 1, String::new()),
            Some(a) if current.is_none() => (AlertState::Resolved, a.revision, a.acked_by.clone()),
            Some(a) if higher => (AlertState::Open, a.revision + 1, String::new()),
            Some(a) if a.state == AlertState::Resolved => {
                (AlertState::Open, a.revision, String::new())
            }
            Some(a) => (a.state, a.revision, a.acked_by.clone()),
        };
        let value = match level.basis {
            Basis::Actual => s.actual,
            Basis::Forecast => s.forecast,
        };
        out.push(Alert {
            id,
            kind: AlertKind::Budget,
            dimension: "budget".into(),
            key: s.name.clone(),
            currency: s.currency.clone(),
            state,
            first_day: s.month,
            last_day: s.as_of,
            actual: value,
            expected: s.amount,
            impact: value - s.amount,
            causes: s.top.clone(),
            summary: summary(s, &level),
            acked_by,
            revision,
            updated_at: now,
        });
    }
    // Months that are over.
    let now_month = forecast::month_start(now.date_naive());
    for a in existing
        .iter()
        .filter(|a| a.kind == AlertKind::Budget && a.state != AlertState::Resolved)
    {
        let month = statuses
            .iter()
            .find(|s| s.name == a.key)
            .map_or(now_month, |s| s.month);
        if a.first_day < month {
            out.push(Alert {
                state: AlertState::Resolved,
                updated_at: now,
                ..a.clone()
            });
        }
    }
    out
}

fn rank(t: &Threshold) -> (Decimal, Basis) {
    (t.percent, t.basis)
}

fn percent(d: Decimal) -> Decimal {
    d.round_dp(0).normalize()
}

/// `payments: forecast 112% of the 25,000.00 USD monthly budget (actual 61%); threshold 100%`.
fn summary(s: &BudgetStatus, level: &Threshold) -> String {
    let (first, second) = match level.basis {
        Basis::Forecast => (
            ("forecast", s.forecast_percent),
            ("actual", s.actual_percent),
        ),
        Basis::Actual => (
            ("actual", s.actual_percent),
            ("forecast", s.forecast_percent),
        ),
    };
    format!(
        "{}: {} {}% of the {} monthly budget ({} {}%); threshold {}%",
        s.name,
        first.0,
        percent(first.1),
        money(s.amount, &s.currency),
        second.0,
        percent(second.1),
        level.percent.normalize(),
    )
}

/// The level a summary written by [`summary`] names: its first figure's basis and its threshold.
fn level_in_summary(summary: &str) -> Option<Threshold> {
    let (head, threshold) = summary.rsplit_once("; threshold ")?;
    let percent: Decimal = threshold.strip_suffix('%')?.parse().ok()?;
    // The basis is the word after the budget name and `: `; a name may contain `: ` itself, so the
    // last `: forecast ` or `: actual ` before the amount wins.
    let before_amount = head.rsplit_once(" monthly budget (")?.0;
    let basis = match (
        before_amount.rfind(": forecast "),
        before_amount.rfind(": actual "),
    ) {
        (Some(f), Some(a)) if a > f => Basis::Actual,
        (Some(_), _) => Basis::Forecast,
        (None, Some(_)) => Basis::Actual,
        (None, None) => return None,
    };
    Some(Threshold { percent, basis })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_level_round_trips_through_the_summary() {
        let s = BudgetStatus {
            name: "pay: ments".into(),
            scope: "team=payments".into(),
            currency: "USD".into(),
            metric: "effective".into(),
            month: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            amount: Decimal::from(25_000),
            actual: Decimal::from(15_250),
            forecast: Decimal::from(28_000),
            actual_percent: Decimal::from(61),
            forecast_percent: Decimal::from(112),
            crossed: vec![],
            as_of: NaiveDate::from_ymd_opt(2026, 10, 17).unwrap(),
            parts: Default::default(),
            top: vec![],
        };
        for (percent, basis) in [
            ("100", Basis::Forecast),
            ("80", Basis::Actual),
            ("92.5", Basis::Forecast),
        ] {
            let level = Threshold {
                percent: percent.parse().unwrap(),
                basis,
            };
            let text = summary(&s, &level);
            assert_eq!(level_in_summary(&text), Some(level), "{text}");
        }
        let level = Threshold {
            percent: Decimal::from(100),
            basis: Basis::Forecast,
        };
        assert_eq!(
            summary(&s, &level),
            "pay: ments: forecast 112% of the 25,000.00 USD monthly budget (actual 61%); threshold 100%"
        );
        assert_eq!(level_in_summary("some other text"), None);
    }

    fn status(actual: &str, forecast: &str, thresholds: &[&str]) -> BudgetStatus {
        let dec = |s: &str| s.parse::<Decimal>().unwrap();
        let (amount, actual, forecast) = (dec("1000"), dec(actual), dec(forecast));
        let mut crossed = vec![];
        for t in thresholds {
            for (basis, value) in [(Basis::Forecast, forecast), (Basis::Actual, actual)] {
                if value * Decimal::from(100) >= dec(t) * amount {
                    crossed.push(Threshold {
                        percent: dec(t),
                        basis,
                    });
                }
            }
        }
        BudgetStatus {
            name: "payments".into(),
            scope: "team=payments".into(),
            currency: "USD".into(),
            metric: "effective".into(),
            month: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            amount,
            actual,
            forecast,
            actual_percent: actual / dec("10"),
            forecast_percent: forecast / dec("10"),
            crossed,
            as_of: NaiveDate::from_ymd_opt(2026, 10, 17).unwrap(),
            parts: Default::default(),
            top: vec![],
        }
    }

    #[test]
    fn levels_only_go_up_and_falling_under_every_threshold_resolves() {
        let now = chrono::Utc::now();
        let t = ["80", "100"];
        let first = alerts_for(&[status("500", "1050", &t)], &[], now);
        assert_eq!((first[0].state, first[0].revision), (AlertState::Open, 1));
        // Lower, but still over 80%: the level stays at forecast 100%, no new revision.
        let lower = alerts_for(&[status("520", "900", &t)], &first, now);
        assert_eq!((lower[0].state, lower[0].revision), (AlertState::Open, 1));
        assert!(
            lower[0].summary.ends_with("; threshold 100%"),
            "{}",
            lower[0].summary
        );
        // Under every threshold: resolved; still under: nothing to write.
        let under = alerts_for(&[status("530", "700", &t)], &lower, now);
        assert_eq!(
            (under[0].state, under[0].revision),
            (AlertState::Resolved, 1)
        );
        assert!(alerts_for(&[status("530", "700", &t)], &under, now).is_empty());
        // Crossing again at a level already told: open, same revision (Slack does not repeat).
        let again = alerts_for(&[status("540", "1010", &t)], &under, now);
        assert_eq!((again[0].state, again[0].revision), (AlertState::Open, 1));
        // Actual spend over 80% ranks below forecast 100%; actual over 100% ranks above it.
        let acked = vec![Alert {
            state: AlertState::Acknowledged,
            acked_by: "ana".into(),
            ..again[0].clone()
        }];
        let actual_80 = alerts_for(&[status("850", "1500", &t)], &acked, now);
        assert_eq!(
            (actual_80[0].state, actual_80[0].revision),
            (AlertState::Acknowledged, 1)
        );
        let actual_100 = alerts_for(&[status("1000", "1500", &t)], &actual_80, now);
        assert_eq!(
            (actual_100[0].state, actual_100[0].revision),
            (AlertState::Open, 2)
        );
        assert_eq!(actual_100[0].acked_by, "");
        assert_eq!(actual_100[0].actual, Decimal::from(1000));
    }

    #[test]
    fn ids_are_stable_per_budget_and_month() {
        let oct = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let nov = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(alert_id("payments", oct), alert_id("payments", oct));
        assert_ne!(alert_id("payments", oct), alert_id("payments", nov));
        assert_ne!(alert_id("payments", oct), alert_id("search", oct));
        assert!(alert_id("payments", oct).starts_with("budget-"));
    }
}
