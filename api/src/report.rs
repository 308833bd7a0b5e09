//! Human-readable output shared by the commands.
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use ingest::IngestReport;
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
    let rounded = value.round_dp(2);
    let text = format!("{:.2}", rounded.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}.{frac}")
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

pub fn print_ingest(report: &IngestReport) {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "ingested {} rows from {} file{} into source `{}` in {:.1} s ({:.0} rows/s), batch {}",
        report.rows,
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" },
        report.source,
        secs,
        report.rows as f64 / secs,
        report.batch_id
    );
    for file in &report.files {
        if !file.ignored_columns.is_empty() {
            println!(
                "  {}: ignored non-FOCUS columns {}",
                file.path.display(),
                file.ignored_columns.join(", ")
            );
        }
    }
    if !report.replaced.is_empty() {
        let months: Vec<String> = report.replaced.iter().map(|p| month(p.period)).collect();
        println!(
            "  billing months replaced atomically: {}",
            months.join(", ")
        );
    }
    if !report.deviations.is_empty() {
        println!("  spec deviations (ingested; --strict refuses them):");
        let mut t = table(&["deviation", "column", "rows", "first seen"]);
        for d in &report.deviations {
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
        "rows",
        "BilledCost",
        "EffectiveCost",
    ]);
    for total in &report.totals {
        t.add_row(vec![
            Cell::new(&total.provider),
            Cell::new(month(total.period)),
            right(total.rows),
            right(money(dec(total.billed))),
            right(money(dec(total.effective))),
        ]);
    }
    println!("{t}");
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

pub fn print_allocation(report: &allocator::run::AllocateReport) {
    let (from, to) = report.window;
    if from >= to {
        println!("nothing to allocate: no cost data");
        return;
    }
    println!(
        "allocated {} to {} ({} days) in {:.1} s: {} cost groups → {} allocation rows, run {}; conservation checked",
        allocator::run::day_string(from),
        allocator::run::day_string(to - 1),
        to - from,
        report.elapsed.as_secs_f64(),
        report.input_groups,
        report.allocations,
        report.run_id
    );
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
    let mut t = table(&["kind", "EffectiveCost"]);
    for (kind, amount) in &report.by_kind {
        t.add_row(vec![Cell::new(kind), right(money(dec(*amount)))]);
    }
    println!("{t}");
}
