//! `costmill export focus` and `GET /v1/export/focus`: allocated cost as FOCUS 1.2 rows, so a
//! FinOps tool (or another costmill, with `costmill ingest focus --strict`) reads who owns what.
//!
//! One FOCUS row per line of the `allocations` table in the window: direct, pool, unallocated and
//! idle lines, including the Kubernetes workload and node-idle lines and the Slurm job and
//! partition-idle lines. The mapping:
//!
//! | FOCUS column | value |
//! |---|---|
//! | `BillingAccountId`, `BillingAccountName` | `costmill`, `costmill allocated cost`: allocation lines carry no billing account (it is not a dimension rules keep) |
//! | `BillingCurrency` | the line's currency (amounts of two currencies are never added) |
//! | `BillingPeriodStart` / `End` | the line's calendar month, `[first day, first day of the next month)`, UTC |
//! | `ChargePeriodStart` / `End` | the line's day, `[00:00, next 00:00)`, UTC |
//! | `ChargeCategory` | `Usage`: an allocation line does not keep the charge category of its input rows (rows without a resource name it in `x_InputRef`, e.g. `(Tax)`); amounts keep their sign, so an allocated credit is a negative Usage row |
//! | `ChargeClass`, `PricingQuantity`, `PricingUnit` | null: an allocated amount is not priced by a quantity |
//! | `ChargeDescription` | `<kind> allocation to <service> by <method>[ through pool <pool>]: <cost source>, <input ref>` |
//! | `BilledCost`, `EffectiveCost` | the allocated amounts, exact: decimal text with up to 18 fractional digits in CSV, `Decimal(38, 18)` in Parquet |
//! | `ListCost`, `ContractedCost` | **the EffectiveCost again**: costmill does not allocate list or contracted cost, and FOCUS does not allow them null; repeating EffectiveCost claims no discount rather than inventing one (savings computed from the export are zero) |
//! | `ProviderName`, `ServiceName` | the cloud origin of the money: the line's cost source `<Provider> / <ServiceName>` (`ProviderName`, `PublisherName` and `InvoiceIssuerName` are the FOCUS 1.2 column IDs; costmill's ingest also reads them) |
//! | `ServiceCategory`, `PublisherName`, `InvoiceIssuerName` | those of that provider's and service's billing rows touching the window; `Other` when there are none or the category is outside the FOCUS enumeration, the provider when there is no publisher or issuer |
//! | `ResourceId` | for direct and unallocated lines, the resource they came from (a cloud ResourceId, `k8s://cluster/namespace/workload`, `slurm://cluster/partition/job`); null for pool and idle lines and for charges without a resource |
//! | `Tags` | `{"env": …, "service": …, "team": …}` (env left out when empty): the owners as tags, so an ingested export is allocated back by a rule such as `service = { tag = ["service"] }`, `team = { tag = ["team"] }` |
//! | `x_Team`, `x_Service`, `x_Env` | the owners |
//! | `x_AllocationKind`, `x_AllocationMethod`, `x_Pool` | `direct`/`pool`/`unallocated`/`idle`; `rule:<name>`, `even`, `proportional:<metric>`, `weighted`, `fixed`, `kubernetes idle capacity`, `slurm idle capacity` (with any fallback); the pool path |
//! | `x_CostSource`, `x_InputRef`, `x_Share` | as stored: where the money was billed, the input rows, the share of the last split |
//!
//! Cost from configured prices (`[allocation.kubernetes] instance_prices`, Slurm partition rates)
//! is in the allocations, so it is exported too: its `ProviderName`, `PublisherName` and
//! `InvoiceIssuerName` are `costmill`, its ServiceName the instance type or the partition, and its
//! `x_CostSource` starts with `price:configured`. Its BilledCost is what costmill allocated as
//! billed; no provider invoiced it.
//!
//! Because each FOCUS row is one allocation line, the export's totals per currency, team,
//! service, env and month are the allocations' to the last digit: api/tests/export.rs ingests
//! the CSV and the Parquet export with `--strict`, compares `costmill costs --by tag:team` with
//! the original's `--by team`, and allocates the ingested rows back by their tags.
//!
//! Memory: lines are read from ClickHouse with a cursor, a chunk of days per query, and encoded
//! [`CHUNK_ROWS`] at a time (one Parquet row group per chunk). The command line writes them to
//! the file or standard output as it goes; [`focus_export`] (the HTTP route) keeps the whole
//! encoded file in memory, as its answer.
mod encode;
mod focus;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use queries::Store;

pub use encode::CHUNK_ROWS;

#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// FOCUS 1.2 rows of allocated cost: one row per allocation line (Kubernetes and Slurm
    /// splits included) with x_Team, x_Service, x_Env and x_AllocationMethod, and the owners as
    /// Tags. `costmill ingest focus --strict` reads the file back.
    Focus(ExportFocusArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportFocusArgs {
    /// First day included: YYYY-MM or YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// First day excluded: YYYY-MM or YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// Output file. Default: standard output (CSV only). Written next to its final name and
    /// renamed when complete, so an interrupted export leaves no partial file.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Only this team's lines; repeat for several teams.
    #[arg(long = "team")]
    pub teams: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// CSV with a header row; amounts as exact decimal text.
    Csv,
    /// Parquet; amounts as Decimal(38, 18), timestamps as UTC milliseconds.
    Parquet,
}

/// The HTTP Content-Type of an export.
pub fn content_type(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Parquet => "application/vnd.apache.parquet",
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    pub rows: u64,
}

pub async fn run(store: &Store, command: ExportCommand) -> Result<()> {
    match command {
        ExportCommand::Focus(args) => export_focus_command(store, args).await,
    }
}

/// A `--from`/`--to` value as a date.
fn parse_day(text: &str, flag: &str) -> Result<NaiveDate> {
    let days = crate::showback::parse_day_number(text, flag)?;
    Ok(focus::date(days))
}

fn window(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate)> {
    let (from, to) = (parse_day(from, "--from")?, parse_day(to, "--to")?);
    if from >= to {
        bail!("--from {from} is not before --to {to}: --to is the first day left out");
    }
    Ok((from, to))
}

async fn export_focus_command(store: &Store, args: ExportFocusArgs) -> Result<()> {
    let (from, to) = window(&args.from, &args.to)?;
    let teams = (!args.teams.is_empty()).then_some(args.teams.as_slice());
    let summary = match &args.output {
        None if args.format == ExportFormat::Parquet => {
            bail!("Parquet is binary: give an output file with -o, e.g. -o allocated.parquet")
        }
        None => {
            let (_, summary) =
                write_focus(store, from, to, teams, args.format, std::io::stdout()).await?;
            summary
        }
        Some(path) => write_file(store, from, to, teams, args.format, path).await?,
    };
    let place = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "standard output".into());
    eprintln!(
        "exported {} allocated cost rows of {from} to {} to {place}",
        summary.rows,
        to.pred_opt().unwrap_or(to)
    );
    if summary.rows == 0 {
        eprintln!(
            "note: no allocations in that window{}: run `costmill allocate` first, or check --team",
            if teams.is_some() {
                " for those teams"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Write to `<path>.partial`, then rename it to `path`.
async fn write_file(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    teams: Option<&[String]>,
    format: ExportFormat,
    path: &Path,
) -> Result<ExportSummary> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let written = write_focus(store, from, to, teams, format, out).await;
    let finished = written.and_then(|(out, summary)| {
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(summary)
    });
    match finished {
        Ok(summary) => {
            std::fs::rename(&partial, path).with_context(|| {
                format!("cannot rename {} to {}", partial.display(), path.display())
            })?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Used by GET /v1/export/focus; `teams: None` = all teams. The whole file is built in memory.
pub async fn focus_export(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    teams: Option<&[String]>,
    format: ExportFormat,
) -> Result<Vec<u8>> {
    let (out, _) = write_focus(store, from, to, teams, format, Vec::new()).await?;
    Ok(out)
}

/// Stream the allocation lines of `[from, to)` (of `teams` only, when given) into `out` as
/// FOCUS rows; give `out` back when the file is complete. Encoding runs on a blocking thread,
/// one chunk at a time.
pub async fn write_focus<W: Write + Send + 'static>(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    teams: Option<&[String]>,
    format: ExportFormat,
    out: W,
) -> Result<(W, ExportSummary)> {
    let origins = focus::Origins::load(store, from, to).await?;
    let mut encoder = Some(encode::Encoder::new(format, out)?);
    let mut summary = ExportSummary::default();
    let mut chunk: Vec<focus::FocusLine> = Vec::with_capacity(CHUNK_ROWS);
    let mut lines = focus::Lines::new(store, from, to, teams);
    while let Some(line) = lines.next().await? {
        chunk.push(focus::FocusLine::new(line, &origins));
        if chunk.len() == CHUNK_ROWS {
            summary.rows += chunk.len() as u64;
            encoder = Some(encode_chunk(encoder.take().expect("encoder"), &mut chunk).await?);
        }
    }
    summary.rows += chunk.len() as u64;
    let encoder = encode_chunk(encoder.take().expect("encoder"), &mut chunk).await?;
    let out = tokio::task::spawn_blocking(move || encoder.finish())
        .await
        .context("the export encoder stopped")??;
    Ok((out, summary))
}

/// Encode `chunk` on a blocking thread and empty it.
async fn encode_chunk<W: Write + Send + 'static>(
    mut encoder: encode::Encoder<W>,
    chunk: &mut Vec<focus::FocusLine>,
) -> Result<encode::Encoder<W>> {
    if chunk.is_empty() {
        return Ok(encoder);
    }
    let lines = std::mem::replace(chunk, Vec::with_capacity(CHUNK_ROWS));
    tokio::task::spawn_blocking(move || {
        encoder.write(&lines)?;
        Ok(encoder)
    })
    .await
    .context("the export encoder stopped")?
}

#[cfg(test)]
mod tests;
