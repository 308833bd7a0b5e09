use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::generate::{self, Flavor, FocusVersion, GenerateOptions};
use ingest::{FocusIngest, IngestReport};
use queries::Store;

use crate::config::{self, Loaded};
use crate::{report, showback};

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
    /// Per-service daily metrics for proportional pools: CSV (date,metric,service,value) or JSON lines.
    Metrics {
        path: PathBuf,
        #[arg(long, default_value_t = 20)]
        max_errors: usize,
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
    #[arg(long, value_enum, default_value = "export")]
    pub flavor: Flavor,
    #[arg(long = "focus-version", value_enum, default_value = "1.2")]
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
            match command {
                IngestCommand::Focus(args) => {
                    let job = FocusIngest {
                        paths: ingest::source::expand_paths(&args.paths),
                        source: args.source,
                        strict: args.strict,
                        max_errors: args.max_errors,
                    };
                    let progress = progress_bar();
                    let result = job.run(&store, &progress).await;
                    progress.finish_and_clear();
                    report::print_ingest(&result?);
                }
                IngestCommand::Metrics { path, max_errors } => {
                    let report = ingest::metrics::ingest_metrics(&store, &path, max_errors).await?;
                    println!(
                        "ingested {} metric values ({})",
                        report.rows,
                        report.metrics.join(", ")
                    );
                }
                IngestCommand::Run { source } => {
                    let selected: Vec<_> = config
                        .sources
                        .iter()
                        .filter(|s| source.as_deref().is_none_or(|n| n == s.name()))
                        .collect();
                    if selected.is_empty() {
                        bail!(
                            "no [[sources]] in the configuration{}",
                            source.map(|s| format!(" named `{s}`")).unwrap_or_default()
                        );
                    }
                    for source in selected {
                        let progress = progress_bar();
                        let result = source.build().run(&store, &progress).await;
                        progress.finish_and_clear();
                        let report =
                            result.with_context(|| format!("source `{}`", source.name()))?;
                        report::print_ingest(&report);
                    }
                }
            }
            Ok(())
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
            let report = allocator::run::run(&store, &config.allocation, window).await?;
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
        } => generate_focus(&args),
        Command::Demo { rows, seed } => {
            let Loaded { config, .. } = loaded()?;
            demo(&config, rows, seed).await
        }
    }
}

fn progress_bar() -> ProgressBar {
    // Draws only when stderr is a terminal.
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows ({per_sec}) {wide_msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn parse_month(text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .with_context(|| format!("`{text}` is not a month; expected YYYY-MM"))
}

fn generate_focus(args: &GenerateFocusArgs) -> Result<()> {
    let options = GenerateOptions {
        rows: args.rows,
        seed: args.seed,
        start: parse_month(&args.start)?,
        months: args.months,
        flavor: args.flavor,
        version: args.version,
    };
    let out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let summary = match args.format {
        FileFormat::Csv => generate::write_csv(&options, out)?,
        FileFormat::CsvGz => {
            let mut gz = generate::gz_writer(out);
            let summary = generate::write_csv(&options, &mut gz)?;
            gz.finish()?;
            summary
        }
    };
    if let Some(path) = &args.output {
        eprintln!("wrote {} rows to {}", summary.rows, path.display());
    }
    Ok(())
}

async fn demo(config: &config::Config, rows: u64, seed: u64) -> Result<()> {
    let store = Store::open(&config.clickhouse, &config.data_dir).await?;
    let dir = config.data_dir.join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let options = GenerateOptions {
        rows,
        seed,
        ..GenerateOptions::default()
    };
    let costs = dir.join(format!("focus-demo-{seed}.csv"));
    let metrics = dir.join(format!("metrics-demo-{seed}.csv"));
    let create = |path: &Path| {
        std::fs::File::create(path)
            .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
            .with_context(|| format!("cannot create {}", path.display()))
    };
    generate::write_csv(&options, create(&costs)?)?;
    generate::write_metrics_csv(&options, create(&metrics)?)?;
    println!(
        "generated {rows} FOCUS rows and daily service metrics (seed {seed}) in {}",
        dir.display()
    );

    let job = FocusIngest {
        paths: vec![costs],
        source: "demo".into(),
        strict: false,
        max_errors: 20,
    };
    let progress = progress_bar();
    let result = job.run(&store, &progress).await;
    progress.finish_and_clear();
    let report: IngestReport = result?;
    report::print_ingest(&report);
    let metrics_report = ingest::metrics::ingest_metrics(&store, &metrics, 20).await?;
    println!(
        "ingested {} metric values ({})",
        metrics_report.rows,
        metrics_report.metrics.join(", ")
    );

    let allocation = if config.allocation.rules.is_empty() {
        println!("allocating with the built-in demo rules (api/src/demo_allocation.toml)");
        demo_allocation()?
    } else {
        config.allocation.clone()
    };
    println!();
    report::print_allocation(&allocator::run::run(&store, &allocation, None).await?);
    for by in ["provider", "team"] {
        println!();
        showback::print_costs(&store, &showback::CostsArgs::by(by)).await?;
    }
    println!();
    let by_service = showback::costs_table(&store, &showback::CostsArgs::by("service")).await?;
    showback::print_top_movers(&by_service, 8, "service");
    println!("\nnext: `costmill explain --service <name> --month <YYYY-MM>` shows where a service's money came from");
    Ok(())
}

/// The allocation the demo uses when costmill.toml has none.
pub fn demo_allocation() -> Result<allocator::AllocationConfig> {
    use figment::providers::{Format, Toml};
    let config: allocator::AllocationConfig =
        figment::Figment::from(Toml::string(include_str!("demo_allocation.toml")))
            .extract()
            .context("the built-in demo allocation does not parse")?;
    let problems = config.problems();
    anyhow::ensure!(
        problems.is_empty(),
        "the built-in demo allocation is invalid: {problems:?}"
    );
    Ok(config)
}
