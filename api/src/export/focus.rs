//! Allocation lines as FOCUS rows: the queries, the billing dimensions of each cost source, and
//! the mapping the module documentation above describes.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use clickhouse::query::RowCursor;
use ingest::focus::values::{EnumMatch, SERVICE_CATEGORY};
use queries::{q, Dec18, Param, Store};
use serde::Deserialize;

/// Days read by one query: each query sorts its lines, so ClickHouse sorts a week at a time.
const DAYS_PER_QUERY: u64 = 7;

/// Marks allocated cost from configured prices (allocator::kubernetes::PRICE_SOURCE).
const PRICE_SOURCE: &str = allocator::kubernetes::PRICE_SOURCE;

pub const BILLING_ACCOUNT_ID: &str = "costmill";
pub const BILLING_ACCOUNT_NAME: &str = "costmill allocated cost";
/// The provider, publisher and invoice issuer of cost from configured prices.
pub const COSTMILL: &str = "costmill";

/// sql/export_focus_allocations.sql
/// One line of `allocations`, as the export reads it (sql/export_focus_allocations.sql).
pub use queries::rows::AllocationRow as AllocationLine;

/// sql/export_focus_services.sql
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct BillingService {
    pub provider: String,
    pub service_name: String,
    pub service_category: String,
    pub publisher: String,
    pub invoice_issuer: String,
}

/// The FOCUS names of where an allocated line's money was billed.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub provider: String,
    pub service_name: String,
    pub service_category: String,
    pub publisher: String,
    pub invoice_issuer: String,
}

/// A date from days since 1970-01-01.
pub fn date(days: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(u64::from(days))
}

fn midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
}

/// A value of the FOCUS ServiceCategory enumeration (`Other` for anything else).
fn service_category(value: &str) -> &str {
    match SERVICE_CATEGORY.classify(value) {
        EnumMatch::Exact(v) | EnumMatch::Casing(v) => v,
        EnumMatch::Unknown => "Other",
    }
}

fn or<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.is_empty() {
        fallback
    } else {
        value
    }
}

impl Origin {
    /// From the billing rows of the line's provider and service; without them, from the cost
    /// source text alone.
    fn new(cost_source: &str, billing: Option<&BillingService>) -> Origin {
        let (provider, service_name) = cost_source.split_once(" / ").unwrap_or((cost_source, ""));
        if provider == PRICE_SOURCE {
            return Origin {
                provider: COSTMILL.into(),
                service_name: or(service_name, "configured price").into(),
                service_category: "Compute".into(),
                publisher: COSTMILL.into(),
                invoice_issuer: COSTMILL.into(),
            };
        }
        let provider = or(provider, "(none)");
        let (category, publisher, issuer) = billing
            .map(|b| {
                (
                    b.service_category.as_str(),
                    b.publisher.as_str(),
                    b.invoice_issuer.as_str(),
                )
            })
            .unwrap_or_default();
        Origin {
            provider: provider.into(),
            service_name: or(service_name, "(none)").into(),
            service_category: service_category(or(category, "Other")).into(),
            publisher: or(publisher, provider).into(),
            invoice_issuer: or(issuer, provider).into(),
        }
    }
}

/// The origin of every cost source of the window.
pub struct Origins {
    billing: HashMap<String, BillingService>,
    made: std::sync::Mutex<HashMap<String, Arc<Origin>>>,
}

impl Origins {
    pub async fn load(store: &Store, from: NaiveDate, to: NaiveDate) -> Result<Origins> {
        let rows: Vec<BillingService> = store
            .fetch_all(
                &q::export_focus_services()
                    .bind("from", Param::DateTime(midnight(from)))
                    .bind("to", Param::DateTime(midnight(to))),
            )
            .await?;
        Ok(Origins::new(rows))
    }

    pub fn new(rows: Vec<BillingService>) -> Origins {
        let billing = rows
            .into_iter()
            .map(|r| (format!("{} / {}", r.provider, r.service_name), r))
            .collect();
        Origins {
            billing,
            made: Default::default(),
        }
    }

    /// One shared value per cost source.
    pub fn of(&self, cost_source: &str) -> Arc<Origin> {
        let mut made = self.made.lock().expect("origins lock");
        if let Some(origin) = made.get(cost_source) {
            return origin.clone();
        }
        let origin = Arc::new(Origin::new(cost_source, self.billing.get(cost_source)));
        made.insert(cost_source.to_string(), origin.clone());
        origin
    }
}

/// The window's allocation lines in order, a few days per query, read with a cursor.
pub struct Lines<'a> {
    store: &'a Store,
    next_day: NaiveDate,
    to: NaiveDate,
    teams: Option<&'a [String]>,
    cursor: Option<RowCursor<AllocationLine>>,
}

impl<'a> Lines<'a> {
    pub fn new(
        store: &'a Store,
        from: NaiveDate,
        to: NaiveDate,
        teams: Option<&'a [String]>,
    ) -> Lines<'a> {
        Lines {
            store,
            next_day: from,
            to,
            teams,
            cursor: None,
        }
    }

    pub async fn next(&mut self) -> Result<Option<AllocationLine>> {
        loop {
            if let Some(cursor) = self.cursor.as_mut() {
                let line = cursor
                    .next()
                    .await
                    .context("reading allocations for the export failed")?;
                if line.is_some() {
                    return Ok(line);
                }
                self.cursor = None;
            }
            if self.next_day >= self.to {
                return Ok(None);
            }
            let from = self.next_day;
            let to = (from + chrono::Days::new(DAYS_PER_QUERY)).min(self.to);
            self.next_day = to;
            let query = q::export_focus_allocations()
                .bind("from", Param::Date(from))
                .bind("to", Param::Date(to))
                .bind("all_teams", Param::Int(i128::from(self.teams.is_none())))
                .bind(
                    "teams",
                    Param::StrArray(self.teams.map(<[String]>::to_vec).unwrap_or_default()),
                );
            let sql = query.render()?;
            self.cursor = Some(
                self.store
                    .client()
                    .query_raw(&sql)
                    .fetch::<AllocationLine>()
                    .context("reading allocations for the export failed")?,
            );
        }
    }
}

/// One FOCUS row.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusLine {
    pub day: NaiveDate,
    pub origin: Arc<Origin>,
    pub description: String,
    pub resource_id: Option<String>,
    pub tags: String,
    pub line: AllocationLine,
}

/// A value of a FOCUS row, typed as its column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Text(&'a str),
    Null,
    /// Unix seconds, UTC.
    Time(i64),
    Money(Dec18),
}

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Time,
    Money,
}

/// The columns of the export, in file order.
pub const COLUMNS: [(&str, Type); 32] = [
    ("BillingAccountId", Type::Text),
    ("BillingAccountName", Type::Text),
    ("BillingCurrency", Type::Text),
    ("BillingPeriodStart", Type::Time),
    ("BillingPeriodEnd", Type::Time),
    ("ChargePeriodStart", Type::Time),
    ("ChargePeriodEnd", Type::Time),
    ("ChargeCategory", Type::Text),
    ("ChargeClass", Type::Text),
    ("ChargeDescription", Type::Text),
    ("BilledCost", Type::Money),
    ("EffectiveCost", Type::Money),
    ("ListCost", Type::Money),
    ("ContractedCost", Type::Money),
    ("PricingQuantity", Type::Money),
    ("PricingUnit", Type::Text),
    ("InvoiceIssuerName", Type::Text),
    ("ProviderName", Type::Text),
    ("PublisherName", Type::Text),
    ("ServiceCategory", Type::Text),
    ("ServiceName", Type::Text),
    ("ResourceId", Type::Text),
    ("Tags", Type::Text),
    ("x_Team", Type::Text),
    ("x_Service", Type::Text),
    ("x_Env", Type::Text),
    ("x_AllocationKind", Type::Text),
    ("x_AllocationMethod", Type::Text),
    ("x_Pool", Type::Text),
    ("x_CostSource", Type::Text),
    ("x_InputRef", Type::Text),
    ("x_Share", Type::Money),
];

/// What an allocation line came from, without the `[spread …]` note of multi-day charges.
fn resource_of(line: &AllocationLine) -> Option<String> {
    if !matches!(line.kind.as_str(), "direct" | "unallocated") || line.input_ref.starts_with('(') {
        return None;
    }
    let resource = match line.input_ref.find(" [spread ") {
        Some(i) => &line.input_ref[..i],
        None => line.input_ref.as_str(),
    };
    (!resource.is_empty()).then(|| resource.to_string())
}

fn description(line: &AllocationLine) -> String {
    let pool = if line.pool.is_empty() {
        String::new()
    } else {
        format!(" through pool {}", line.pool)
    };
    format!(
        "{} allocation to {} by {}{pool}: {}, {}",
        line.kind, line.service, line.method, line.cost_source, line.input_ref
    )
}

fn tags(line: &AllocationLine) -> String {
    let mut tags = BTreeMap::new();
    tags.insert("team", line.team.as_str());
    tags.insert("service", line.service.as_str());
    if !line.env.is_empty() {
        tags.insert("env", line.env.as_str());
    }
    serde_json::to_string(&tags).expect("tags serialize")
}

impl FocusLine {
    pub fn new(line: AllocationLine, origins: &Origins) -> FocusLine {
        FocusLine {
            day: date(line.day),
            origin: origins.of(&line.cost_source),
            description: description(&line),
            resource_id: resource_of(&line),
            tags: tags(&line),
            line,
        }
    }

    /// The row's values, in [`COLUMNS`] order.
    pub fn values(&self) -> [Value<'_>; COLUMNS.len()] {
        use Value::{Money, Null, Text, Time};
        let month = self.day.with_day(1).expect("day 1");
        let next_month = month + chrono::Months::new(1);
        let next_day = self.day + chrono::Days::new(1);
        let l = &self.line;
        let o = &*self.origin;
        [
            Text(BILLING_ACCOUNT_ID),
            Text(BILLING_ACCOUNT_NAME),
            Text(&l.currency),
            Time(midnight(month)),
            Time(midnight(next_month)),
            Time(midnight(self.day)),
            Time(midnight(next_day)),
            Text("Usage"),
            Null,
            Text(&self.description),
            Money(l.billed),
            Money(l.effective),
            Money(l.effective),
            Money(l.effective),
            Null,
            Null,
            Text(&o.invoice_issuer),
            Text(&o.provider),
            Text(&o.publisher),
            Text(&o.service_category),
            Text(&o.service_name),
            self.resource_id.as_deref().map(Text).unwrap_or(Null),
            Text(&self.tags),
            Text(&l.team),
            Text(&l.service),
            Text(&l.env),
            Text(&l.kind),
            Text(&l.method),
            Text(&l.pool),
            Text(&l.cost_source),
            Text(&l.input_ref),
            Money(l.share),
        ]
    }
}
