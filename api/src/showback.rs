//! `costmill costs`: cost per group, currency and month with month-over-month change. Amounts of
//! two currencies are never added: every figure, total and change is per currency.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::Cell;
use queries::{q, Dec18, Param, Store};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::report::{self, currency_label, dec, money, money_in, right};

/// sql/costs_by_group.sql and sql/allocations_by_group.sql
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct GroupMonthCost {
    pub month: u32,
    pub grp: String,
    pub currency: String,
    pub billed: Dec18,
    pub effective: Dec18,
    pub list: Dec18,
}

/// sql/explain_service.sql
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct ExplainRow {
    pub kind: String,
    pub pool: String,
    pub method: String,
    pub currency: String,
    pub cost_source: String,
    pub input_ref: String,
    pub days: u64,
    pub min_share: Dec18,
    pub max_share: Dec18,
    pub billed: Dec18,
    pub effective: Dec18,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// What the invoice says (prepaid commitments when bought).
    Billed,
    /// Amortized: commitments spread over the usage they cover. The usual showback figure.
    Effective,
    /// Public list price, before any discount.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct CostsArgs {
    /// service, team or env (allocated owners, after `costmill allocate`); provider, cloud-service,
    /// service-category, sub-account, region or tag:KEY (billing dimensions).
    #[arg(long, default_value = "provider")]
    pub by: String,
    /// First day included: YYYY-MM or YYYY-MM-DD. Default: all data.
    #[arg(long)]
    pub from: Option<String>,
    /// First day excluded: YYYY-MM or YYYY-MM-DD. Default: all data.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "effective")]
    pub metric: Metric,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

impl CostsArgs {
    pub fn by(by: &str) -> CostsArgs {
        CostsArgs {
            by: by.into(),
            from: None,
            to: None,
            metric: Metric::Effective,
            format: OutputFormat::Table,
        }
    }
}

/// One group in one month and currency, against the same currency the month before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMonth {
    pub group: String,
    pub month: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub cost: Decimal,
    /// The billing currency of every amount of the row (FOCUS BillingCurrency).
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub previous: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub change: Decimal,
    /// `None` when the previous month had no cost.
    pub change_pct: Option<String>,
}

/// What `--by` groups on: a billing dimension of `focus_costs`, or an owner from `allocations`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Grouping {
    /// `(group expression name in costs_by_group.sql, tag key)`.
    Billing(&'static str, String),
    /// `service`, `team` or `env` in allocations_by_group.sql.
    Owner(&'static str),
}

pub(crate) const GROUPINGS: &str = "service, team, env (allocated owners), provider, cloud-service, service-category, sub-account, region or tag:KEY";

pub(crate) fn grouping(by: &str) -> Result<Grouping> {
    if let Some(key) = by.strip_prefix("tag:") {
        if key.is_empty() {
            bail!("--by tag: needs a tag key, e.g. --by tag:team");
        }
        return Ok(Grouping::Billing("tag", key.to_string()));
    }
    let billing = |name| Ok(Grouping::Billing(name, String::new()));
    match by {
        "service" => Ok(Grouping::Owner("service")),
        "team" => Ok(Grouping::Owner("team")),
        "env" => Ok(Grouping::Owner("env")),
        "provider" => billing("provider"),
        "cloud-service" => billing("service"),
        "service-category" => billing("service-category"),
        "sub-account" => billing("sub-account"),
        "region" => billing("region"),
        other => bail!("--by {other}: expected {GROUPINGS}"),
    }
}

/// 2100-01-01: far enough, and unlike u32::MAX it does not wrap in ClickHouse 18.16's DateTime parser.
pub(crate) const MAX_DATETIME: i64 = 4_102_444_800;

pub(crate) fn parse_day(text: &str, flag: &str) -> Result<i64> {
    let padded = if text.len() == 7 {
        format!("{text}-01")
    } else {
        text.to_string()
    };
    let day = chrono::NaiveDate::parse_from_str(&padded, "%Y-%m-%d")
        .with_context(|| format!("{flag} {text}: expected YYYY-MM or YYYY-MM-DD"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp())
}

pub async fn fetch(store: &Store, args: &CostsArgs) -> Result<Vec<GroupMonthCost>> {
    let grouping = grouping(&args.by)?;
    let by_owner = matches!(grouping, Grouping::Owner(_));
    let from = args
        .from
        .as_deref()
        .map(|t| parse_day(t, "--from"))
        .transpose()?
        .unwrap_or(0);
    let to = args
        .to
        .as_deref()
        .map(|t| parse_day(t, "--to"))
        .transpose()?
        .unwrap_or(MAX_DATETIME);
    let query = match grouping {
        Grouping::Billing(by, tag) => q::costs_by_group().bind_str("by", by).bind_str("tag", tag),
        Grouping::Owner(_) if args.metric == Metric::List => {
            bail!(
                "list cost is not allocated; use --metric effective or billed with --by {}",
                args.by
            )
        }
        Grouping::Owner(by) => q::allocations_by_group().bind_str("by", by),
    };
    let rows = store
        .fetch_all(
            &query
                .bind("from", Param::DateTime(from))
                .bind("to", Param::DateTime(to)),
        )
        .await?;
    if rows.is_empty() && by_owner {
        bail!("no allocations in that window: run `costmill allocate` first");
    }
    Ok(rows)
}

/// A day as days since 1970-01-01, for allocation windows.
pub fn parse_day_number(text: &str, flag: &str) -> Result<u16> {
    u16::try_from(parse_day(text, flag)? / 86_400)
        .with_context(|| format!("{flag} {text}: out of range"))
}

/// Fill every group × currency × month (missing = 0) and compare each month with the one
/// before, per currency.
pub fn month_over_month(
    rows: &[GroupMonthCost],
    metric: Metric,
    empty_label: &str,
) -> Vec<GroupMonth> {
    let months: BTreeSet<u32> = rows.iter().map(|r| r.month).collect();
    let mut by_group: BTreeMap<(String, String), BTreeMap<u32, Decimal>> = BTreeMap::new();
    for row in rows {
        let amount = dec(match metric {
            Metric::Billed => row.billed,
            Metric::Effective => row.effective,
            Metric::List => row.list,
        });
        let group = if row.grp.is_empty() {
            empty_label.to_string()
        } else {
            row.grp.clone()
        };
        *by_group
            .entry((group, row.currency.clone()))
            .or_default()
            .entry(row.month)
            .or_default() += amount;
    }
    let mut out = Vec::new();
    for ((group, currency), costs) in by_group {
        let mut previous = Decimal::ZERO;
        for month in &months {
            let cost = costs.get(month).copied().unwrap_or_default();
            let change = cost - previous;
            let change_pct = percent_change(previous, cost);
            out.push(GroupMonth {
                group: group.clone(),
                month: report::month(*month),
                cost,
                currency: currency.clone(),
                previous,
                change,
                change_pct,
            });
            previous = cost;
        }
    }
    out
}

/// Cost per group and month with month-over-month change, as `costmill costs` computes it.
pub async fn costs_table(store: &Store, args: &CostsArgs) -> Result<Vec<GroupMonth>> {
    let rows = fetch(store, args).await?;
    let empty = if args.by.starts_with("tag:") {
        "(untagged)"
    } else {
        "(none)"
    };
    Ok(month_over_month(&rows, args.metric, empty))
}

pub async fn print_costs(store: &Store, args: &CostsArgs) -> Result<()> {
    let table = costs_table(store, args).await?;
    match args.format {
        OutputFormat::Csv => {
            let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
            for row in &table {
                writer.serialize(row)?;
            }
            writer.flush()?;
        }
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&table)?),
        OutputFormat::Table => print_pivot(args, &table),
    }
    Ok(())
}

/// Groups as rows (one per group and currency), months as columns, sorted by currency and then
/// by the latest month; the last columns compare the latest month with the one before. Each
/// currency gets its own total row.
fn print_pivot(args: &CostsArgs, table: &[GroupMonth]) {
    let months: Vec<&str> = table
        .iter()
        .map(|r| r.month.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Some(last) = months.last().copied() else {
        println!(
            "no costs{}",
            args.from.as_ref().map(|_| " in that window").unwrap_or("")
        );
        return;
    };
    let metric = format!("{:?}Cost", args.metric);
    println!("{metric} by {}", args.by);
    let mut headers: Vec<&str> = vec![args.by.as_str(), "currency"];
    headers.extend(&months);
    headers.extend(["change", "change %"]);
    let mut out = report::table(&headers);
    let mut groups: BTreeMap<(&str, &str), Vec<&GroupMonth>> = BTreeMap::new();
    for row in table {
        groups
            .entry((&row.currency, &row.group))
            .or_default()
            .push(row);
    }
    let mut by_currency: BTreeMap<&str, Vec<(&str, Vec<&GroupMonth>)>> = BTreeMap::new();
    for ((currency, group), rows) in groups {
        by_currency.entry(currency).or_default().push((group, rows));
    }
    let latest = |rows: &Vec<&GroupMonth>| {
        rows.iter()
            .find(|r| r.month == last)
            .map(|r| r.cost)
            .unwrap_or_default()
    };
    for (currency, mut ordered) in by_currency {
        ordered.sort_by(|a, b| latest(&b.1).cmp(&latest(&a.1)).then(a.0.cmp(b.0)));
        let mut totals = vec![Decimal::ZERO; months.len()];
        for (group, rows) in &ordered {
            let mut cells = vec![Cell::new(group), Cell::new(currency_label(currency))];
            for (i, row) in rows.iter().enumerate() {
                totals[i] += row.cost;
                cells.push(right(money(row.cost)));
            }
            let latest = rows.last().expect("one row per month");
            cells.push(right(signed(latest.change)));
            cells.push(right(
                latest
                    .change_pct
                    .as_ref()
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(|| "new".into()),
            ));
            out.add_row(cells);
        }
        let mut cells = vec![Cell::new("total"), Cell::new(currency_label(currency))];
        cells.extend(totals.iter().map(|t| right(money(*t))));
        if totals.len() >= 2 {
            let (prev, cur) = (totals[totals.len() - 2], totals[totals.len() - 1]);
            cells.push(right(signed(cur - prev)));
            cells.push(right(
                percent_change(prev, cur)
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(|| "new".into()),
            ));
        }
        out.add_row(cells);
    }
    println!("{out}");
}

/// Change from `previous` to `current` in percent, one decimal; `None` when there was nothing before.
fn percent_change(previous: Decimal, current: Decimal) -> Option<String> {
    (!previous.is_zero()).then(|| {
        format!(
            "{:.1}",
            ((current - previous) * Decimal::ONE_HUNDRED / previous).round_dp(1)
        )
    })
}

/// The groups whose cost changed most from the month before the latest to the latest, `n` per
/// currency (changes in two currencies are not compared).
pub fn top_movers(table: &[GroupMonth], n: usize) -> Vec<&GroupMonth> {
    let Some(last) = table.iter().map(|r| r.month.as_str()).max() else {
        return vec![];
    };
    let mut by_currency: BTreeMap<&str, Vec<&GroupMonth>> = BTreeMap::new();
    for row in table.iter().filter(|r| r.month == last) {
        by_currency.entry(&row.currency).or_default().push(row);
    }
    let mut movers = Vec::new();
    for (_, mut latest) in by_currency {
        latest.sort_by(|a, b| {
            b.change
                .abs()
                .cmp(&a.change.abs())
                .then(a.group.cmp(&b.group))
        });
        latest.truncate(n);
        movers.extend(latest);
    }
    movers
}

pub fn print_top_movers(table: &[GroupMonth], n: usize, what: &str) {
    let movers = top_movers(table, n);
    let Some(first) = movers.first() else { return };
    println!(
        "top movers by {what} in {} (vs the month before)",
        first.month
    );
    let mut out = report::table(&[what, "currency", "previous", "cost", "change", "change %"]);
    for m in movers {
        out.add_row(vec![
            Cell::new(&m.group),
            Cell::new(currency_label(&m.currency)),
            right(money(m.previous)),
            right(money(m.cost)),
            right(signed(m.change)),
            right(
                m.change_pct
                    .as_ref()
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(|| "new".into()),
            ),
        ]);
    }
    println!("{out}");
}

/// A service's allocations of one month by origin (sql/explain_service.sql), as `explain` prints them.
pub async fn explain_rows(store: &Store, service: &str, month: &str) -> Result<Vec<ExplainRow>> {
    let day = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .with_context(|| format!("--month {month}: expected YYYY-MM"))?;
    let period = day
        .format("%Y%m")
        .to_string()
        .parse::<i128>()
        .expect("digits");
    let rows: Vec<ExplainRow> = store
        .fetch_all(
            &q::explain_service()
                .bind_str("service", service)
                .bind("month", Param::Int(period)),
        )
        .await?;
    if rows.is_empty() {
        bail!("no allocations for service `{service}` in {month}: check the name with `costmill costs --by service`, or run `costmill allocate`");
    }
    Ok(rows)
}

/// `costmill explain`: every dollar of a service's month by origin: direct rows (top inputs),
/// each pool with its method and share range, unallocated; per currency, never added.
pub async fn explain(store: &Store, service: &str, month: &str) -> Result<()> {
    let rows = explain_rows(store, service, month).await?;
    // currency → (effective, billed)
    let mut totals: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for r in &rows {
        let slot = totals.entry(&r.currency).or_default();
        slot.0 += dec(r.effective);
        slot.1 += dec(r.billed);
    }
    let summary: Vec<String> = totals
        .iter()
        .map(|(currency, (effective, billed))| {
            format!(
                "EffectiveCost {} (BilledCost {})",
                money_in(*effective, currency),
                money_in(*billed, currency)
            )
        })
        .collect();
    println!("{service} in {month}: {}", summary.join("; "));
    type Section<'a> = BTreeMap<(&'a str, &'a str, &'a str, &'a str), Vec<&'a ExplainRow>>;
    let mut sections: Section<'_> = BTreeMap::new();
    for row in &rows {
        sections
            .entry((&row.currency, &row.kind, &row.pool, &row.method))
            .or_default()
            .push(row);
    }
    let mut out = report::table(&[
        "from",
        "method",
        "share",
        "currency",
        "billing source",
        "inputs",
        "EffectiveCost",
        "% of total",
    ]);
    for ((currency, kind, pool, method), items) in &sections {
        let total = totals.get(currency).map(|t| t.0).unwrap_or_default();
        let from = if *kind == "pool" {
            format!("pool {pool}")
        } else {
            kind.to_string()
        };
        let (lo, hi) = (
            items
                .iter()
                .map(|r| dec(r.min_share))
                .min()
                .unwrap_or_default(),
            items
                .iter()
                .map(|r| dec(r.max_share))
                .max()
                .unwrap_or_default(),
        );
        let share = if *kind == "pool" {
            let pct = |d: Decimal| (d * Decimal::ONE_HUNDRED).round_dp(2);
            if lo == hi {
                format!("{}%", pct(lo))
            } else {
                format!("{}–{}%", pct(lo), pct(hi))
            }
        } else {
            "100%".into()
        };
        let mut by_source: BTreeMap<&str, (Decimal, usize)> = BTreeMap::new();
        for r in items {
            let slot = by_source.entry(&r.cost_source).or_default();
            slot.0 += dec(r.effective);
            slot.1 += 1;
        }
        let mut sources: Vec<(&str, (Decimal, usize))> = by_source.into_iter().collect();
        sources.sort_by_key(|s| std::cmp::Reverse(s.1 .0));
        for (i, (source, (amount, inputs))) in sources.iter().enumerate() {
            let first = i == 0;
            out.add_row(vec![
                Cell::new(if first { from.clone() } else { String::new() }),
                Cell::new(if first {
                    method.to_string()
                } else {
                    String::new()
                }),
                Cell::new(if first { share.clone() } else { String::new() }),
                Cell::new(currency_label(currency)),
                Cell::new(source),
                right(inputs),
                right(money(*amount)),
                right(if total.is_zero() {
                    "-".into()
                } else {
                    format!("{}%", (*amount * Decimal::ONE_HUNDRED / total).round_dp(1))
                }),
            ]);
        }
    }
    println!("{out}");
    for currency in totals.keys() {
        let mut direct: Vec<&ExplainRow> = rows
            .iter()
            .filter(|r| r.kind == "direct" && r.currency == *currency)
            .collect();
        direct.sort_by_key(|r| std::cmp::Reverse(r.effective));
        if direct.is_empty() {
            continue;
        }
        println!(
            "largest direct inputs in {} (ResourceId in focus_costs):",
            currency_label(currency)
        );
        for r in direct.iter().take(5) {
            println!(
                "  {:>16}  {} ({} days)",
                money_in(dec(r.effective), currency),
                r.input_ref,
                r.days
            );
        }
    }
    Ok(())
}

fn signed(value: Decimal) -> String {
    if value.is_sign_positive() && !value.is_zero() {
        format!("+{}", money(value))
    } else {
        money(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queries::Dec18;

    fn row(month: u32, grp: &str, effective: i128) -> GroupMonthCost {
        let d = Dec18(effective * 10i128.pow(16)); // hundredths
        GroupMonthCost {
            month,
            grp: grp.into(),
            currency: "USD".into(),
            billed: Dec18::ZERO,
            effective: d,
            list: Dec18::ZERO,
        }
    }

    #[test]
    fn fills_missing_months_and_computes_change() {
        let rows = vec![
            row(202608, "a", 10_000),
            row(202609, "a", 15_000),
            row(202609, "", 250),
        ];
        let table = month_over_month(&rows, Metric::Effective, "(untagged)");
        let find = |g: &str, m: &str| {
            table
                .iter()
                .find(|r| r.group == g && r.month == m)
                .unwrap()
                .clone()
        };
        let a = find("a", "2026-09");
        assert_eq!(a.cost, Decimal::new(150, 0));
        assert_eq!(a.previous, Decimal::new(100, 0));
        assert_eq!(a.change, Decimal::new(50, 0));
        assert_eq!(a.change_pct.as_deref(), Some("50.0"));
        let untagged = find("(untagged)", "2026-08");
        assert_eq!(untagged.cost, Decimal::ZERO);
        assert_eq!(find("(untagged)", "2026-09").change_pct, None);
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn currencies_are_never_added() {
        let mut eur = row(202609, "a", 7_000);
        eur.currency = "EUR".into();
        let rows = vec![row(202608, "a", 10_000), row(202609, "a", 15_000), eur];
        let table = month_over_month(&rows, Metric::Effective, "(none)");
        let find = |c: &str, m: &str| {
            table
                .iter()
                .find(|r| r.currency == c && r.month == m)
                .unwrap()
                .clone()
        };
        assert_eq!(find("USD", "2026-09").cost, Decimal::new(150, 0));
        assert_eq!(find("EUR", "2026-09").cost, Decimal::new(70, 0));
        assert_eq!(find("EUR", "2026-09").change_pct, None, "new in EUR");
        assert_eq!(table.len(), 4, "a in USD and a in EUR, two months each");
        let movers = top_movers(&table, 1);
        let currencies: Vec<&str> = movers.iter().map(|m| m.currency.as_str()).collect();
        assert_eq!(currencies, ["EUR", "USD"], "one mover per currency");
    }

    #[test]
    fn rejects_unknown_grouping() {
        assert!(grouping("colour").is_err());
        assert!(grouping("tag:").is_err());
        assert_eq!(
            grouping("tag:team").unwrap(),
            Grouping::Billing("tag", "team".to_string())
        );
        assert_eq!(
            grouping("cloud-service").unwrap(),
            Grouping::Billing("service", String::new())
        );
        assert_eq!(grouping("team").unwrap(), Grouping::Owner("team"));
    }
}
