//! Human-readable output shared by the commands.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use ingest::sink::{FocusDetail, Staged};
use ingest::RunReport;
use queries::commit::CommitReport;
use queries::Dec18;
use rust_decimal::Decimal;

pub fn datetime(secs: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(secs), 0)
        .map(queries::format_datetime)
        .unwrap_or_else(|| secs.to_string())
}

/// `202409` → `2024-09`.
pub fn month(period: u32) -> String {
    format!("{}-{:02}", period / 100, period % 100)
}

/// Money for people: two decimals, thousands separators. Exact values go to csv/json.
pub fn money(value: Decimal) -> String {
    queries::money::display(value)
}

pub fn dec(value: Dec18) -> Decimal {
    value.to_decimal().unwrap_or_else(|e| panic!("{e}"))
}

pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(headers.iter().map(|h| Cell::new(h)));
    table
}

pub fn right(text: impl ToString) -> Cell {
    Cell::new(text.to_string()).set_alignment(CellAlignment::Right)
}

pub fn print_ingest(report: &RunReport) {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    if report.commits.is_empty() {
        println!(
            "source `{}`: nothing new to ingest ({:.1} s)",
            report.source, secs
        );
        return;
    }
    for (staged, commit) in &report.commits {
        match &staged.focus {
            Some(focus) => print_focus(report, staged, commit, focus, secs),
            None if staged.table == "service_metrics" => println!(
                "ingested {} metric values ({}) from source `{}` in {:.1} s, batch {}",
                staged.rows,
                staged.subjects.join(", "),
                report.source,
                secs,
                commit.batch_id
            ),
            None => println!(
                "ingested {} rows into {} from source `{}` in {:.1} s, batch {}{}",
                staged.rows,
                staged.table,
                report.source,
                secs,
                commit.batch_id,
                staged
                    .days
                    .map(|(a, b)| format!(
                        " (days {} to {})",
                        allocator::run::day_string(a),
                        allocator::run::day_string(b - 1)
                    ))
                    .unwrap_or_default()
            ),
        }
    }
}

fn print_focus(
    report: &RunReport,
    staged: &Staged,
    commit: &CommitReport,
    focus: &FocusDetail,
    secs: f64,
) {
    println!(
        "ingested {} rows from {} file{} into source `{}` in {:.1} s ({:.0} rows/s), batch {}",
        staged.rows,
        focus.files.len(),
        if focus.files.len() == 1 { "" } else { "s" },
        report.source,
        secs,
        staged.rows as f64 / secs,
        commit.batch_id
    );
    for file in &focus.files {
        if !file.ignored_columns.is_empty() {
            println!(
                "  {}: ignored non-FOCUS columns {}",
                file.path.display(),
                file.ignored_columns.join(", ")
            );
        }
    }
    let months: std::collections::BTreeSet<String> =
        focus.totals.iter().map(|t| month(t.period)).collect();
    if !months.is_empty() {
        println!(
            "  billing months replaced: {} (each month in one step; a failed batch changes none)",
            months.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    for replaced in &focus.replaced_files {
        println!(
            "  warning: {} of source `{}` held rows from {}, which this run did not bring again; \
             they were replaced. Give every part-file of a month in one run",
            month(replaced.period),
            report.source,
            replaced.file
        );
    }
    if !focus.deviations.is_empty() {
        println!("  spec deviations (ingested; --strict refuses them):");
        let mut t = table(&["deviation", "column", "rows", "first seen"]);
        for d in &focus.deviations {
            t.add_row(vec![
                Cell::new(d.kind.describe()),
                Cell::new(&d.column),
                right(d.count),
                Cell::new(&d.first_seen),
            ]);
        }
        println!("{t}");
    }
    let mut t = table(&[
        "provider",
        "billing month",
        "currency",
        "rows",
        "BilledCost",
        "EffectiveCost",
    ]);
    for total in &focus.totals {
        t.add_row(vec![
            Cell::new(&total.provider),
            Cell::new(month(total.period)),
            Cell::new(&total.currency),
            right(total.rows),
            right(money(dec(total.billed))),
            right(money(dec(total.effective))),
        ]);
    }
    println!("{t}");
}

pub fn print_allocation(report: &allocator::run::AllocateReport) {
    let (from, to) = report.window;
    if from >= to {
        println!("nothing to allocate: no cost data");
        return;
    }
    println!(
        "allocated {} to {} ({} days) in {:.1} s: {} cost groups ({} daily shares of multi-day charges) → {} allocation rows, run {}; conservation checked before the swap",
        allocator::run::day_string(from),
        allocator::run::day_string(to - 1),
        to - from,
        report.elapsed.as_secs_f64(),
        report.input_groups,
        report.spread_shares,
        report.allocations,
        report.run_id
    );
    if report.days_dropped > 0 {
        println!(
            "  {} days of the window had no cost: their old allocations were removed",
            report.days_dropped
        );
    }
    if report.unpriced_node_days > 0 {
        println!(
            "  warning: {} Kubernetes node-days had no billing rows and no [allocation.kubernetes] instance_prices entry; their workloads got no cost",
            report.unpriced_node_days
        );
    }
    if report.unpriced_job_days > 0 {
        println!(
            "  warning: {} Slurm job-days ran in partitions without [allocation.slurm.partitions] rates or node cost; they got no cost",
            report.unpriced_job_days
        );
    }
    // One row per kind and currency: amounts of two currencies are never added.
    let mut t = table(&["kind", "currency", "EffectiveCost"]);
    for (kind, currency, amount) in &report.by_kind {
        t.add_row(vec![
            Cell::new(kind),
            Cell::new(currency_label(currency)),
            right(money(dec(*amount))),
        ]);
    }
    println!("{t}");
}

/// A currency code for people: `(none)` when the bill left BillingCurrency empty.
pub fn currency_label(code: &str) -> &str {
    if code.is_empty() {
        "(none)"
    } else {
        code
    }
}

/// An amount with its currency, `1,234.50 USD`.
pub fn money_in(value: Decimal, currency: &str) -> String {
    format!("{} {}", money(value), currency_label(currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_groups_thousands_and_rounds() {
        assert_eq!(
            money(Decimal::from_str("1234567.891").unwrap()),
            "1,234,567.89"
        );
        assert_eq!(money(Decimal::from_str("-0.004").unwrap()), "0.00");
        assert_eq!(money(Decimal::from_str("-999.995").unwrap()), "-1,000.00");
        assert_eq!(money(Decimal::from_str("12").unwrap()), "12.00");
    }
}
