//! Spike and month-over-month detection on the stored spend: which series are watched, how they
//! are read, and how the contributors of an anomaly (its root cause) are found.
pub mod baseline;
pub mod mom;
pub mod spike;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use clickhouse::Row;
use queries::{q, Dec18, Param, Query, Store};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{from_day_number, Cause};
use crate::AlertError;

/// A watched series family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// Allocated owners (`allocations`): `service`, `team`, `env`.
    Owner(&'static str),
    /// Billing dimensions (`focus_costs`, one-day charges): `provider`, `cloud-service`,
    /// `sub-account`, `region`.
    Billing(&'static str),
}

impl Dimension {
    pub fn parse(name: &str) -> Option<Dimension> {
        match name {
            "service" => Some(Dimension::Owner("service")),
            "team" => Some(Dimension::Owner("team")),
            "env" => Some(Dimension::Owner("env")),
            "provider" => Some(Dimension::Billing("provider")),
            "cloud-service" => Some(Dimension::Billing("cloud-service")),
            "sub-account" => Some(Dimension::Billing("sub-account")),
            "region" => Some(Dimension::Billing("region")),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Owner(n) | Dimension::Billing(n) => n,
        }
    }

    /// The dimensions an anomaly of this series is broken down by.
    fn cause_dimensions(self) -> Vec<&'static str> {
        match self {
            Dimension::Owner(me) => [
                "service",
                "team",
                "env",
                "cloud-service",
                "pool",
                "resource",
            ]
            .into_iter()
            .filter(|d| *d != me)
            .collect(),
            Dimension::Billing(me) => [
                "cloud-service",
                "sub-account",
                "region",
                "usage-type",
                "resource",
                "provider",
            ]
            .into_iter()
            .filter(|d| *d != me)
            .collect(),
        }
    }
}

/// Check dimension names from the configuration; the error names the key.
pub fn parse_dimensions(names: &[String], key: &str) -> Result<Vec<Dimension>, AlertError> {
    names
        .iter()
        .map(|n| {
            Dimension::parse(n).ok_or_else(|| AlertError::Config {
                key: key.into(),
                message: format!(
                    "unknown dimension `{n}`; use service, team, env, provider, cloud-service, \
                     sub-account or region"
                ),
            })
        })
        .collect()
}

/// `(key, currency)` → day → amount.
pub type SeriesSet = BTreeMap<(String, String), BTreeMap<NaiveDate, Decimal>>;

#[derive(Row, Deserialize)]
struct SeriesRow {
    day: u16,
    key: String,
    currency: String,
    amount: Dec18,
}

/// Every series of a dimension over `from..=to`.
pub async fn series(
    store: &Store,
    dim: Dimension,
    metric: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SeriesSet, AlertError> {
    let query = match dim {
        Dimension::Owner(_) => q::detect_owner_series(),
        Dimension::Billing(_) => q::detect_billing_series(),
    };
    let query = bind_range(query, from, to)
        .bind_str("dimension", dim.name())
        .bind_str("metric", metric);
    let mut out = SeriesSet::new();
    for row in store.fetch_all::<SeriesRow>(&query).await? {
        out.entry((row.key, row.currency))
            .or_default()
            .insert(from_day_number(row.day), row.amount.to_decimal()?);
    }
    Ok(out)
}

fn bind_range(query: Query, from: NaiveDate, to: NaiveDate) -> Query {
    query
        .bind("from", Param::Date(from))
        .bind("to", Param::Date(to))
}

#[derive(Row, Deserialize)]
struct LastDays {
    owners: u16,
    billing: u16,
}

/// The last day with owner data and with billing data (`None` when there is none).
pub async fn last_days(
    store: &Store,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>), AlertError> {
    let rows = store.fetch_all::<LastDays>(&q::detect_last_days()).await?;
    let day = |n: u16| (n > 0).then(|| from_day_number(n));
    Ok(rows
        .first()
        .map(|r| (day(r.owners), day(r.billing)))
        .unwrap_or((None, None)))
}

/// Per cause dimension: value → day → amount.
type Breakdown = Vec<(&'static str, BTreeMap<String, BTreeMap<NaiveDate, Decimal>>)>;

#[derive(Row, Deserialize)]
struct CauseRow {
    day: u16,
    value: String,
    amount: Dec18,
}

/// One series broken down by each of its cause dimensions, per value, per day, over `from..=to`.
async fn breakdown(
    store: &Store,
    dim: Dimension,
    key: &str,
    currency: &str,
    metric: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Breakdown, AlertError> {
    let mut out = Vec::new();
    for cause in dim.cause_dimensions() {
        let query = match dim {
            Dimension::Owner(_) => q::detect_owner_causes(),
            Dimension::Billing(_) => q::detect_billing_causes(),
        };
        let query = bind_range(query, from, to)
            .bind_str("cause", cause)
            .bind_str("dimension", dim.name())
            .bind_str("key", key)
            .bind_str("currency", currency)
            .bind_str("metric", metric);
        let mut values: BTreeMap<String, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
        for row in store.fetch_all::<CauseRow>(&query).await? {
            values
                .entry(row.value)
                .or_default()
                .insert(from_day_number(row.day), row.amount.to_decimal()?);
        }
        out.push((cause, values));
    }
    Ok(out)
}

/// How many contributors an alert lists, and how many per dimension.
const MAX_CAUSES: usize = 8;
const MAX_PER_DIMENSION: usize = 2;

/// Pick the biggest contributors in the direction of the change: per dimension its top values,
/// then overall by size. A dimension with a single value (everything in one region) says nothing
/// and is left out.
fn pick_causes(candidates: Vec<(&'static str, Vec<(String, Decimal)>)>, up: bool) -> Vec<Cause> {
    let mut picked = Vec::new();
    for (dimension, mut values) in candidates {
        if values.len() < 2 {
            continue;
        }
        values.retain(|(value, amount)| {
            // Spend from no shared pool is not a cause worth naming.
            !(dimension == "pool" && value.is_empty())
                && if up {
                    *amount > Decimal::ZERO
                } else {
                    *amount < Decimal::ZERO
                }
        });
        values.sort_by(|a, b| b.1.abs().cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        for (value, amount) in values.into_iter().take(MAX_PER_DIMENSION) {
            picked.push(Cause {
                dimension: dimension.to_string(),
                value: if value.is_empty() {
                    "(none)".into()
                } else {
                    value
                },
                amount,
            });
        }
    }
    picked.sort_by(|a, b| {
        b.amount
            .abs()
            .cmp(&a.amount.abs())
            .then_with(|| a.dimension.cmp(&b.dimension))
    });
    picked.truncate(MAX_CAUSES);
    picked
}

/// Per cause dimension, each value's change as `change` computes it from its daily amounts.
fn changes(
    parts: Breakdown,
    change: impl Fn(&BTreeMap<NaiveDate, Decimal>) -> Decimal,
) -> Vec<(&'static str, Vec<(String, Decimal)>)> {
    parts
        .into_iter()
        .map(|(cause, values)| {
            let values = values
                .into_iter()
                .map(|(value, days)| {
                    let c = change(&days);
                    (value, c)
                })
                .collect();
            (cause, values)
        })
        .collect()
}

/// Contributors of a spike over `first..=last`: per value, its actual spend over those days minus
/// the mean of its spend on the same weekdays of the baseline weeks. (A mean, unlike the series'
/// robust baseline, adds up: the contributions of one dimension sum to the series' change against
/// the same mean.)
pub async fn spike_causes(
    store: &Store,
    dim: Dimension,
    key: &str,
    currency: &str,
    metric: &str,
    first: NaiveDate,
    last: NaiveDate,
    baseline_weeks: i64,
    up: bool,
) -> Result<Vec<Cause>, AlertError> {
    let from = first - Duration::days(7 * baseline_weeks);
    let parts = breakdown(store, dim, key, currency, metric, from, last).await?;
    let weeks = Decimal::from(baseline_weeks.max(1));
    let candidates = changes(parts, |days| {
        let at = |d: NaiveDate| days.get(&d).copied().unwrap_or(Decimal::ZERO);
        let mut change = Decimal::ZERO;
        let mut day = first;
        while day <= last {
            let baseline: Decimal = (1..=baseline_weeks)
                .map(|w| at(day - Duration::days(7 * w)))
                .sum();
            change += at(day) - baseline / weeks;
            day += Duration::days(1);
        }
        change
    });
    Ok(pick_causes(candidates, up))
}

/// Contributors of a month-over-month change: per value, its month-to-date spend projected like
/// the series, minus its spend over the whole previous month.
pub async fn month_causes(
    store: &Store,
    dim: Dimension,
    key: &str,
    currency: &str,
    metric: &str,
    as_of: NaiveDate,
    up: bool,
) -> Result<Vec<Cause>, AlertError> {
    let (month_start, prev_start) = mom::month_bounds(as_of);
    let parts = breakdown(store, dim, key, currency, metric, prev_start, as_of).await?;
    let candidates = changes(parts, |days| {
        let (projection, previous) = mom::project(days, month_start, as_of);
        projection - previous
    });
    Ok(pick_causes(candidates, up))
}

/// A spike alert's series day by day, from a week before it began to three days after it (or the
/// last day with data), each against its baseline: what `costmill alerts explain` shows. Other
/// kinds of alerts have no daily baseline: empty.
pub async fn explain_days(
    store: &Store,
    cfg: &crate::AlertsConfig,
    alert: &crate::Alert,
) -> Result<Vec<baseline::DayVerdict>, AlertError> {
    let Some(dim) = Dimension::parse(&alert.dimension) else {
        return Ok(Vec::new());
    };
    if alert.kind != crate::AlertKind::Spike {
        return Ok(Vec::new());
    }
    let t = spike::thresholds(&cfg.spike);
    let weeks = (cfg.spike.baseline_days / 7).max(1) as i64;
    let from = alert.first_day - Duration::days(7);
    let (owners, billing) = last_days(store).await?;
    let last = match dim {
        Dimension::Owner(_) => owners,
        Dimension::Billing(_) => billing,
    }
    .unwrap_or(alert.last_day);
    let to = (alert.last_day + Duration::days(3)).min(last.max(alert.last_day));
    let data = series(
        store,
        dim,
        &cfg.spike.metric,
        from - Duration::days(7 * weeks),
        to,
    )
    .await?;
    let days = data
        .get(&(alert.key.clone(), alert.currency.clone()))
        .cloned()
        .unwrap_or_default();
    Ok(baseline::evaluate(&days, from, to, &t))
}

/// A short stable id: the same anomaly found again gets the same id.
pub fn alert_id(prefix: &str, parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    format!(
        "{prefix}-{:012x}",
        xxhash_rust::xxh3::xxh3_64(joined.as_bytes()) >> 16
    )
}

/// `1,234.56 USD`: two decimals, thousands separators, for summaries.
pub fn money(amount: Decimal, currency: &str) -> String {
    format!("{} {currency}", queries::money::display(amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_the_sign() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("1234567.891"), "USD"), "1,234,567.89 USD");
        assert_eq!(money(d("-950"), "EUR"), "-950.00 EUR");
        assert_eq!(money(d("0.005"), "USD"), "0.00 USD");
        assert_eq!(money(d("100"), "USD"), "100.00 USD");
    }

    #[test]
    fn causes_follow_the_direction_and_skip_single_value_dimensions() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let picked = pick_causes(
            vec![
                ("region", vec![("us-east-1".into(), d("900"))]),
                (
                    "resource",
                    vec![
                        ("i-1".into(), d("700")),
                        ("i-2".into(), d("-50")),
                        ("i-3".into(), d("150")),
                        ("i-4".into(), d("20")),
                    ],
                ),
            ],
            true,
        );
        let shown: Vec<(&str, &str)> = picked
            .iter()
            .map(|c| (c.dimension.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(shown, vec![("resource", "i-1"), ("resource", "i-3")]);
    }
}
