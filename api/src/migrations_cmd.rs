//! `costmill migrations`: the workload migrations the optimizer proposed, their audit trail, and
//! the two decisions people take on them (as `/v1/migrations` of the API).
use anyhow::Result;
use clap::Subcommand;
use comfy_table::Cell;
use optimizer::migration::{self, Action, Filter, Status};
use queries::Store;

use crate::http::migrations::{event, view, MigrationDetail};
use crate::showback::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum MigrationsCommand {
    /// Migrations with their status, newest first.
    List {
        /// Only these statuses (repeatable): proposed, approved, applied, failed,
        /// rollback_requested, rolled_back, rejected.
        #[arg(long = "status")]
        statuses: Vec<String>,
        /// Only this team (repeatable).
        #[arg(long = "team")]
        teams: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Propose a spot migration for every latest spot recommendation (`costmill recommend`)
    /// whose workload has no migration under way. Proposals move nothing until approved.
    Plan {
        /// Only recommendations saving at least this much a month.
        #[arg(long, default_value = "0")]
        min_saving: String,
        /// The spot pool's node label, KEY=VALUE: the patch selects it and tolerates its taint.
        #[arg(
            long,
            default_value = "karpenter.sh/capacity-type=spot",
            value_name = "KEY=VALUE"
        )]
        spot_selector: String,
    },
    /// One migration with its specs, evidence and audit trail, as JSON.
    Show { id: String },
    /// Allow a proposed migration; the executor applies it within the policy.
    Approve {
        id: String,
        /// Why (kept in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Ask for an applied (or failed) migration to be undone by the executor.
    Rollback {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Who acts from the command line: `cli:$USER`.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub async fn run(store: &Store, command: MigrationsCommand) -> Result<()> {
    match command {
        MigrationsCommand::List {
            statuses,
            teams,
            format,
        } => {
            let statuses = statuses
                .iter()
                .map(|s| {
                    Status::parse(s).ok_or_else(|| {
                        anyhow::anyhow!("--status {s:?}: expected proposed, approved, applied, failed, rollback_requested, rolled_back or rejected")
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let filter = Filter {
                statuses,
                teams,
                ..Filter::default()
            };
            let rows: Vec<_> = migration::list(store, &filter)
                .await?
                .into_iter()
                .map(view)
                .collect();
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                OutputFormat::Csv => {
                    let mut out = csv::Writer::from_writer(std::io::stdout());
                    out.write_record([
                        "id",
                        "status",
                        "kind",
                        "workload",
                        "team",
                        "from",
                        "to",
                        "saving_month",
                        "currency",
                        "updated_at",
                        "updated_by",
                    ])?;
                    for m in &rows {
                        out.write_record([
                            &m.id,
                            &m.status,
                            &m.kind,
                            &m.workload,
                            &m.team,
                            &m.from_placement,
                            &m.to_placement,
                            &m.saving_month,
                            &m.currency,
                            &m.updated_at,
                            &m.updated_by,
                        ])?;
                    }
                    out.flush()?;
                }
                OutputFormat::Table => {
                    if rows.is_empty() {
                        println!("no migrations");
                        return Ok(());
                    }
                    let mut table = crate::report::table(&[
                        "id",
                        "status",
                        "workload",
                        "team",
                        "from",
                        "to",
                        "saving/month",
                    ]);
                    for m in &rows {
                        table.add_row(vec![
                            Cell::new(&m.id),
                            Cell::new(&m.status),
                            Cell::new(&m.workload),
                            Cell::new(&m.team),
                            Cell::new(&m.from_placement),
                            Cell::new(&m.to_placement),
                            Cell::new(format!("{} {}", m.saving_month, m.currency)),
                        ]);
                    }
                    println!("{table}");
                }
            }
        }
        MigrationsCommand::Plan {
            min_saving,
            spot_selector,
        } => {
            let min_saving: rust_decimal::Decimal = min_saving
                .parse()
                .map_err(|_| anyhow::anyhow!("--min-saving {min_saving:?}: expected an amount"))?;
            let (label, value) = spot_selector.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--spot-selector {spot_selector:?}: expected KEY=VALUE")
            })?;
            let pool = optimizer::plan::SpotPool {
                label: label.trim().to_string(),
                value: value.trim().to_string(),
            };
            let proposed = optimizer::plan::plan(store, &pool, min_saving, &actor()).await?;
            if proposed.is_empty() {
                println!(
                    "nothing new to propose (no spot recommendation without a migration under way)"
                );
            }
            for (id, workload) in proposed {
                println!("proposed {id}: {workload} to the spot pool ({label}={value})");
            }
        }
        MigrationsCommand::Show { id } => {
            let row = migration::get(store, &id).await?;
            let events = migration::events(store, &id).await?;
            let detail = MigrationDetail {
                migration: view(row),
                events: events.into_iter().map(event).collect(),
            };
            println!("{}", serde_json::to_string_pretty(&detail)?);
        }
        MigrationsCommand::Approve { id, reason } => {
            let row = migration::act(store, &id, Action::Approve, &actor(), &reason).await?;
            println!("migration {} is {}", row.id, row.status);
        }
        MigrationsCommand::Rollback { id, reason } => {
            let row = migration::act(store, &id, Action::Rollback, &actor(), &reason).await?;
            println!("migration {} is {}", row.id, row.status);
        }
    }
    Ok(())
}
