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
    /// Propose moving the pending jobs of a Slurm account (or every account) from a partition
    /// to another, such as a spot partition; the executor (`[migrations.slurm]`) moves the jobs
    /// still pending when it runs, with `scontrol update`.
    ProposeSlurm {
        /// The cluster, as named in `[[migrations.slurm.clusters]]`.
        #[arg(long)]
        cluster: String,
        /// The partition the jobs wait in.
        #[arg(long)]
        partition: String,
        /// Only this account's jobs; `*` for every account.
        #[arg(long, default_value = "*")]
        account: String,
        /// The partition they move to.
        #[arg(long, default_value = "spot")]
        to: String,
        /// Do not mark moved jobs requeueable (by default a preempted spot job is requeued,
        /// not lost).
        #[arg(long)]
        no_requeue: bool,
        /// The team and service the moved jobs are billed to (for lists, policy and the API).
        #[arg(long, default_value = "")]
        team: String,
        #[arg(long, default_value = "")]
        service: String,
        /// Your estimate of the saving per month, if you have one (kept as given).
        #[arg(long, default_value = "0")]
        saving_month: String,
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
    /// Carry out approved migrations and requested rollbacks within `[migrations.policy]`
    /// (what `costmill serve` does on `[migrations] schedule`). By default a dry run, which only
    /// shows what each executor would send; --apply (or `dry_run = false`) changes workloads.
    Execute {
        /// Change the workloads (overrides the policy's dry_run for this run).
        #[arg(long)]
        apply: bool,
        /// Only this migration.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// The saving of moved workloads measured from their allocated cost before and after the
    /// move, beside the estimate (run `costmill allocate` over the days after a move first).
    Report {
        /// Whole days measured on each side of the move.
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
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

pub async fn run(
    store: &Store,
    config: &optimizer::execute::MigrationsConfig,
    command: MigrationsCommand,
) -> Result<()> {
    match command {
        MigrationsCommand::Execute { apply, id, format } => {
            let dry_run = config.policy.dry_run && !apply;
            let items = crate::migrations_exec::execute(store, config, apply, id).await?;
            crate::migrations_exec::print_run(&items, dry_run, format)?;
            let failed = items
                .iter()
                .filter(|i| matches!(i.result, "failed" | "error"))
                .count();
            if failed > 0 {
                anyhow::bail!(
                    "{failed} migration(s) failed or could not be carried out (see above)"
                );
            }
        }
        MigrationsCommand::Report { days, format } => {
            let rows = optimizer::report::measure(store, days, chrono::Utc::now()).await?;
            crate::migrations_exec::print_report(&rows, format)?;
        }
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
                if workload.starts_with("slurm://") {
                    println!("proposed {id}: {workload} to the cloud (a SkyPilot task)");
                } else {
                    println!("proposed {id}: {workload} to the spot pool ({label}={value})");
                }
            }
        }
        MigrationsCommand::ProposeSlurm {
            cluster,
            partition,
            account,
            to,
            no_requeue,
            team,
            service,
            saving_month,
        } => {
            let saving: rust_decimal::Decimal = saving_month.parse().map_err(|_| {
                anyhow::anyhow!("--saving-month {saving_month:?}: expected an amount")
            })?;
            let evidence = serde_json::json!({
                "saving_month": if saving.is_zero() { "not estimated".to_string() } else { format!("{saving} (given by {})", actor()) },
            });
            let proposal = optimizer::execute::slurm::proposal(
                &cluster,
                &partition,
                &account,
                &to,
                !no_requeue,
                saving,
                "USD",
                evidence,
                &team,
                &service,
            );
            let id = migration::propose(store, &proposal, &actor()).await?;
            println!(
                "proposed {id}: pending jobs of {} on {cluster}/{partition} to {to}; approve it with `costmill migrations approve {id}`",
                if account == "*" { "every account".to_string() } else { format!("account {account}") }
            );
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
