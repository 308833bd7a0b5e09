//! `costmill recommend` (issue #9): spot and rightsizing recommendations for Kubernetes workloads,
//! Slurm workloads to the cloud, and cloud VMs seen in billing to a cheaper family or spot,
//! computed from usage, billing, allocated cost and the price catalog, stored in `recommendations` (which
//! `/v1/recommendations` and the weekly email read) and printed.
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::Cell;
use optimizer::placement::PlacementIndex;
use optimizer::recommend::{self, Assumptions, Recommendation};
use optimizer::recommend_vm;
use queries::Store;
use rust_decimal::Decimal;

use crate::showback::{self, OutputFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Spot,
    Rightsize,
    /// Slurm jobs of a partition and account to the cheapest cloud offers (a SkyPilot task).
    Cloud,
    /// Cloud VMs seen in billing to the cheapest family on demand at the rate the user pays.
    VmFamily,
    /// Cloud VMs seen in billing (tagged `costmill.io/spot=allowed`) to the cheapest spot shape.
    VmSpot,
    /// Both kinds of VM recommendations.
    Vm,
    All,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    #[arg(long, value_enum, default_value = "all")]
    pub kind: Kind,
    /// First day of the usage window, YYYY-MM-DD. Default: 14 days before the latest usage.
    #[arg(long)]
    pub from: Option<String>,
    /// First day after the window, YYYY-MM-DD. Default: the end of the latest usage.
    #[arg(long)]
    pub to: Option<String>,
    /// Interruptions per node and month for a provider or an instance family, e.g. aws=0.05 or
    /// m5=0.03 (repeatable). Defaults: aws 0.10, gcp 0.15, azure 0.10.
    #[arg(long = "interruption-rate", value_name = "KEY=RATE")]
    pub rates: Vec<String>,
    /// Hours of work redone after an interruption.
    #[arg(long, default_value = "0.5", value_name = "HOURS")]
    pub restart_overhead_hours: String,
    /// GB each Slurm job moved to a cloud sends out of it (kind cloud), priced at the provider's
    /// internet egress (aws 0.09, gcp 0.12, azure 0.087 USD/GB).
    #[arg(long, default_value = "0", value_name = "GB")]
    pub egress_gb_per_job: String,
    /// Providers Slurm jobs may move to (kind cloud), comma-separated. Default: any.
    #[arg(long, value_delimiter = ',')]
    pub cloud_providers: Vec<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
}

fn assumptions(args: &RecommendArgs) -> Result<Assumptions> {
    let mut assumptions = Assumptions::default();
    for text in &args.rates {
        let (key, rate) = text.split_once('=').with_context(|| {
            format!("--interruption-rate {text:?}: expected KEY=RATE, e.g. aws=0.05")
        })?;
        let rate: Decimal = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &Decimal| !r.is_sign_negative())
            .with_context(|| {
                format!("--interruption-rate {text:?}: the rate must be a number at least 0")
            })?;
        assumptions
            .interruptions_per_node_month
            .insert(key.trim().to_string(), rate);
    }
    assumptions.restart_overhead_hours = args
        .restart_overhead_hours
        .parse()
        .ok()
        .filter(|h: &Decimal| !h.is_sign_negative())
        .context("--restart-overhead-hours: expected hours, at least 0")?;
    assumptions.egress_gb_per_job = args
        .egress_gb_per_job
        .parse()
        .ok()
        .filter(|g: &Decimal| !g.is_sign_negative())
        .context("--egress-gb-per-job: expected GB, at least 0")?;
    assumptions.cloud_providers = args
        .cloud_providers
        .iter()
        .map(|p| p.trim().to_string())
        .collect();
    Ok(assumptions)
}

pub async fn run(store: &Store, args: RecommendArgs) -> Result<()> {
    let assumptions = assumptions(&args)?;
    let window = match (&args.from, &args.to) {
        (Some(from), Some(to)) => Some((
            showback::parse_day(from, "--from")?,
            showback::parse_day(to, "--to")?,
        )),
        (None, None) => recommend::default_window(store, 14).await?,
        _ => bail!("give both --from and --to, or neither (the latest 14 days of usage)"),
    };
    let Some((from, to)) = window.filter(|(from, to)| from < to) else {
        println!("no Kubernetes, Slurm or billed VM usage in the window: nothing to recommend");
        return Ok(());
    };
    let catalog = crate::optimize_cmd::current_catalog(store, "").await?;
    let index = PlacementIndex::new(catalog.offers);
    let mut recs = recommend::compute(store, from, to, &index, &assumptions).await?;
    recs.retain(|r| match args.kind {
        Kind::All => true,
        Kind::Spot => r.kind == "spot",
        Kind::Rightsize => r.kind == "rightsize",
        Kind::Cloud => r.kind == "cloud",
        Kind::VmFamily => r.kind == recommend_vm::KIND_FAMILY,
        Kind::VmSpot => r.kind == recommend_vm::KIND_SPOT,
        Kind::Vm => [recommend_vm::KIND_FAMILY, recommend_vm::KIND_SPOT].contains(&r.kind),
    });
    recommend::save(store, &recs).await?;
    print(&recs, args.format)
}

fn money(value: Decimal) -> String {
    value.round_dp(2).to_string()
}

fn print(recs: &[Recommendation], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(recs)?),
        OutputFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record([
                "kind",
                "workload",
                "team",
                "service",
                "currency",
                "current_monthly",
                "proposed_monthly",
                "saving_monthly",
                "summary",
            ])?;
            for r in recs {
                out.write_record([
                    r.kind,
                    &r.workload,
                    &r.team,
                    &r.service,
                    &r.currency,
                    &r.current_monthly.normalize().to_string(),
                    &r.proposed_monthly.normalize().to_string(),
                    &r.saving_monthly.normalize().to_string(),
                    &r.summary,
                ])?;
            }
            out.flush()?;
        }
        OutputFormat::Table => {
            if recs.is_empty() {
                println!("no recommendations: no workload would cost less");
                return Ok(());
            }
            let mut table = crate::report::table(&[
                "kind",
                "workload",
                "team",
                "now/month",
                "then/month",
                "saving/month",
                "currency",
            ]);
            for r in recs {
                table.add_row(vec![
                    Cell::new(r.kind),
                    Cell::new(&r.workload),
                    Cell::new(&r.team),
                    Cell::new(money(r.current_monthly)),
                    Cell::new(money(r.proposed_monthly)),
                    Cell::new(money(r.saving_monthly)),
                    Cell::new(&r.currency),
                ]);
            }
            println!("{table}");
            for r in recs {
                println!("  {}", r.summary);
            }
        }
    }
    Ok(())
}
