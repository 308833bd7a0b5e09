//! What a budget check reads (queries/sql/budget_*.sql) and writes (`budget_status`).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use clickhouse::Row;
use queries::{q, Dec18, Param, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::forecast::{ChargeClass, DayAmount};
use super::{BudgetStatus, Scope};
use crate::model::{day_number, dec18, from_day_number};
use crate::AlertError;

/// How far back the first and last days with data are looked for.
const DATA_DAYS_BACK: i64 = 92;

/// The first and last day with usage, for allocated owners and for billed charges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataDays {
    pub owners: Option<(NaiveDate, NaiveDate)>,
    pub billing: Option<(NaiveDate, NaiveDate)>,
}

#[derive(Row, Deserialize)]
struct DataDaysRow {
    owners_first: u16,
    owners_last: u16,
    billing_first: u16,
    billing_last: u16,
}

/// Days with usage before `today` (today is never complete), within the last 92 days.
pub async fn data_days(store: &Store, today: NaiveDate) -> Result<DataDays, AlertError> {
    let query = q::budget_data_days()
        .bind(
            "from",
            Param::Date(today - chrono::Duration::days(DATA_DAYS_BACK)),
        )
        .bind("to", Param::Date(today));
    let rows: Vec<DataDaysRow> = store.fetch_all(&query).await?;
    let pair = |first: u16, last: u16| {
        (first > 0 && last > 0).then(|| (from_day_number(first), from_day_number(last)))
    };
    Ok(rows
        .first()
        .map(|r| DataDays {
            owners: pair(r.owners_first, r.owners_last),
            billing: pair(r.billing_first, r.billing_last),
        })
        .unwrap_or_default())
}

#[derive(Row, Deserialize)]
struct ChargeKeyRow {
    cost_source: String,
    currency: String,
    source_class: u8,
    refs: Vec<String>,
    classes: Vec<u8>,
}

/// The charges counted once instead of extrapolated, in one currency (budget_charge_keys.sql).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChargeKeys {
    /// `cost_source` TAB input of monthly and one-time charges of at most one day.
    pub monthly: Vec<String>,
    pub one_time: Vec<String>,
    /// Sources everything of which is monthly, one-time or spread (for pooled rows).
    pub pool_monthly: Vec<String>,
    pub pool_one_time: Vec<String>,
    pub pool_spread: Vec<String>,
}

/// Charge keys of the charges starting in `[from, to)`, per currency.
pub async fn charge_keys(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<String, ChargeKeys>, AlertError> {
    let query = q::budget_charge_keys()
        .bind("from", Param::DateTime(midnight(from)))
        .bind("to", Param::DateTime(midnight(to)));
    let mut out: BTreeMap<String, ChargeKeys> = BTreeMap::new();
    for row in store.fetch_all::<ChargeKeyRow>(&query).await? {
        let keys = out.entry(row.currency).or_default();
        for (r, class) in row.refs.iter().zip(&row.classes) {
            let key = format!("{}\t{r}", row.cost_source);
            match ChargeClass::from_code(*class) {
                ChargeClass::Monthly => keys.monthly.push(key),
                ChargeClass::OneTime => keys.one_time.push(key),
                _ => {}
            }
        }
        match ChargeClass::from_code(row.source_class) {
            ChargeClass::Monthly => keys.pool_monthly.push(row.cost_source),
            ChargeClass::OneTime => keys.pool_one_time.push(row.cost_source),
            ChargeClass::Spread => keys.pool_spread.push(row.cost_source),
            ChargeClass::Usage => {}
        }
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct AmountRow {
    day: u16,
    service: String,
    cost_source: String,
    charge_class: u8,
    charge: String,
    pooled: u8,
    amount: Dec18,
}

/// The scope's daily amounts over `[from, to)` in one currency and metric.
pub async fn amounts(
    store: &Store,
    scope: &Scope,
    currency: &str,
    metric: &str,
    keys: &ChargeKeys,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayAmount>, AlertError> {
    let list = |v: &Vec<String>| Param::StrArray(v.clone());
    let query = match scope {
        Scope::Team(value) | Scope::Service(value) => q::budget_allocations()
            .bind("from", Param::Date(from))
            .bind("to", Param::Date(to))
            .bind_str(
                "dimension",
                if matches!(scope, Scope::Team(_)) {
                    "team"
                } else {
                    "service"
                },
            )
            .bind_str("value", value.as_str())
            .bind("pool_monthly", list(&keys.pool_monthly))
            .bind("pool_one_time", list(&keys.pool_one_time))
            .bind("pool_spread", list(&keys.pool_spread)),
        Scope::Tag { key, value } => q::budget_focus()
            .bind("from", Param::DateTime(midnight(from)))
            .bind("to", Param::DateTime(midnight(to)))
            .bind_str("tag_key", key.as_str())
            .bind_str("tag_value", value.as_str()),
    }
    .bind_str("currency", currency)
    .bind_str("metric", metric)
    .bind("monthly", list(&keys.monthly))
    .bind("one_time", list(&keys.one_time));
    store
        .fetch_all::<AmountRow>(&query)
        .await?
        .into_iter()
        .map(|r| {
            Ok(DayAmount {
                day: from_day_number(r.day),
                service: r.service,
                cost_source: r.cost_source,
                class: ChargeClass::from_code(r.charge_class),
                charge: r.charge,
                pooled: r.pooled != 0,
                amount: r.amount.to_decimal()?,
            })
        })
        .collect()
}

#[derive(Row, Deserialize)]
struct FutureRow {
    day: u16,
    cost_source: String,
}

/// `(day, cost_source)` of the allocations after `as_of` and before `to`, in one currency.
pub async fn future_sources(
    store: &Store,
    currency: &str,
    as_of: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeSet<(NaiveDate, String)>, AlertError> {
    let query = q::budget_future_sources()
        .bind("after", Param::Date(as_of))
        .bind("to", Param::Date(to))
        .bind_str("currency", currency);
    Ok(store
        .fetch_all::<FutureRow>(&query)
        .await?
        .into_iter()
        .map(|r| (from_day_number(r.day), r.cost_source))
        .collect())
}

/// One row of `budget_status` (migrations/005_alerts_deliveries_budgets.sql), column for column.
#[derive(Debug, Clone, Row, Serialize)]
struct StatusRow {
    month: u16,
    budget: String,
    scope: String,
    currency: String,
    amount: Dec18,
    actual: Dec18,
    forecast: Dec18,
    computed_at: u32,
}

/// Write one `budget_status` row per status (the latest per budget and month wins).
pub async fn write_statuses(
    store: &Store,
    statuses: &[BudgetStatus],
    now: DateTime<Utc>,
) -> Result<(), AlertError> {
    if statuses.is_empty() {
        return Ok(());
    }
    let failed = |source| StoreError::Query {
        name: "insert into budget_status".into(),
        source,
    };
    let mut insert = store.insert::<StatusRow>("budget_status").await?;
    for s in statuses {
        let row = StatusRow {
            month: day_number(s.month),
            budget: s.name.clone(),
            scope: s.scope.clone(),
            currency: s.currency.clone(),
            amount: dec18(s.amount),
            actual: dec18(s.actual),
            forecast: dec18(s.forecast),
            computed_at: now.timestamp() as u32,
        };
        insert.write(&row).await.map_err(failed)?;
    }
    insert.end().await.map_err(failed)?;
    Ok(())
}

fn midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
}
