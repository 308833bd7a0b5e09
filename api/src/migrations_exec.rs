//! `costmill migrations execute` (one executor run under the policy) and `costmill migrations
//! report` (the measured saving of moved workloads).
use anyhow::{Context, Result};
use comfy_table::Cell;
use optimizer::execute::runner::{self, RunItem, RunOptions};
use optimizer::execute::MigrationsConfig;
use optimizer::report::Measured;
use queries::Store;

use crate::report::right;
use crate::showback::OutputFormat;

/// One executor run: what `costmill serve` does on `[migrations] schedule`.
pub async fn execute(
    store: &Store,
    config: &MigrationsConfig,
    apply: bool,
    only: Option<String>,
) -> Result<Vec<RunItem>> {
    let policy = config.policy.compile()?;
    let executors = config
        .executors()
        .await
        .context("could not set up the migration executors ([migrations] in costmill.toml)")?;
    let options = RunOptions {
        dry_run: policy.dry_run && !apply,
        only,
        now: chrono::Utc::now(),
    };
    Ok(runner::run(store, &executors, &policy, &options).await?)
}

pub fn print_run(items: &[RunItem], dry_run: bool, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(items)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(["id", "kind", "workload", "step", "result", "message"])?;
            for i in items {
                out.write_record([&i.id, &i.kind, &i.workload, i.step, i.result, &i.message])?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            if items.is_empty() {
                println!("no approved migration or rollback to carry out");
            } else {
                let mut table =
                    crate::report::table(&["id", "workload", "step", "result", "message"]);
                for i in items {
                    table.add_row(vec![
                        Cell::new(&i.id),
                        Cell::new(&i.workload),
                        Cell::new(i.step),
                        Cell::new(i.result),
                        Cell::new(&i.message),
                    ]);
                }
                println!("{table}");
            }
            if dry_run {
                println!("dry run: nothing was changed (--apply, or [migrations.policy] dry_run = false, to carry it out)");
            }
        }
    }
    Ok(())
}

fn money(value: Option<rust_decimal::Decimal>) -> String {
    value.map_or(String::new(), |v| v.round_dp(2).to_string())
}

pub fn print_report(rows: &[Measured], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record([
                "id",
                "workload",
                "team",
                "status",
                "moved_at",
                "currency",
                "estimated_saving_monthly",
                "before_monthly",
                "after_monthly",
                "measured_saving_monthly",
                "before_days",
                "after_days",
                "note",
            ])?;
            for r in rows {
                let opt =
                    |v: Option<rust_decimal::Decimal>| v.map_or(String::new(), |v| v.to_string());
                out.write_record([
                    r.id.clone(),
                    r.workload.clone(),
                    r.team.clone(),
                    r.status.clone(),
                    r.moved_at.clone(),
                    r.currency.clone(),
                    r.estimated_saving_monthly.to_string(),
                    opt(r.before_monthly),
                    opt(r.after_monthly),
                    opt(r.measured_saving_monthly),
                    r.before_days.to_string(),
                    r.after_days.to_string(),
                    r.note.clone(),
                ])?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            if rows.is_empty() {
                println!("no migration has been applied yet");
                return Ok(());
            }
            let mut table = crate::report::table(&[
                "id",
                "workload",
                "moved",
                "estimated/month",
                "before/month",
                "after/month",
                "measured/month",
                "days before/after",
                "note",
            ]);
            for r in rows {
                table.add_row(vec![
                    Cell::new(&r.id),
                    Cell::new(&r.workload),
                    Cell::new(&r.moved_at[..10.min(r.moved_at.len())]),
                    right(format!(
                        "{} {}",
                        r.estimated_saving_monthly.round_dp(2),
                        r.currency
                    )),
                    right(money(r.before_monthly)),
                    right(money(r.after_monthly)),
                    right(money(r.measured_saving_monthly)),
                    right(format!("{}/{}", r.before_days, r.after_days)),
                    Cell::new(&r.note),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(())
}
