//! The run log of sources (`source_runs`) and `costmill sources status`.
use anyhow::Result;
use clickhouse::Row;
use comfy_table::Cell;
use ingest::{IngestError, RunReport};
use queries::{q, Dec18, Store};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::report::{self, money, right};
use crate::showback::OutputFormat;

/// One row of `source_runs`.
#[derive(Debug, Row, Serialize)]
pub(crate) struct RunRow {
    pub(crate) source: String,
    pub(crate) run_id: String,
    pub(crate) trigger: String,
    pub(crate) started_at: u32,
    pub(crate) ended_at: u32,
    pub(crate) outcome: String,
    pub(crate) attempts: u32,
    pub(crate) rows: u64,
    pub(crate) currencies: Vec<String>,
    pub(crate) billed: Vec<Dec18>,
    pub(crate) effective: Vec<Dec18>,
    pub(crate) error: String,
}

/// Why a run did not land.
#[derive(Debug, Clone)]
pub struct RunFailure {
    pub message: String,
    /// Stopped by a signal rather than failed.
    pub aborted: bool,
}

impl From<&IngestError> for RunFailure {
    fn from(e: &IngestError) -> RunFailure {
        RunFailure {
            message: e.to_string(),
            aborted: matches!(
                e,
                IngestError::Cancelled | IngestError::Store(queries::StoreError::Cancelled)
            ),
        }
    }
}

/// Record one run of a source, whatever its outcome.
pub async fn log_run(
    store: &Store,
    source: &str,
    run_id: &str,
    trigger: &str,
    started: chrono::DateTime<chrono::Utc>,
    attempts: u32,
    result: &Result<RunReport, RunFailure>,
) -> Result<()> {
    let mut row = RunRow {
        source: source.into(),
        run_id: run_id.into(),
        trigger: trigger.into(),
        started_at: started.timestamp() as u32,
        ended_at: chrono::Utc::now().timestamp() as u32,
        outcome: "ok".into(),
        attempts,
        rows: 0,
        currencies: vec![],
        billed: vec![],
        effective: vec![],
        error: String::new(),
    };
    match result {
        Ok(report) => {
            let mut totals = std::collections::BTreeMap::<String, (Dec18, Dec18)>::new();
            for (staged, _) in &report.commits {
                row.rows += staged.rows;
                for (currency, (b, e)) in &staged.totals.by_currency {
                    let slot = totals.entry(currency.clone()).or_default();
                    *slot = (slot.0 + *b, slot.1 + *e);
                }
            }
            row.currencies = totals.keys().cloned().collect();
            row.billed = totals.values().map(|v| v.0).collect();
            row.effective = totals.values().map(|v| v.1).collect();
        }
        Err(failure) => {
            row.outcome = if failure.aborted { "aborted" } else { "failed" }.into();
            row.error = failure.message.clone();
        }
    }
    let mut insert = store.insert::<RunRow>("source_runs").await?;
    insert.write(&row).await?;
    insert.end().await?;
    Ok(())
}

/// sql/source_runs_status.sql
#[derive(Debug, Clone, Row, Deserialize, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub last_outcome: String,
    pub last_run: u32,
    pub last_success: u32,
    pub last_rows: u64,
    pub last_currencies: Vec<String>,
    pub last_effective: Vec<Dec18>,
    pub last_error: String,
    pub last_error_at: u32,
    pub runs: u64,
}

/// One source's status: `costmill sources status` and `GET /v1/sources`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusOut {
    source: String,
    r#type: String,
    schedule: Option<String>,
    runs: u64,
    last_run: Option<String>,
    last_outcome: Option<String>,
    last_success: Option<String>,
    /// Seconds since the last successful run.
    lag_seconds: Option<i64>,
    last_rows: u64,
    /// EffectiveCost of the last successful run, per currency (exact decimals).
    last_effective: std::collections::BTreeMap<String, String>,
    last_error: Option<String>,
}

fn time(secs: u32) -> Option<String> {
    (secs > 0).then(|| report::datetime(secs))
}

pub async fn print_status(store: &Store, config: &Config, format: OutputFormat) -> Result<()> {
    let out = statuses(store, config).await?;
    print_statuses(&out, format)
}

/// Every configured source, then every other source with runs on record.
pub async fn statuses(store: &Store, config: &Config) -> Result<Vec<StatusOut>> {
    let rows: Vec<SourceStatus> = store.fetch_all(&q::source_runs_status()).await?;
    let now = chrono::Utc::now().timestamp();
    let mut names: Vec<String> = config
        .sources
        .iter()
        .map(|s| s.name().to_string())
        .collect();
    for r in &rows {
        if !names.contains(&r.source) {
            names.push(r.source.clone());
        }
    }
    let out: Vec<StatusOut> = names
        .iter()
        .map(|name| {
            let configured = config.sources.iter().find(|s| s.name() == name);
            let kind = configured
                .map(|s| {
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_string)))
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "(not configured)".into());
            let status = rows.iter().find(|r| &r.source == name);
            StatusOut {
                source: name.clone(),
                r#type: kind,
                schedule: configured.and_then(|s| s.schedule().map(str::to_string)),
                runs: status.map_or(0, |s| s.runs),
                last_run: status.and_then(|s| time(s.last_run)),
                last_outcome: status.map(|s| s.last_outcome.clone()),
                last_success: status.and_then(|s| time(s.last_success)),
                lag_seconds: status
                    .filter(|s| s.last_success > 0)
                    .map(|s| now - i64::from(s.last_success)),
                last_rows: status.map_or(0, |s| s.last_rows),
                last_effective: status
                    .map(|s| {
                        s.last_currencies
                            .iter()
                            .cloned()
                            .zip(s.last_effective.iter().map(|d| d.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                last_error: status
                    .filter(|s| !s.last_error.is_empty())
                    .map(|s| format!("{} at {}", s.last_error, report::datetime(s.last_error_at))),
            }
        })
        .collect();
    Ok(out)
}

fn print_statuses(out: &[StatusOut], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(out)?),
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "source",
                "type",
                "schedule",
                "runs",
                "last_run",
                "last_outcome",
                "last_success",
                "lag_seconds",
                "last_rows",
                "last_effective",
                "last_error",
            ])?;
            for s in out {
                w.write_record([
                    s.source.clone(),
                    s.r#type.clone(),
                    s.schedule.clone().unwrap_or_default(),
                    s.runs.to_string(),
                    s.last_run.clone().unwrap_or_default(),
                    s.last_outcome.clone().unwrap_or_default(),
                    s.last_success.clone().unwrap_or_default(),
                    s.lag_seconds.map(|l| l.to_string()).unwrap_or_default(),
                    s.last_rows.to_string(),
                    s.last_effective
                        .iter()
                        .map(|(c, v)| format!("{v} {c}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                    s.last_error.clone().unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            let mut t = report::table(&[
                "source",
                "type",
                "schedule",
                "last run",
                "outcome",
                "lag",
                "rows",
                "EffectiveCost",
                "last error",
            ]);
            for s in out {
                let effective = s
                    .last_effective
                    .iter()
                    .map(|(c, v)| {
                        let amount = v
                            .parse::<rust_decimal::Decimal>()
                            .map(money)
                            .unwrap_or_else(|_| v.clone());
                        format!("{amount} {c}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                t.add_row(vec![
                    Cell::new(&s.source),
                    Cell::new(&s.r#type),
                    Cell::new(s.schedule.as_deref().unwrap_or("-")),
                    Cell::new(s.last_run.as_deref().unwrap_or("never")),
                    Cell::new(s.last_outcome.as_deref().unwrap_or("-")),
                    right(s.lag_seconds.map(lag).unwrap_or_else(|| "-".into())),
                    right(s.last_rows),
                    right(effective),
                    Cell::new(s.last_error.as_deref().unwrap_or("")),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn lag(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}
