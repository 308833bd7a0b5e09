//! `costmill demo` and `costmill generate`: the seeded dataset, end to end.
use std::path::Path;

use anyhow::{Context, Result};
use ingest::generate::{self, GenerateOptions};
use queries::Store;

use crate::cli::{FileFormat, GenerateFocusArgs};
use crate::progress::Bar;
use crate::{config, report, showback};

pub fn parse_month(text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .with_context(|| format!("`{text}` is not a month; expected YYYY-MM"))
}

pub fn generate_focus(args: &GenerateFocusArgs) -> Result<()> {
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

pub async fn demo(config: &config::Config, rows: u64, seed: u64) -> Result<()> {
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

    let bar = std::sync::Arc::new(Bar::rows());
    let options = ingest::RunOptions {
        progress: bar.clone(),
        ..ingest::RunOptions::default()
    };
    let result = ingest::ingest_focus(&store, &[costs], "demo", &options).await;
    bar.finish();
    report::print_ingest(&result?);
    let metrics_report = ingest::ingest_metrics(&store, &[metrics], "metrics", &options).await?;
    report::print_ingest(&metrics_report);

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
    demo_alerts(&store, config, &dir).await?;
    println!("\nnext: `costmill explain --service <name> --month <YYYY-MM>` shows where a service's money came from");
    Ok(())
}

/// The end of the demo: anomalies, budgets and the week's email, as of the day after the data.
async fn demo_alerts(store: &Store, config: &config::Config, dir: &Path) -> Result<()> {
    let (Some(last), _) = alerts::detect::last_days(store).await? else {
        return Ok(());
    };
    let today = last + chrono::Duration::days(1);
    let budgets = if config.budgets.is_empty() {
        demo_budgets(store, last).await?
    } else {
        config.budgets.clone()
    };
    let report = alerts::run::check(store, &config.alerts, &budgets, today).await?;
    let mut open = report.open.clone();
    // Spikes first (the news of the day), then month over month, then budgets; largest first.
    open.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(b.impact.abs().cmp(&a.impact.abs()))
    });
    let as_of = report.owners_as_of.unwrap_or(last);
    println!(
        "\nopen alerts as of {as_of} ({} in all: spikes, month over month, budgets):",
        open.len()
    );
    for a in open.iter().take(8) {
        println!("  {}  {}", a.id, a.summary);
        if let Some(c) = a.causes.first() {
            println!(
                "      mostly {} {} ({})",
                c.dimension,
                c.value,
                alerts::detect::money(c.amount, &a.currency)
            );
        }
    }
    if !report.budgets.is_empty() {
        if config.budgets.is_empty() {
            println!(
                "\nbudgets (demo: each team's previous month + 5 %; set [[budgets]] for yours):"
            );
        } else {
            println!("\nbudgets:");
        }
        crate::alerts_cmd::print_budgets(&report.budgets, showback::OutputFormat::Table)?;
    }
    let week =
        alerts::email::last_complete_week(today.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let files =
        crate::alerts_cmd::write_email(store, config, week, None, &dir.join("email")).await?;
    println!("\nthe weekly email of {week} (FinOps summary):");
    for f in files {
        println!("  {}", f.display());
    }
    println!("`costmill alerts explain <id>` shows an anomaly day by day");
    Ok(())
}

/// Demo budgets: every team's spend of the month before `last`'s, plus 5 %, in its currency.
async fn demo_budgets(store: &Store, last: chrono::NaiveDate) -> Result<Vec<alerts::BudgetConfig>> {
    use chrono::Datelike;
    let month = last.with_day(1).expect("day 1");
    let previous = (month - chrono::Duration::days(1))
        .with_day(1)
        .expect("day 1");
    let args = showback::CostsArgs {
        from: Some(previous.format("%Y-%m").to_string()),
        to: Some(month.format("%Y-%m").to_string()),
        ..showback::CostsArgs::by("team")
    };
    let mut budgets = Vec::new();
    for row in showback::costs_table(store, &args).await? {
        if row.month != previous.format("%Y-%m").to_string()
            || row.cost <= rust_decimal::Decimal::ZERO
            || row.group == "unallocated"
        {
            continue;
        }
        budgets.push(alerts::BudgetConfig {
            name: format!("{}-{}", row.group, row.currency.to_lowercase()),
            team: Some(row.group.clone()),
            service: None,
            tag: None,
            amount: (row.cost * rust_decimal::Decimal::new(105, 2)).round_dp(0),
            currency: row.currency.clone(),
            thresholds: vec![
                rust_decimal::Decimal::from(80),
                rust_decimal::Decimal::from(100),
            ],
            metric: "effective".into(),
        });
    }
    Ok(budgets)
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
