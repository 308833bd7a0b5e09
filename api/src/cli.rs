use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ingest::generate::{Flavor, FocusVersion};
use queries::Store;

use crate::config::{self, Loaded};
use crate::{demo, ingest_cmd, report, showback};

#[derive(Debug, Parser)]
#[command(
    name = "costmill",
    version,
    about = "What your software really costs: FOCUS billing in ClickHouse, showback per team"
)]
pub struct Cli {
    /// Config file. Default: ./costmill.toml when present.
    #[arg(long, global = true, env = "COSTMILL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log progress details to stderr (COSTMILL_LOG sets a full filter).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a realistic multi-cloud dataset, ingest it and print the showback.
    Demo {
        #[arg(long, default_value_t = 60_000)]
        rows: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The database: migrations and the managed server.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Load billing data.
    Ingest {
        #[command(subcommand)]
        command: IngestCommand,
    },
    /// Cost per group and month, with month-over-month change.
    Costs(showback::CostsArgs),
    /// Split every dollar to a service, team and env (replaces the window's days atomically).
    Allocate {
        /// First day: YYYY-MM or YYYY-MM-DD. Default: the first day with cost data.
        #[arg(long)]
        from: Option<String>,
        /// First day not included. Default: the day after the last day with cost data.
        #[arg(long)]
        to: Option<String>,
    },
    /// Where a service's money in one month came from: direct rows, pools and their shares.
    Explain {
        #[arg(long)]
        service: String,
        /// YYYY-MM.
        #[arg(long)]
        month: String,
    },
    /// Generate seeded test data.
    Generate {
        #[command(subcommand)]
        command: GenerateCommand,
    },
    /// Run the configured sources on their schedules, allocate what they change, answer
    /// /healthz and /readyz.
    Serve(crate::serve::ServeArgs),
    /// Spend spikes, month-over-month changes and budget alerts.
    Alerts {
        #[command(subcommand)]
        command: crate::alerts_cmd::AlertsCommand,
    },
    /// Budget status: actual and month-end forecast against each [[budgets]] entry.
    Budgets {
        #[arg(long, value_enum, default_value = "table")]
        format: showback::OutputFormat,
    },
    /// Reports: the weekly email.
    Report {
        #[command(subcommand)]
        command: crate::alerts_cmd::ReportCommand,
    },
    /// Allocated cost as FOCUS 1.2 rows, for other FinOps tools.
    Export {
        #[command(subcommand)]
        command: crate::export::ExportCommand,
    },
    /// Bearer tokens of the REST API (`costmill serve`).
    Tokens {
        #[command(subcommand)]
        command: crate::tokens::TokensCommand,
    },
    /// The configured sources.
    Sources {
        #[command(subcommand)]
        command: SourcesCommand,
    },
    /// The instance price catalog (SkyPilot-format, every provider): import, list.
    Catalog {
        #[command(subcommand)]
        command: crate::optimize_cmd::CatalogCommand,
    },
    /// The cheapest instances for a workload across providers, regions and spot/on demand.
    Placement(crate::optimize_cmd::PlacementArgs),
    /// Recommendations with their evidence: Kubernetes workloads to spot and rightsized, Slurm
    /// jobs to the cloud, billed VMs to a cheaper family or spot
    /// (stored for /v1/recommendations and the weekly email).
    Recommend(crate::recommend_cmd::RecommendArgs),
    /// Workload migrations to cheaper capacity: plan, list, show, approve, execute (within the
    /// policy), roll back, and report the measured saving.
    Migrations {
        #[command(subcommand)]
        command: crate::migrations_cmd::MigrationsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Per source: schedule, last run, lag, rows, totals, last error.
    Status {
        #[arg(long, value_enum, default_value = "table")]
        format: showback::OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; errors name the key.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Show the server and every migration with its state.
    Status,
    /// Stop the managed ClickHouse server.
    Stop,
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Ingest FOCUS exports (CSV, CSV.gz, Parquet). A billing month already ingested for the same
    /// source is replaced atomically.
    Focus(FocusArgs),
    /// Per-service daily metrics for proportional pools: CSV (date,metric,service,value) or JSON
    /// lines. A value re-sent for the same date, metric and service replaces the earlier one.
    Metrics {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Source name, for `costmill sources status`.
        #[arg(long, default_value = "metrics")]
        source: String,
        #[arg(long, default_value_t = 20)]
        max_errors: usize,
    },
    /// Slurm accounting from files: `sacct --parsable2` output with its header (e.g. `sacct -a
    /// -X --parsable2 --format=Cluster,JobID,JobName,Partition,Account,User,AllocTRES,Start,End,State`)
    /// or `sacct --json`. A job seen again (a running job that has ended) replaces its record.
    Slurm {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The cluster of records without a Cluster field.
        #[arg(long, default_value = "slurm")]
        cluster: String,
        #[arg(long, default_value_t = 20)]
        max_errors: usize,
    },
    /// Kubernetes usage from `kubectl get nodes,pods -A -o json` dumps (and optional PodMetrics,
    /// ReplicaSet and Job lists), files or directories, folded into hourly windows; each dump
    /// is a sample at its file's modified time, or at --at.
    Kubernetes {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The cluster the dumps are of.
        #[arg(long)]
        cluster: String,
        /// The time of every dump, RFC 3339 (e.g. 2026-11-20T10:00:00Z).
        #[arg(long)]
        at: Option<String>,
    },
    /// Run the sources configured in costmill.toml.
    Run {
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct FocusArgs {
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Source name: what a re-ingest replaces is this source's billing months.
    #[arg(long, default_value = "focus")]
    pub source: String,
    /// Refuse spec deviations instead of counting them.
    #[arg(long)]
    pub strict: bool,
    /// List up to this many problems.
    #[arg(long, default_value_t = 20)]
    pub max_errors: usize,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// A FOCUS export.
    Focus(GenerateFocusArgs),
    /// A Kubernetes cluster as `kubectl get -o json` prints it (nodes, pods, owners, PodMetrics).
    Kubernetes(crate::generate_usage::GenerateKubernetesArgs),
    /// Slurm accounting as `sacct --parsable2` or `sacct --json` prints it.
    Slurm(crate::generate_usage::GenerateSlurmArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FileFormat {
    Csv,
    CsvGz,
}

#[derive(Debug, Args)]
pub struct GenerateFocusArgs {
    #[arg(long, default_value_t = 20_000)]
    pub rows: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First billing month, YYYY-MM.
    #[arg(long, default_value = "2026-08")]
    pub start: String,
    #[arg(long, default_value_t = 3)]
    pub months: u32,
    /// export (as real exports: NULL, ISO 8601, spec deviations) or clickhouse (what
    /// clickhouse-client loads).
    #[arg(long, default_value = "export")]
    pub flavor: Flavor,
    /// 1.2, or 1.0 (ProviderName, … headers).
    #[arg(long = "focus-version", default_value = "1.2")]
    pub version: FocusVersion,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FileFormat,
    /// Output file. Default: standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub async fn run(cli: Cli) -> Result<()> {
    let loaded = || config::load(cli.config.as_deref()).map_err(anyhow::Error::from);
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let Loaded { config, file } = loaded()?;
            let from = file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "defaults and environment".into());
            println!("configuration OK ({from})");
            match &config.clickhouse.url {
                Some(url) => println!(
                    "  clickhouse: {url} (database {})",
                    config.clickhouse.database
                ),
                None => println!(
                    "  clickhouse: managed server under {} (database {})",
                    queries::server::server_dir(&config.data_dir).display(),
                    config.clickhouse.database
                ),
            }
            println!("  sources: {}", config.sources.len());
            let slack = &config.alerts.slack;
            println!(
                "  alerts: {} (Slack: {} webhook(s))",
                config.alerts.schedule,
                usize::from(!slack.webhook_url.is_empty()) + slack.teams.len(),
            );
            println!("  budgets: {}", config.budgets.len());
            println!(
                "  weekly email: {} ({} team(s), {} FinOps recipient(s))",
                config.email.schedule,
                config.email.teams.len(),
                config.email.finops.len()
            );
            Ok(())
        }
        Command::Db { command } => {
            let Loaded { config, .. } = loaded()?;
            match command {
                DbCommand::Stop => {
                    if queries::server::stop(&config.data_dir)? {
                        println!("stopped the managed ClickHouse server");
                    } else {
                        println!("no managed ClickHouse server was running");
                    }
                }
                DbCommand::Migrate => {
                    let store = Store::connect(&config.clickhouse, &config.data_dir).await?;
                    let applied = store.migrate().await?;
                    if applied.is_empty() {
                        println!("schema is up to date");
                    }
                    for name in applied {
                        println!("applied {name}");
                    }
                }
                DbCommand::Status => {
                    let store = Store::connect(&config.clickhouse, &config.data_dir).await?;
                    match queries::server::running(&config.data_dir)
                        .filter(|_| config.clickhouse.url.is_none())
                    {
                        Some(state) => println!(
                            "server: managed, pid {}, {} (database {})",
                            state.pid,
                            store.url(),
                            store.database()
                        ),
                        None => println!("server: {} (database {})", store.url(), store.database()),
                    }
                    for m in store.migration_status().await? {
                        let state = match m.applied_at {
                            Some(at) => format!("applied {}", report::datetime(at)),
                            None => "pending".into(),
                        };
                        println!("  {:03} {:<40} {state}", m.version, m.name);
                    }
                }
            }
            Ok(())
        }
        Command::Ingest { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            ingest_cmd::run(&store, &config, command).await
        }
        Command::Serve(args) => {
            let Loaded { config, .. } = loaded()?;
            crate::serve::serve(config, args).await
        }
        Command::Sources {
            command: SourcesCommand::Status { format },
        } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::serve::print_status(&store, &config, format).await
        }
        Command::Alerts { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::alerts_cmd::alerts(&store, &config, command).await
        }
        Command::Budgets { format } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::alerts_cmd::budgets(&store, &config, format).await
        }
        Command::Report { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::alerts_cmd::report(&store, &config, command).await
        }
        Command::Export { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::export::run(&store, command).await
        }
        Command::Tokens { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::tokens::run(&store, command).await
        }
        Command::Catalog { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::optimize_cmd::catalog(&store, command).await
        }
        Command::Recommend(args) => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::recommend_cmd::run(&store, args).await
        }
        Command::Migrations { command } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::migrations_cmd::run(&store, &config.migrations, command).await
        }
        Command::Placement(args) => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            crate::optimize_cmd::placement(&store, args).await
        }
        Command::Costs(args) => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            showback::print_costs(&store, &args).await
        }
        Command::Allocate { from, to } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            if config.allocation.rules.is_empty() {
                bail!("no [[allocation.rules]] in the configuration: every dollar would be unallocated. See api/src/demo_allocation.toml for an example");
            }
            let window = match (from, to) {
                (None, None) => None,
                (Some(from), Some(to)) => Some((
                    showback::parse_day_number(&from, "--from")?,
                    showback::parse_day_number(&to, "--to")?,
                )),
                _ => bail!("give both --from and --to, or neither for every day with cost data"),
            };
            let options = allocator::run::AllocateOptions {
                cancel: crate::interrupt::cancel_on_signals(),
                ..allocator::run::AllocateOptions::default()
            };
            let report =
                allocator::run::run_with(&store, &config.allocation, window, &options).await?;
            report::print_allocation(&report);
            Ok(())
        }
        Command::Explain { service, month } => {
            let Loaded { config, .. } = loaded()?;
            let store = Store::open(&config.clickhouse, &config.data_dir).await?;
            showback::explain(&store, &service, &month).await
        }
        Command::Generate {
            command: GenerateCommand::Focus(args),
        } => demo::generate_focus(&args),
        Command::Generate {
            command: GenerateCommand::Kubernetes(args),
        } => crate::generate_usage::kubernetes(&args),
        Command::Generate {
            command: GenerateCommand::Slurm(args),
        } => crate::generate_usage::slurm(&args),
        Command::Demo { rows, seed } => {
            let Loaded { config, .. } = loaded()?;
            demo::demo(&config, rows, seed).await
        }
    }
}
