//! `type = "metrics_file"` and `costmill ingest metrics FILE`: per-service daily metrics for
//! proportional pools, as CSV (`date,metric,service,value`) or JSON lines
//! (`{"date":…,"metric":…,"service":…,"value":…}`). Every record is checked (line and column on
//! a problem) and the run is refused as a whole on any problem. A value re-sent for the same
//! date, metric and service replaces the earlier one.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::Problem;
use crate::focus::values::parse_decimal;
use crate::reader::Location;
use crate::record::{MetricRecord, Records, SourceEvent};
use crate::source::Source;
use crate::IngestError;

/// `[[sources]] type = "metrics_file"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFileConfig {
    pub name: String,
    /// CSV or JSON-lines files.
    pub paths: Vec<PathBuf>,
    /// Problems listed before reading stops. Default: 20.
    #[serde(default = "default_max_errors")]
    pub max_errors: usize,
    /// Cron expression (with seconds) for `costmill serve`. Default: none (run on demand only).
    #[serde(default)]
    pub schedule: Option<String>,
}

fn default_max_errors() -> usize {
    20
}

pub struct MetricsFile {
    pub name: String,
    pub paths: Vec<PathBuf>,
}

/// Records per batch sent to the sink.
const CHUNK: usize = 10_000;

impl Source for MetricsFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(
        &self,
        _checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let paths = self.paths.clone();
        super::blocking_stream(move |tx| {
            if paths.is_empty() {
                let _ = tx.blocking_send(Err(IngestError::NoInput));
                return;
            }
            for path in &paths {
                let mut chunk = Vec::new();
                let mut open = true;
                let mut send = |event: SourceEvent| {
                    open = open && tx.blocking_send(Ok(event)).is_ok();
                };
                let read = for_each_raw(
                    path,
                    &mut |raw| match raw.and_then(|r| validate(path, &r)) {
                        Ok(record) => {
                            chunk.push(record);
                            if chunk.len() >= CHUNK {
                                send(SourceEvent::Records(Records::Metrics(std::mem::take(
                                    &mut chunk,
                                ))));
                            }
                        }
                        Err(problem) => send(SourceEvent::Problem(problem)),
                    },
                );
                if let Err(problem) = read {
                    send(SourceEvent::Problem(problem));
                }
                if !chunk.is_empty() {
                    send(SourceEvent::Records(Records::Metrics(chunk)));
                }
                if !open {
                    return;
                }
            }
        })
    }
}

/// Raw fields of one record and where it was.
struct RawMetric {
    line: u64,
    date: String,
    metric: String,
    service: String,
    value: String,
}

fn problem(path: &Path, line: u64, column: &str, message: String) -> Problem {
    Problem {
        file: path.to_path_buf(),
        location: Location::Line(line),
        column: Some(column.into()),
        message,
    }
}

/// Visit every record of a CSV or JSON-lines metrics file.
fn for_each_raw(
    path: &Path,
    visit: &mut dyn FnMut(Result<RawMetric, Problem>),
) -> Result<(), Problem> {
    let file = std::fs::File::open(path)
        .map_err(|e| Problem::whole_file(path, format!("cannot open: {e}")))?;
    let mut reader = BufReader::new(file);
    let first = reader
        .fill_buf()
        .map(|b| b.iter().find(|c| !c.is_ascii_whitespace()).copied())
        .unwrap_or(None);
    if first == Some(b'{') {
        for (i, line) in reader.lines().enumerate() {
            let line_no = i as u64 + 1;
            let text =
                line.map_err(|e| problem(path, line_no, "-", format!("not readable text: {e}")))?;
            if text.trim().is_empty() {
                continue;
            }
            let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
                serde_json::from_str(&text);
            visit(match parsed {
                Ok(object) => {
                    let field = |k: &str| match object.get(k) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Number(n)) => n.to_string(),
                        _ => String::new(),
                    };
                    Ok(RawMetric {
                        line: line_no,
                        date: field("date"),
                        metric: field("metric"),
                        service: field("service"),
                        value: field("value"),
                    })
                }
                Err(e) => Err(problem(
                    path,
                    line_no,
                    "-",
                    format!("expected a JSON object with date, metric, service, value: {e}"),
                )),
            });
        }
        return Ok(());
    }
    let mut csv = csv::Reader::from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| problem(path, 1, "-", e.to_string()))?
        .clone();
    let position = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(date), Some(metric), Some(service), Some(value)) = (
        position("date"),
        position("metric"),
        position("service"),
        position("value"),
    ) else {
        return Err(problem(
            path,
            1,
            "-",
            format!(
                "expected the header date,metric,service,value, found {}",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    };
    for record in csv.records() {
        visit(match record {
            Ok(r) => Ok(RawMetric {
                line: r.position().map(|p| p.line()).unwrap_or(0),
                date: r[date].to_string(),
                metric: r[metric].to_string(),
                service: r[service].to_string(),
                value: r[value].to_string(),
            }),
            Err(e) => Err(problem(
                path,
                e.position().map(|p| p.line()).unwrap_or(0),
                "-",
                e.to_string(),
            )),
        });
    }
    Ok(())
}

fn validate(path: &Path, raw: &RawMetric) -> Result<MetricRecord, Problem> {
    let day = chrono::NaiveDate::parse_from_str(raw.date.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| {
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .is_some_and(|epoch| u16::try_from((*d - epoch).num_days()).is_ok())
        })
        .ok_or_else(|| {
            problem(
                path,
                raw.line,
                "date",
                format!("expected a date like 2026-09-14, found {:?}", raw.date),
            )
        })?;
    for (column, value) in [("metric", &raw.metric), ("service", &raw.service)] {
        if value.trim().is_empty() {
            return Err(problem(path, raw.line, column, "must not be empty".into()));
        }
    }
    let value = parse_decimal(&raw.value)
        .map(|p| p.value)
        .filter(|v| v.0 >= 0)
        .ok_or_else(|| {
            problem(
                path,
                raw.line,
                "value",
                format!("expected a non-negative number, found {:?}", raw.value),
            )
        })?;
    Ok(MetricRecord {
        day,
        metric: raw.metric.trim().into(),
        service: raw.service.trim().into(),
        value,
    })
}
