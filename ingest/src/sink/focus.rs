//! The FOCUS sink: text rows → validated, normalized `focus_costs` rows in Native blocks →
//! staging; deviations counted, problems listed with file, line and column. The commit replaces
//! each (source, billing month) partition the batch holds: every part-file of a month given to
//! one run is replaced as one set.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use clickhouse::Row;
use futures::future::BoxFuture;
use futures::FutureExt;
use queries::commit::{Batch, BatchTotals};
use queries::native::NativeBlock;
use queries::{q, Dec18, Param, Store};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{ProblemLog, Sink, Staged};
use crate::error::Problem;
use crate::focus::{BatchStamp, ColumnMap, DeviationKind, Normalizer};
use crate::reader::{column_label, Location};
use crate::record::{FocusEvent, Origin, Records};
use crate::IngestError;

/// Rows are shipped in Native blocks of at most this many rows or about this many bytes.
const BLOCK_ROWS: u64 = 65_536;
const BLOCK_BYTES: usize = 16 << 20;

/// How often one kind of deviation occurred in one column.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviationCount {
    pub kind: DeviationKind,
    pub column: String,
    pub count: u64,
    /// Where it was first seen, e.g. `bill.csv: line 12`.
    pub first_seen: String,
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub rows: u64,
    /// Headers that are not FOCUS columns costmill keeps (e.g. provider `x_` columns).
    pub ignored_columns: Vec<String>,
}

/// Rows and money per provider, billing month and currency (sql/focus_staging_summary.sql).
#[derive(Debug, Clone, Row, Deserialize, PartialEq)]
pub struct ProviderPeriodTotal {
    pub provider: String,
    pub period: u32,
    pub currency: String,
    pub rows: u64,
    pub billed: Dec18,
    pub effective: Dec18,
}

/// Files whose rows a month held before this batch and that the batch does not bring again:
/// a re-ingest replaces a whole month, so all of its part-files belong in one run.
#[derive(Debug, Clone, Row, Deserialize, PartialEq)]
pub struct ReplacedFile {
    pub period: u32,
    pub file: String,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct DayRange {
    first_day: u16,
    last_day: u16,
    rows: u64,
}

#[derive(Debug, Clone)]
pub struct FocusDetail {
    pub files: Vec<FileReport>,
    pub deviations: Vec<DeviationCount>,
    pub totals: Vec<ProviderPeriodTotal>,
    pub replaced_files: Vec<ReplacedFile>,
}

/// What the normalizing thread found.
#[derive(Default)]
struct ParseOutcome {
    deviations: BTreeMap<(DeviationKind, String), (u64, String)>,
    files: Vec<FileReport>,
}

/// An input being normalized.
struct Current {
    origin: Arc<Origin>,
    /// `None` when the input was refused at its header.
    normalizer: Option<Normalizer>,
    rows: u64,
    last_location: Location,
}

pub struct FocusSink {
    store: Store,
    batch: Batch,
    source: String,
    problems: Arc<ProblemLog>,
    events: Option<mpsc::Sender<FocusEvent>>,
    normalizer: Option<tokio::task::JoinHandle<ParseOutcome>>,
    inserter: Option<tokio::task::JoinHandle<Result<u64, clickhouse::error::Error>>>,
}

impl FocusSink {
    pub fn new(
        store: &Store,
        batch: Batch,
        source: &str,
        strict: bool,
        problems: Arc<ProblemLog>,
        progress: Arc<dyn crate::Progress>,
    ) -> FocusSink {
        let stamp = BatchStamp {
            source: source.to_string(),
            batch_id: batch.id().to_string(),
            ingested_at: chrono::Utc::now().timestamp() as u32,
        };
        // Two blocks in flight keep both the normalizer and the server busy; more only costs memory.
        let (block_tx, mut block_rx) = mpsc::channel::<(Vec<u8>, u64)>(2);
        let (event_tx, event_rx) = mpsc::channel::<FocusEvent>(2);
        let mut insert = store.insert_native_blocks(batch.staging());
        let inserter = tokio::spawn(async move {
            let mut rows = 0;
            while let Some((bytes, n)) = block_rx.recv().await {
                insert.send(bytes::Bytes::from(bytes)).await?;
                rows += n;
                progress.rows(n);
            }
            insert.end().await?;
            Ok(rows)
        });
        let log = problems.clone();
        let normalizer = tokio::task::spawn_blocking(move || {
            normalize_all(event_rx, block_tx, stamp, strict, &log)
        });
        FocusSink {
            store: store.clone(),
            batch,
            source: source.to_string(),
            problems,
            events: Some(event_tx),
            normalizer: Some(normalizer),
            inserter: Some(inserter),
        }
    }

    async fn finish_load(&mut self) -> Result<Staged, IngestError> {
        drop(self.events.take());
        let outcome = self
            .normalizer
            .take()
            .expect("finish once")
            .await
            .expect("normalizer thread panicked");
        let inserted = self.inserter.take().expect("finish once").await;
        if !self.problems.is_empty() {
            // The caller refuses the run; what was staged is dropped with the batch.
            return Ok(self.staged(0, BatchTotals::default(), None, outcome, vec![], vec![]));
        }
        let rows = inserted
            .expect("insert task panicked")
            .map_err(IngestError::Insert)?;
        let staging = self.batch.staging().to_string();
        let totals: Vec<ProviderPeriodTotal> = self
            .store
            .fetch_all(&q::focus_staging_summary().bind_ident("staging", &staging))
            .await?;
        // Check on staging, before anything is swapped: every row sent is there, once.
        let staged_rows: u64 = totals.iter().map(|t| t.rows).sum();
        if staged_rows != rows {
            return Err(IngestError::StagingMismatch {
                table: staging,
                sent: rows,
                staged: staged_rows,
            });
        }
        let range: Vec<DayRange> = self
            .store
            .fetch_all(&q::focus_staging_days().bind_ident("staging", &staging))
            .await?;
        let days = range
            .first()
            .filter(|r| r.rows > 0)
            .map(|r| (r.first_day, r.last_day + 1));
        let periods: Vec<u32> = totals
            .iter()
            .map(|t| t.period)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let replaced_files: Vec<ReplacedFile> = self
            .store
            .fetch_all(
                &q::focus_replaced_files()
                    .bind_str("source", &self.source)
                    .bind(
                        "periods",
                        Param::StrArray(periods.iter().map(u32::to_string).collect()),
                    )
                    .bind_ident("staging", &staging),
            )
            .await?;
        let mut batch_totals = BatchTotals {
            rows,
            ..BatchTotals::default()
        };
        for t in &totals {
            let slot = batch_totals
                .by_currency
                .entry(t.currency.clone())
                .or_default();
            *slot = (slot.0 + t.billed, slot.1 + t.effective);
        }
        Ok(self.staged(rows, batch_totals, days, outcome, totals, replaced_files))
    }

    fn staged(
        &self,
        rows: u64,
        totals: BatchTotals,
        days: Option<(u16, u16)>,
        outcome: ParseOutcome,
        period_totals: Vec<ProviderPeriodTotal>,
        replaced_files: Vec<ReplacedFile>,
    ) -> Staged {
        Staged {
            table: "focus_costs",
            rows,
            totals,
            days,
            focus: Some(FocusDetail {
                files: outcome.files,
                deviations: outcome
                    .deviations
                    .into_iter()
                    .map(|((kind, column), (count, first_seen))| DeviationCount {
                        kind,
                        column,
                        count,
                        first_seen,
                    })
                    .collect(),
                totals: period_totals,
                replaced_files,
            }),
            subjects: vec![],
        }
    }
}

impl Sink for FocusSink {
    fn table(&self) -> &'static str {
        "focus_costs"
    }

    fn write(&mut self, records: Records) -> BoxFuture<'_, Result<(), IngestError>> {
        async move {
            let Records::Focus(event) = records else {
                unreachable!("the runner routes only FOCUS records here");
            };
            if let Some(events) = &self.events {
                // A closed channel means the normalizer stopped at max_errors: drop the rest.
                let _ = events.send(event).await;
            }
            Ok(())
        }
        .boxed()
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<Staged, IngestError>> {
        self.finish_load().boxed()
    }

    fn into_batch(self: Box<Self>) -> Batch {
        self.batch
    }
}

/// Runs on a blocking thread: normalize every record; send Native blocks until the first
/// problem, then keep reading only to list up to `max_errors` problems.
fn normalize_all(
    mut events: mpsc::Receiver<FocusEvent>,
    blocks: mpsc::Sender<(Vec<u8>, u64)>,
    stamp: BatchStamp,
    strict: bool,
    problems: &ProblemLog,
) -> ParseOutcome {
    let mut outcome = ParseOutcome::default();
    let schema = crate::focus::normalize::focus_schema();
    let mut block = NativeBlock::new(&schema);
    let mut sending = true;
    let mut current: Option<Current> = None;
    let mut field_problems = Vec::new();
    let send = |block: &mut NativeBlock, sending: &mut bool| {
        let rows = block.rows();
        if *sending && rows > 0 && blocks.blocking_send((block.take(), rows)).is_err() {
            *sending = false;
        }
    };
    while let Some(event) = events.blocking_recv() {
        if problems.is_full() {
            // Enough listed; stop reading (the closed channel tells the runner).
            break;
        }
        match event {
            FocusEvent::Start(origin) => {
                let normalizer = match ColumnMap::new(&origin.headers) {
                    Ok(map) => Some(Normalizer::new(
                        map,
                        stamp.clone(),
                        file_label(&origin.path),
                    )),
                    Err(missing) => {
                        let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                        problems.push(Problem {
                            file: origin.path.clone(),
                            location: Location::Line(1),
                            column: None,
                            message: format!(
                                "missing mandatory FOCUS column{} {} (FOCUS 1.0 names such as ProviderName are accepted too)",
                                if names.len() > 1 { "s" } else { "" },
                                names.join(", ")
                            ),
                        });
                        None
                    }
                };
                current = Some(Current {
                    origin,
                    normalizer,
                    rows: 0,
                    last_location: Location::File,
                });
            }
            FocusEvent::Rows(rows) => {
                let Some(cur) = current.as_mut() else {
                    continue;
                };
                let Some(normalizer) = cur.normalizer.as_mut() else {
                    continue;
                };
                let path = &cur.origin.path;
                let headers = &cur.origin.headers;
                let mut scratch = Vec::new();
                rows.for_each(&mut scratch, |location, fields| {
                    cur.last_location = location;
                    field_problems.clear();
                    normalizer.normalize_into(
                        fields,
                        location.row_number(),
                        &mut field_problems,
                        &mut block,
                    );
                    for problem in field_problems.drain(..) {
                        let column = problem
                            .column
                            .and_then(|c| normalizer.map().position(c))
                            .map(|i| column_label(headers, i));
                        let refuse = |message: String| Problem {
                            file: path.clone(),
                            location,
                            column: column.clone(),
                            message,
                        };
                        match problem.deviation {
                            Some(kind) if !strict => {
                                let key = (kind, column.clone().unwrap_or_default());
                                let entry = outcome.deviations.entry(key).or_insert_with(|| {
                                    (0, format!("{}: {location}", path.display()))
                                });
                                entry.0 += 1;
                            }
                            Some(kind) => problems.push(refuse(format!(
                                "{} ({}); --strict refuses deviations",
                                problem.message,
                                kind.describe()
                            ))),
                            None => problems.push(refuse(problem.message)),
                        }
                    }
                    cur.rows += 1;
                    if !problems.is_empty() {
                        // Nothing more is sent; rows are still read, to list problems.
                        sending = false;
                        if block.rows() > 0 {
                            block.take();
                        }
                    } else if block.rows() >= BLOCK_ROWS || block.size() >= BLOCK_BYTES {
                        send(&mut block, &mut sending);
                    }
                    if problems.is_full() {
                        return std::ops::ControlFlow::Break(());
                    }
                    std::ops::ControlFlow::Continue(())
                });
            }
            FocusEvent::End { ended_mid_line } => {
                let Some(cur) = current.take() else {
                    continue;
                };
                if ended_mid_line {
                    // A cut-off file often still parses: its last quoted field runs to the end.
                    problems.amend_last(
                        |p| p.location == cur.last_location && p.file == cur.origin.path,
                        "; the file ends in the middle of this line, so it is probably truncated",
                    );
                }
                send(&mut block, &mut sending);
                outcome.files.push(FileReport {
                    path: cur.origin.path.clone(),
                    rows: cur.rows,
                    ignored_columns: cur
                        .normalizer
                        .as_ref()
                        .map(|n| n.map().ignored.clone())
                        .unwrap_or_default(),
                });
            }
        }
    }
    if problems.is_empty() {
        send(&mut block, &mut sending);
    }
    outcome
}

fn file_label(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
