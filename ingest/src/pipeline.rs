//! FOCUS ingestion: files → staging table → validated → partitions swapped atomically.
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use queries::rows::{ProviderPeriodTotal, SourcePeriod};
use queries::{q, Param, Store};
use tokio::sync::mpsc;

use crate::error::{IngestError, Problem};
use crate::focus::{BatchStamp, ColumnMap, DeviationKind, Normalizer};
use crate::reader::{self, column_label, Location};
use queries::native::NativeBlock;

/// What to ingest and how strictly.
#[derive(Debug, Clone)]
pub struct FocusIngest {
    pub paths: Vec<PathBuf>,
    /// Source name: one partition per source and billing month is replaced on re-ingest.
    pub source: String,
    /// Treat spec deviations as errors.
    pub strict: bool,
    /// How many problems to list before stopping.
    pub max_errors: usize,
}

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

#[derive(Debug, Clone)]
pub struct IngestReport {
    pub batch_id: String,
    pub source: String,
    pub rows: u64,
    pub files: Vec<FileReport>,
    pub deviations: Vec<DeviationCount>,
    /// Rows, BilledCost and EffectiveCost per provider and billing month, as landed.
    pub totals: Vec<ProviderPeriodTotal>,
    /// The (source, billing month) partitions that were replaced.
    pub replaced: Vec<SourcePeriod>,
    pub elapsed: Duration,
    /// Of `elapsed`: summarizing the staged rows and swapping the partitions in.
    pub swap_elapsed: Duration,
}

/// Rows are shipped in Native blocks of at most this many rows or about this many bytes.
const BLOCK_ROWS: u64 = 65_536;
const BLOCK_BYTES: usize = 16 << 20;

/// An encoded Native block on its way to ClickHouse.
struct Chunk {
    bytes: Vec<u8>,
    rows: u64,
}

/// What the parsing thread found.
#[derive(Default)]
struct ParseOutcome {
    problems: Vec<Problem>,
    deviations: BTreeMap<(DeviationKind, String), (u64, String)>,
    files: Vec<FileReport>,
}

impl FocusIngest {
    fn max_errors(&self) -> usize {
        self.max_errors.max(1)
    }

    pub async fn run(
        &self,
        store: &Store,
        progress: &ProgressBar,
    ) -> Result<IngestReport, IngestError> {
        if self.paths.is_empty() {
            return Err(IngestError::NoInput);
        }
        let started = Instant::now();
        let batch_id = new_batch_id();
        let staging = format!("focus_costs_staging_{batch_id}");
        store
            .execute(&q::focus_staging_create().bind_ident("staging", &staging))
            .await?;
        let result = self
            .load_and_swap(store, &staging, &batch_id, progress)
            .await;
        // The staging table goes whatever happened; the live table was touched only by the swap.
        let dropped = store
            .execute(&q::focus_staging_drop().bind_ident("staging", &staging))
            .await;
        let mut report = result?;
        dropped?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    async fn load_and_swap(
        &self,
        store: &Store,
        staging: &str,
        batch_id: &str,
        progress: &ProgressBar,
    ) -> Result<IngestReport, IngestError> {
        // Two blocks in flight keep both the parser and the server busy; more only costs memory.
        let (tx, mut rx) = mpsc::channel::<Chunk>(2);
        let stamp = BatchStamp {
            source: self.source.clone(),
            batch_id: batch_id.to_string(),
            ingested_at: chrono::Utc::now().timestamp() as u32,
        };
        let job = self.clone();
        let parse_progress = progress.clone();
        let parser = tokio::task::spawn_blocking(move || job.parse_all(stamp, tx, &parse_progress));

        let mut insert = store.insert_native_blocks(staging);
        let mut rows = 0u64;
        let mut insert_error = None;
        while let Some(chunk) = rx.recv().await {
            if let Err(e) = insert.send(bytes::Bytes::from(chunk.bytes)).await {
                insert_error = Some(e);
                break;
            }
            rows += chunk.rows;
            progress.inc(chunk.rows);
        }
        drop(rx);
        let outcome = parser.await.expect("parser thread panicked");
        if !outcome.problems.is_empty() {
            let stopped_early = outcome.problems.len() >= self.max_errors();
            return Err(IngestError::Invalid {
                problems: outcome.problems,
                stopped_early,
            });
        }
        if let Some(e) = insert_error {
            return Err(IngestError::Insert(e));
        }
        insert.end().await.map_err(IngestError::Insert)?;
        let loaded_at = Instant::now();

        let partitions: Vec<SourcePeriod> = store
            .fetch_all(&q::focus_staging_partitions().bind_ident("staging", staging))
            .await?;
        let totals: Vec<ProviderPeriodTotal> = store
            .fetch_all(&q::focus_staging_summary().bind_ident("staging", staging))
            .await?;
        for partition in &partitions {
            let replace = q::focus_replace_partition()
                .bind_str("source", &partition.source)
                .bind("period", Param::Int(partition.period.into()))
                .bind_ident("staging", staging);
            store.execute(&replace).await?;
        }
        let swap = loaded_at.elapsed();
        tracing::info!(
            swap_ms = swap.as_millis() as u64,
            rows,
            partitions = partitions.len(),
            batch = batch_id,
            "ingest committed"
        );
        Ok(IngestReport {
            batch_id: batch_id.to_string(),
            source: self.source.clone(),
            rows,
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
            totals,
            replaced: partitions,
            elapsed: Duration::ZERO,
            swap_elapsed: swap,
        })
    }

    /// Runs on a blocking thread: read, normalize and send rows until the first error, then keep
    /// reading only to list up to `max_errors` problems.
    fn parse_all(
        &self,
        stamp: BatchStamp,
        tx: mpsc::Sender<Chunk>,
        progress: &ProgressBar,
    ) -> ParseOutcome {
        let mut outcome = ParseOutcome::default();
        let schema = crate::focus::normalize::focus_schema();
        let mut sending = true;
        for path in &self.paths {
            progress.set_message(path.display().to_string());
            let mut file_rows = 0u64;
            let max_errors = self.max_errors();
            let add_problem = |outcome: &mut ParseOutcome,
                               location: Location,
                               column: Option<String>,
                               message: String| {
                if outcome.problems.len() < max_errors {
                    outcome.problems.push(Problem {
                        file: path.clone(),
                        location,
                        column,
                        message,
                    });
                }
            };
            let mut records = match reader::open(path, ProgressBar::hidden()) {
                Ok(records) => records,
                Err(e) => {
                    add_problem(&mut outcome, e.location, e.column, e.message);
                    continue;
                }
            };
            let headers = records.headers().to_vec();
            let map = match ColumnMap::new(&headers) {
                Ok(map) => map,
                Err(missing) => {
                    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
                    add_problem(
                        &mut outcome,
                        Location::Line(1),
                        None,
                        format!(
                            "missing mandatory FOCUS column{} {} (FOCUS 1.0 names such as ProviderName are accepted too)",
                            if names.len() > 1 { "s" } else { "" },
                            names.join(", ")
                        ),
                    );
                    continue;
                }
            };
            let ignored = map.ignored.clone();
            let mut normalizer = Normalizer::new(map, stamp.clone(), file_label(path));
            let mut block = NativeBlock::new(&schema);
            let mut field_problems = Vec::new();
            let mut last_location = Location::File;
            let read = records.for_each_record(&mut |location, fields| {
                last_location = location;
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
                        .map(|i| column_label(&headers, i));
                    match problem.deviation {
                        Some(kind) if !self.strict => {
                            let key = (kind, column.clone().unwrap_or_default());
                            let entry = outcome
                                .deviations
                                .entry(key)
                                .or_insert_with(|| (0, format!("{}: {location}", path.display())));
                            entry.0 += 1;
                        }
                        Some(kind) => add_problem(
                            &mut outcome,
                            location,
                            column,
                            format!(
                                "{} ({}); --strict refuses deviations",
                                problem.message,
                                kind.describe()
                            ),
                        ),
                        None => add_problem(&mut outcome, location, column, problem.message),
                    }
                }
                file_rows += 1;
                if !outcome.problems.is_empty() {
                    // Nothing more is sent; rows are still read, to list problems.
                    sending = false;
                    if block.rows() > 0 {
                        block.take();
                    }
                } else if sending && (block.rows() >= BLOCK_ROWS || block.size() >= BLOCK_BYTES) {
                    let rows = block.rows();
                    if tx
                        .blocking_send(Chunk {
                            bytes: block.take(),
                            rows,
                        })
                        .is_err()
                    {
                        sending = false;
                    }
                }
                if outcome.problems.len() >= max_errors {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = read {
                add_problem(&mut outcome, e.location, e.column, e.message);
                sending = false;
            } else if records.ended_mid_line() {
                // A cut-off file often still parses: its last quoted field runs to the end. Say so.
                if let Some(last) = outcome
                    .problems
                    .last_mut()
                    .filter(|p| p.location == last_location && &p.file == path)
                {
                    last.message.push_str(
                        "; the file ends in the middle of this line, so it is probably truncated",
                    );
                }
            }
            let rows = block.rows();
            if sending
                && rows > 0
                && tx
                    .blocking_send(Chunk {
                        bytes: block.take(),
                        rows,
                    })
                    .is_err()
            {
                sending = false;
            }
            outcome.files.push(FileReport {
                path: path.clone(),
                rows: file_rows,
                ignored_columns: ignored,
            });
            if outcome.problems.len() >= max_errors {
                break;
            }
        }
        outcome
    }
}

fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Unique, sortable, and safe inside a table name.
fn new_batch_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
    format!("{now}_{:08x}", rand::thread_rng().gen::<u32>())
}
