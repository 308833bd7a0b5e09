//! `costmill catalog import|list` and `costmill placement` (issue #9): the instance price catalog
//! in `price_catalog`, and the cheapest offers for a workload across providers.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use comfy_table::Cell;
use optimizer::catalog::{self, Catalog, Offer};
use optimizer::placement::{Choice, GpuRequest, Market, Packing, PlacementIndex, Request};
use queries::Store;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::report;
use crate::showback::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Store instance prices (SkyPilot-format vms.csv files) as one version of the catalog: a
    /// new --as-of adds rows and keeps the old ones; the same --as-of again replaces its rows.
    Import(ImportArgs),
    /// The current catalog's offers (latest --as-of of every instance, region and zone).
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Catalog files or directories (a directory: its *.csv files and every vms.csv below it).
    #[arg(required_unless_present = "builtin", conflicts_with = "builtin")]
    pub paths: Vec<PathBuf>,
    /// Import the extract built into costmill (SkyPilot catalogs, collected 2026-11-22).
    #[arg(long)]
    pub builtin: bool,
    /// The version's date, YYYY-MM-DD. Default: 2026-11-22 with --builtin, else today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<String>,
    /// Provider of files without a provider column. Default: the file's name when it is a
    /// SkyPilot cloud's (aws.csv is aws, SkyPilot's gcp/vms.csv is gcp).
    #[arg(long)]
    pub provider: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this provider.
    #[arg(long)]
    pub provider: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PlacementArgs {
    /// vCPUs needed (at least), e.g. 4 or 0.5.
    #[arg(long, value_name = "N")]
    pub cpus: String,
    /// Memory needed in GiB (at least), e.g. 16.
    #[arg(long, value_name = "GIB")]
    pub memory: String,
    /// GPUs needed: a model and at least how many, e.g. A100:8 or L4:1.
    #[arg(long, value_name = "MODEL:COUNT")]
    pub gpus: Option<String>,
    /// Spot prices only (offers without a spot price are left out).
    #[arg(long, conflicts_with = "on_demand")]
    pub spot: bool,
    /// On-demand prices only. Default: both, each a choice of its own.
    #[arg(long)]
    pub on_demand: bool,
    /// Only these providers, comma-separated (aws,gcp,azure,lambda,runpod).
    #[arg(long, value_delimiter = ',')]
    pub providers: Vec<String>,
    /// Only these regions, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// How many choices to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Price N replicas packed onto nodes of each shape instead (nodes = ceil(N / replicas per
    /// node), by the binding resource), cheapest total first.
    #[arg(long, value_name = "N")]
    pub replicas: Option<u64>,
    /// Also write the choices shown as a SkyPilot task (`resources.any_of`, `use_spot` per
    /// choice) to FILE, for `sky launch` elsewhere; with --replicas, on the best choice's node
    /// count.
    #[arg(long, value_name = "FILE")]
    pub skypilot_task: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

pub async fn catalog(store: &Store, command: CatalogCommand) -> Result<()> {
    match command {
        CatalogCommand::Import(args) => import(store, args).await,
        CatalogCommand::List(args) => list(store, args).await,
    }
}

fn parse_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--as-of {text:?}: expected a date YYYY-MM-DD"))
}

async fn import(store: &Store, args: ImportArgs) -> Result<()> {
    let (rows, files, default_as_of) = if args.builtin {
        let mut files = Vec::new();
        let mut rows = Vec::new();
        for (name, text) in catalog::EMBEDDED {
            let parsed = catalog::parse(text.as_bytes(), name, None)?;
            files.push((format!("(builtin) {name}"), parsed.len()));
            rows.extend(parsed);
        }
        (rows, files, parse_date(catalog::EMBEDDED_AS_OF)?)
    } else {
        let mut paths = Vec::new();
        for path in &args.paths {
            let found = catalog::csv_files(path)?;
            if found.is_empty() {
                bail!(
                    "{}: no catalog files (*.csv, or vms.csv below it)",
                    path.display()
                );
            }
            paths.extend(found);
        }
        let mut files = Vec::new();
        let mut rows = Vec::new();
        for path in &paths {
            let parsed = catalog::read_file(path, args.provider.as_deref())?;
            files.push((path.display().to_string(), parsed.len()));
            rows.extend(parsed);
        }
        (rows, files, chrono::Utc::now().date_naive())
    };
    let as_of = match &args.as_of {
        Some(text) => parse_date(text)?,
        None => default_as_of,
    };
    let (rows, merged) = catalog::merge_duplicates(rows)?;
    let built = Catalog::from_rows(&rows);
    let written = optimizer::store::import(store, &rows, as_of).await?;
    for (file, n) in &files {
        println!("  {file}: {n} rows");
    }
    println!(
        "imported {written} catalog rows as of {as_of} into price_catalog{}",
        if merged > 0 {
            format!(" ({merged} rows with the key of an earlier row merged into it: lowest prices kept)")
        } else {
            String::new()
        }
    );
    let report = &built.report;
    println!(
        "  {} offers ({} GCP GPU offers priced as host + accelerator)",
        report.offers, report.gcp_combined
    );
    for (reason, n) in &report.not_offered {
        println!("  {n} rows make no offer of their own: {reason}");
    }
    Ok(())
}

/// The current stored catalog, or the embedded one when the table is empty; says which on
/// standard error.
pub(crate) async fn current_catalog(store: &Store, provider: &str) -> Result<Catalog> {
    let (rows, latest) = optimizer::store::current(store, provider).await?;
    if rows.is_empty() {
        eprintln!(
            "price_catalog is empty{}: using the built-in catalog (SkyPilot extract collected {}); \
             store it with `costmill catalog import --builtin`",
            if provider.is_empty() {
                String::new()
            } else {
                format!(" for provider {provider}")
            },
            catalog::EMBEDDED_AS_OF
        );
        let mut catalog = Catalog::embedded();
        if !provider.is_empty() {
            catalog.offers.retain(|o| o.provider == provider);
        }
        return Ok(catalog);
    }
    eprintln!(
        "using the stored price catalog: {} rows, latest as of {}",
        rows.len(),
        latest.map(|d| d.to_string()).unwrap_or_default()
    );
    Ok(Catalog::from_rows(&rows))
}

#[derive(Serialize)]
struct AcceleratorJson {
    name: String,
    count: String,
}

/// One choice, as `placement --format json|csv` writes it. Decimals are exact strings.
#[derive(Serialize)]
struct ChoiceJson {
    provider: String,
    region: String,
    zone: Option<String>,
    instance_type: String,
    hourly_usd: String,
    spot: bool,
    vcpus: String,
    memory_gib: String,
    accelerators: Vec<AcceleratorJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas_per_node: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_hourly_usd: Option<String>,
}

fn exact(value: Decimal) -> String {
    value.normalize().to_string()
}

fn accelerators(offer: &Offer) -> Vec<AcceleratorJson> {
    offer
        .accelerator
        .iter()
        .map(|a| AcceleratorJson {
            name: a.name.clone(),
            count: exact(a.count),
        })
        .collect()
}

/// `A100:8` (space-separated when several); empty without accelerators.
fn accelerators_text(accelerators: &[AcceleratorJson]) -> String {
    accelerators
        .iter()
        .map(|a| format!("{}:{}", a.name, a.count))
        .collect::<Vec<_>>()
        .join(" ")
}

fn choice_json(choice: &Choice, packing: Option<&Packing>) -> ChoiceJson {
    let offer = choice.offer;
    ChoiceJson {
        provider: offer.provider.clone(),
        region: offer.region.clone(),
        zone: offer.zone.clone(),
        instance_type: offer.instance_type.clone(),
        hourly_usd: exact(choice.hourly_usd),
        spot: choice.spot,
        vcpus: exact(offer.vcpus),
        memory_gib: exact(offer.memory_gib),
        accelerators: accelerators(offer),
        replicas_per_node: packing.map(|p| p.replicas_per_node),
        nodes: packing.map(|p| p.nodes),
        binding: packing.map(|p| format!("{:?}", p.binding).to_lowercase()),
        total_hourly_usd: packing.map(|p| exact(p.total_hourly_usd)),
    }
}

fn parse_quantity(text: &str, flag: &str) -> Result<Decimal> {
    catalog::parse_decimal(text)
        .filter(|d| !d.is_sign_negative() || d.is_zero())
        .with_context(|| format!("{flag} {text:?}: expected a number, at least 0, like 4 or 0.5"))
}

pub async fn placement(store: &Store, args: PlacementArgs) -> Result<()> {
    let request = Request {
        vcpus: parse_quantity(&args.cpus, "--cpus")?,
        memory_gib: parse_quantity(&args.memory, "--memory")?,
        gpu: args.gpus.as_deref().map(GpuRequest::parse).transpose()?,
        market: match (args.spot, args.on_demand) {
            (true, _) => Market::Spot,
            (_, true) => Market::OnDemand,
            _ => Market::Either,
        },
        providers: args
            .providers
            .iter()
            .map(|p| p.trim().to_string())
            .collect(),
        regions: args.regions.iter().map(|r| r.trim().to_string()).collect(),
    };
    let catalog = current_catalog(store, "").await?;
    let index = PlacementIndex::new(catalog.offers);
    let (rows, task): (Vec<ChoiceJson>, String) = match args.replicas {
        None => {
            let choices = index.place(&request, args.limit)?;
            (
                choices.iter().map(|c| choice_json(c, None)).collect(),
                optimizer::skypilot::task_yaml("costmill-placement", &choices, 1),
            )
        }
        Some(0) => bail!("--replicas must be at least 1"),
        Some(n) => {
            let packed = index.pack(&request, n, args.limit)?;
            let choices: Vec<_> = packed.iter().map(|p| p.choice.clone()).collect();
            let nodes = packed.first().map_or(1, |p| p.nodes);
            (
                packed
                    .iter()
                    .map(|p| choice_json(&p.choice, Some(p)))
                    .collect(),
                optimizer::skypilot::task_yaml("costmill-placement", &choices, nodes),
            )
        }
    };
    if let Some(path) = &args.skypilot_task {
        if rows.is_empty() {
            bail!(
                "no feasible choice: no SkyPilot task written to {}",
                path.display()
            );
        }
        std::fs::write(path, task)
            .with_context(|| format!("could not write the SkyPilot task {}", path.display()))?;
        eprintln!(
            "wrote the SkyPilot task {} ({} choices)",
            path.display(),
            rows.len()
        );
    }
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            let mut header = vec![
                "provider",
                "region",
                "zone",
                "instance_type",
                "hourly_usd",
                "spot",
                "vcpus",
                "memory_gib",
                "accelerators",
            ];
            if args.replicas.is_some() {
                header.extend(["replicas_per_node", "nodes", "binding", "total_hourly_usd"]);
            }
            out.write_record(&header)?;
            for r in &rows {
                let mut record = vec![
                    r.provider.clone(),
                    r.region.clone(),
                    r.zone.clone().unwrap_or_default(),
                    r.instance_type.clone(),
                    r.hourly_usd.clone(),
                    r.spot.to_string(),
                    r.vcpus.clone(),
                    r.memory_gib.clone(),
                    accelerators_text(&r.accelerators),
                ];
                if args.replicas.is_some() {
                    record.extend([
                        r.replicas_per_node.unwrap_or_default().to_string(),
                        r.nodes.unwrap_or_default().to_string(),
                        r.binding.clone().unwrap_or_default(),
                        r.total_hourly_usd.clone().unwrap_or_default(),
                    ]);
                }
                out.write_record(&record)?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            if rows.is_empty() {
                println!("no offer fits this request");
                return Ok(());
            }
            let mut headers = vec![
                "#", "PROVIDER", "INSTANCE", "vCPUs", "Mem(GiB)", "GPUs", "REGION", "ZONE",
                "MARKET", "$/HOUR",
            ];
            if args.replicas.is_some() {
                headers.extend(["PER NODE", "NODES", "TOTAL $/HOUR"]);
            }
            let mut table = report::table(&headers);
            for (i, r) in rows.iter().enumerate() {
                let gpus = match accelerators_text(&r.accelerators) {
                    text if text.is_empty() => "-".to_string(),
                    text => text,
                };
                let mut cells = vec![
                    report::right(i + 1),
                    Cell::new(&r.provider),
                    Cell::new(&r.instance_type),
                    report::right(&r.vcpus),
                    report::right(&r.memory_gib),
                    Cell::new(gpus),
                    Cell::new(&r.region),
                    Cell::new(r.zone.as_deref().unwrap_or("-")),
                    Cell::new(if r.spot { "spot" } else { "on-demand" }),
                    report::right(&r.hourly_usd),
                ];
                if args.replicas.is_some() {
                    cells.extend([
                        report::right(r.replicas_per_node.unwrap_or_default()),
                        report::right(r.nodes.unwrap_or_default()),
                        report::right(r.total_hourly_usd.as_deref().unwrap_or("")),
                    ]);
                }
                table.add_row(cells);
            }
            println!("{table}");
        }
    }
    Ok(())
}

/// One offer, as `catalog list --format json|csv` writes it.
#[derive(Serialize)]
struct OfferJson {
    provider: String,
    instance_type: String,
    vcpus: String,
    memory_gib: String,
    accelerators: Vec<AcceleratorJson>,
    region: String,
    zone: Option<String>,
    on_demand_hourly_usd: Option<String>,
    spot_hourly_usd: Option<String>,
}

async fn list(store: &Store, args: ListArgs) -> Result<()> {
    let provider = args.provider.as_deref().unwrap_or("").to_ascii_lowercase();
    for v in optimizer::store::versions(store).await? {
        if provider.is_empty() || v.provider == provider {
            eprintln!(
                "{}: as of {}: {} rows, {} current",
                v.provider,
                optimizer::store::date_of(v.as_of),
                v.rows,
                v.current
            );
        }
    }
    let catalog = current_catalog(store, &provider).await?;
    let mut offers = catalog.offers;
    offers.sort_by(|a, b| {
        (&a.provider, &a.instance_type, &a.region, &a.zone).cmp(&(
            &b.provider,
            &b.instance_type,
            &b.region,
            &b.zone,
        ))
    });
    let rows: Vec<OfferJson> = offers
        .iter()
        .map(|o| OfferJson {
            provider: o.provider.clone(),
            instance_type: o.instance_type.clone(),
            vcpus: exact(o.vcpus),
            memory_gib: exact(o.memory_gib),
            accelerators: accelerators(o),
            region: o.region.clone(),
            zone: o.zone.clone(),
            on_demand_hourly_usd: o.on_demand_hourly_usd.map(exact),
            spot_hourly_usd: o.spot_hourly_usd.map(exact),
        })
        .collect();
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record([
                "provider",
                "instance_type",
                "vcpus",
                "memory_gib",
                "accelerators",
                "region",
                "zone",
                "on_demand_hourly_usd",
                "spot_hourly_usd",
            ])?;
            for r in &rows {
                out.write_record([
                    r.provider.as_str(),
                    &r.instance_type,
                    &r.vcpus,
                    &r.memory_gib,
                    &accelerators_text(&r.accelerators),
                    &r.region,
                    r.zone.as_deref().unwrap_or(""),
                    r.on_demand_hourly_usd.as_deref().unwrap_or(""),
                    r.spot_hourly_usd.as_deref().unwrap_or(""),
                ])?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            let mut table = report::table(&[
                "PROVIDER",
                "INSTANCE",
                "vCPUs",
                "Mem(GiB)",
                "GPUs",
                "REGION",
                "ZONE",
                "ON-DEMAND $/HOUR",
                "SPOT $/HOUR",
            ]);
            for r in &rows {
                let gpus = match accelerators_text(&r.accelerators) {
                    text if text.is_empty() => "-".to_string(),
                    text => text,
                };
                table.add_row(vec![
                    Cell::new(&r.provider),
                    Cell::new(&r.instance_type),
                    report::right(&r.vcpus),
                    report::right(&r.memory_gib),
                    Cell::new(gpus),
                    Cell::new(&r.region),
                    Cell::new(r.zone.as_deref().unwrap_or("-")),
                    report::right(r.on_demand_hourly_usd.as_deref().unwrap_or("-")),
                    report::right(r.spot_hourly_usd.as_deref().unwrap_or("-")),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(())
}
