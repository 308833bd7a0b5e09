//! Budgets: a monthly amount per team, service or tag value (`[[budgets]]`), the month's actual
//! spend and month-end forecast, and alerts when either crosses a threshold.
//!
//! **Actual spend.** Team and service budgets read allocated cost (`allocations`, what
//! `costmill costs --by team|service` reports); tag budgets read billed charges (`focus_costs`,
//! the tag value of `x_TagKeys`/`x_TagValues`, a charge counted whole on the day its charge period
//! starts, like `costmill costs --by tag:KEY`). Only rows in the budget's currency count. The
//! month is the month of the last day with usage data before today (`as_of`), so on the 1st the
//! month that just ended gets its final figures first.
//!
//! **Known charges are counted once.** The forecast extrapolates daily usage only (see
//! [`forecast`]). A charge is *known* rather than usage when FOCUS says it is not usage-based and
//! it does not land every day (queries/sql/budget_charge_keys.sql):
//! - `ChargeFrequency = 'One-Time'`: a purchase, counted once and never expected again;
//! - `ChargeFrequency = 'Recurring'` of at most a day that lands on at most one day per calendar
//!   month: a monthly fee (a commitment fee on the 1st, support at month end). FOCUS calls hourly
//!   and daily fees Recurring too (reservation fees billed by the hour); those land every day and
//!   are run rate, so the landing days decide, not the frequency alone. ChargeCategory does not
//!   decide either: such hourly fees are `Purchase` like the monthly ones;
//! - a charge whose period spans several days: allocation spreads it over its days (a day's share
//!   is named `… [spread START/END]` in `input_ref`), and its shares of the remaining days are
//!   allocated already or estimated from the budget's recent share (see [`forecast`]); a tag budget
//!   counts it whole in its first month, as a monthly charge.
//!
//! Allocations keep a link to their input: `cost_source` (`Provider / ServiceName`) and
//! `input_ref` (the ResourceId, or `(ChargeCategory)` without one) for direct and unallocated
//! amounts, so a single-day allocation is classified by looking that key up among the charges of
//! `focus_costs` (all the key's rows must be known charges: a resource billing usage and a monthly
//! fee on the same day is usage). Pooled amounts keep only their source: they are known when
//! everything that source bills in the currency is known (a `Tax`, `AWS Support` or savings plan
//! source), usage otherwise. Keys are classified over last month and this month together.
//!
//! **Expected monthly charges.** A monthly (or spread) charge of last month that this month has
//! not seen yet is added to the forecast at last month's amount, once: support billed on the last
//! day, a commitment fee that has not landed.
mod alerting;
pub mod forecast;
mod read;

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, Utc};
use queries::Store;
use rust_decimal::Decimal;
use serde::Serialize;

pub use alerting::{alert_id, alerts_for};
pub use forecast::{ChargeClass, ForecastParts};

use crate::config::BudgetConfig;
use crate::model::Cause;
use crate::AlertError;

/// What a budget covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// An allocated team.
    Team(String),
    /// An allocated service.
    Service(String),
    /// A billing tag value.
    Tag { key: String, value: String },
}

impl Scope {
    /// The scope of a budget; `None` unless exactly one of team, service or tag is set (and a tag
    /// is `KEY=VALUE`).
    pub fn of(budget: &BudgetConfig) -> Option<Scope> {
        match (&budget.team, &budget.service, &budget.tag) {
            (Some(t), None, None) => Some(Scope::Team(t.clone())),
            (None, Some(s), None) => Some(Scope::Service(s.clone())),
            (None, None, Some(tag)) => tag.split_once('=').map(|(k, v)| Scope::Tag {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => None,
        }
    }

    /// `team=payments`, `service=search-api`, `tag:cost-center=cc-42`.
    pub fn label(&self) -> String {
        match self {
            Scope::Team(t) => format!("team={t}"),
            Scope::Service(s) => format!("service={s}"),
            Scope::Tag { key, value } => format!("tag:{key}={value}"),
        }
    }
}

/// Which figure crossed a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The month-end forecast (ranks below actual spend at the same percentage).
    Forecast,
    /// Spend so far.
    Actual,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Forecast => "forecast",
            Basis::Actual => "actual",
        }
    }
}

/// A threshold crossed: `percent` of the budget amount, by actual or forecast spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Threshold {
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
    pub basis: Basis,
}

/// A budget's month: spend so far, forecast, and the thresholds crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    pub name: String,
    /// `team=payments`, `service=search-api` or `tag:KEY=VALUE`.
    pub scope: String,
    pub currency: String,
    /// `effective` or `billed`.
    pub metric: String,
    /// First day of the month.
    pub month: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Spend of the month up to and including `as_of`.
    #[serde(with = "rust_decimal::serde::str")]
    pub actual: Decimal,
    /// Month-end forecast.
    #[serde(with = "rust_decimal::serde::str")]
    pub forecast: Decimal,
    /// `actual / amount × 100`, unrounded.
    #[serde(with = "rust_decimal::serde::str")]
    pub actual_percent: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub forecast_percent: Decimal,
    /// Every configured threshold crossed, by actual and by forecast spend, lowest first.
    pub crossed: Vec<Threshold>,
    /// The last day with data the figures include.
    pub as_of: NaiveDate,
    pub parts: ForecastParts,
    /// The biggest services of the month so far (allocated services for team budgets, cloud
    /// services for service and tag budgets), biggest first.
    pub top: Vec<Cause>,
}

impl BudgetStatus {
    /// The highest threshold crossed (by percentage; actual above forecast at the same one).
    pub fn highest(&self) -> Option<&Threshold> {
        self.crossed
            .iter()
            .max_by(|a, b| (a.percent, a.basis).cmp(&(b.percent, b.basis)))
    }
}

/// How many services a status lists.
const TOP_SERVICES: usize = 5;

/// Configuration problems of `[[budgets]]`, each with its key (`budgets[2].team`), for
/// `costmill config check`. Empty when all is well.
pub fn validate(budgets: &[BudgetConfig]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, b) in budgets.iter().enumerate() {
        let key = |field: &str| format!("budgets[{i}].{field}");
        if b.name.trim().is_empty() {
            problems.push((key("name"), "must not be empty".into()));
        } else if let Some(j) = names.get(b.name.as_str()) {
            problems.push((
                key("name"),
                format!(
                    "`{}` is also the name of budgets[{j}]; names must be unique",
                    b.name
                ),
            ));
        } else {
            names.insert(b.name.as_str(), i);
        }
        let set: Vec<(&str, &String)> =
            [("team", &b.team), ("service", &b.service), ("tag", &b.tag)]
                .into_iter()
                .filter_map(|(field, v)| v.as_ref().map(|v| (field, v)))
                .collect();
        match set.as_slice() {
            [] => problems.push((
                format!("budgets[{i}]"),
                "set exactly one of team, service or tag".into(),
            )),
            [(field, value)] => {
                if value.trim().is_empty() {
                    problems.push((key(field), "must not be empty".into()));
                } else if *field == "tag" {
                    let ok = value
                        .split_once('=')
                        .is_some_and(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty());
                    if !ok {
                        problems.push((
                            key("tag"),
                            format!("`{value}`: use KEY=VALUE, e.g. `cost-center=cc-42`"),
                        ));
                    }
                }
            }
            [(first, _), rest @ ..] => {
                for (field, _) in rest {
                    problems.push((
                        key(field),
                        format!("set only one of team, service or tag (`{first}` is set too)"),
                    ));
                }
            }
        }
        if b.amount <= Decimal::ZERO {
            problems.push((key("amount"), format!("{}: must be more than 0", b.amount)));
        }
        if !(b.currency.len() == 3 && b.currency.chars().all(|c| c.is_ascii_uppercase())) {
            problems.push((
                key("currency"),
                format!("`{}`: use an ISO 4217 code such as USD or EUR", b.currency),
            ));
        }
        for (j, t) in b.thresholds.iter().enumerate() {
            if *t <= Decimal::ZERO || *t > Decimal::from(1000) {
                problems.push((
                    key(&format!("thresholds[{j}]")),
                    format!("{t}: a percentage of the amount, more than 0 and at most 1000"),
                ));
            }
        }
        if !["effective", "billed"].contains(&b.metric.as_str()) {
            problems.push((
                key("metric"),
                format!("`{}`: use effective or billed", b.metric),
            ));
        }
    }
    problems
}

/// Compute every budget's status for the month of the last day with data before `today` (today
/// is never complete), write it to `budget_status`, and return it (in configuration order).
pub async fn check(
    store: &Store,
    budgets: &[BudgetConfig],
    today: NaiveDate,
) -> Result<Vec<BudgetStatus>, AlertError> {
    let statuses = status_of(store, budgets, today).await?;
    read::write_statuses(store, &statuses, Utc::now()).await?;
    Ok(statuses)
}

/// [`check`] without writing anything: what a reader (the REST API) shows.
pub async fn status_of(
    store: &Store,
    budgets: &[BudgetConfig],
    today: NaiveDate,
) -> Result<Vec<BudgetStatus>, AlertError> {
    if let Some((key, message)) = validate(budgets).into_iter().next() {
        return Err(AlertError::Config { key, message });
    }
    if budgets.is_empty() {
        return Ok(Vec::new());
    }
    let data = read::data_days(store, today).await?;
    let yesterday = today - Duration::days(1);
    let mut keys_by_month: BTreeMap<NaiveDate, BTreeMap<String, read::ChargeKeys>> =
        BTreeMap::new();
    let mut statuses = Vec::with_capacity(budgets.len());
    for b in budgets {
        let scope = Scope::of(b).expect("validated");
        let days = match scope {
            Scope::Tag { .. } => data.billing,
            _ => data.owners,
        };
        let as_of = days.map_or(yesterday, |(_, last)| last.min(yesterday));
        let month = forecast::month_start(as_of);
        let (from, to) = (forecast::previous_month(month), forecast::next_month(month));
        let keys = match keys_by_month.entry(month) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(read::charge_keys(store, from, to).await?),
        }
        .get(&b.currency)
        .cloned()
        .unwrap_or_default();
        let rows = read::amounts(store, &scope, &b.currency, &b.metric, &keys, from, to).await?;
        let future = match scope {
            Scope::Tag { .. } => BTreeSet::new(),
            _ => read::future_sources(store, &b.currency, as_of, to).await?,
        };
        let first = days.map(|(first, _)| first);
        let f = forecast::forecast(&rows, month, as_of, first, &future);
        let top = top_services(&rows, &scope, month, as_of);
        statuses.push(status(b, &scope, month, as_of, f, top));
    }
    Ok(statuses)
}

fn status(
    b: &BudgetConfig,
    scope: &Scope,
    month: NaiveDate,
    as_of: NaiveDate,
    f: forecast::Forecast,
    top: Vec<Cause>,
) -> BudgetStatus {
    let hundred = Decimal::from(100);
    let percent = |v: Decimal| v * hundred / b.amount;
    let mut thresholds = b.thresholds.clone();
    thresholds.sort();
    thresholds.dedup();
    let mut crossed = Vec::new();
    for t in thresholds {
        // value / amount ≥ t / 100, without dividing.
        for (basis, value) in [(Basis::Forecast, f.forecast), (Basis::Actual, f.actual)] {
            if value * hundred >= t * b.amount {
                crossed.push(Threshold { percent: t, basis });
            }
        }
    }
    BudgetStatus {
        name: b.name.clone(),
        scope: scope.label(),
        currency: b.currency.clone(),
        metric: b.metric.clone(),
        month,
        amount: b.amount,
        actual: f.actual,
        forecast: f.forecast,
        actual_percent: percent(f.actual),
        forecast_percent: percent(f.forecast),
        crossed,
        as_of,
        parts: f.parts,
        top,
    }
}

/// The month's biggest services so far: allocated services of a team, cloud services of a
/// service (its billing sources) or of a tag value.
fn top_services(
    rows: &[forecast::DayAmount],
    scope: &Scope,
    month: NaiveDate,
    as_of: NaiveDate,
) -> Vec<Cause> {
    let (dimension, by_source) = match scope {
        Scope::Team(_) => ("service", false),
        Scope::Service(_) => ("cloud-service", true),
        Scope::Tag { .. } => ("cloud-service", false),
    };
    let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.day >= month && r.day <= as_of) {
        let value = if by_source {
            &r.cost_source
        } else {
            &r.service
        };
        *sums.entry(value.as_str()).or_default() += r.amount;
    }
    let mut top: Vec<Cause> = sums
        .into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(value, amount)| Cause {
            dimension: dimension.into(),
            value: value.into(),
            amount,
        })
        .collect();
    top.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.value.cmp(&b.value)));
    top.truncate(TOP_SERVICES);
    top
}
