//! `type = "focus_files"`: FOCUS exports (CSV, CSV.gz, Parquet) in files or directories. All files
//! of one run form one batch, so a billing month split into part-files is replaced as one set.
//! The checkpoint remembers each file's size and modification time: a scheduled run whose files
//! are all unchanged reads nothing.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::Problem;
use crate::reader::{self, Location};
use crate::record::{FocusEvent, Origin, Records, SourceEvent, TextRows};
use crate::source::Source;
use crate::IngestError;

/// Records per batch sent to the sink, or about this many bytes.
const CHUNK_ROWS: usize = 4096;
const CHUNK_BYTES: usize = 4 << 20;

/// `[[sources]] type = "focus_files"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusFilesConfig {
    /// Source name; billing months are replaced per source on re-ingest.
    pub name: String,
    /// Files (`.csv`, `.csv.gz`, `.parquet`) or directories holding them.
    pub paths: Vec<PathBuf>,
    /// Refuse spec deviations instead of counting them. Default: false.
    #[serde(default)]
    pub strict: bool,
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

pub struct FocusFiles {
    pub name: String,
    pub paths: Vec<PathBuf>,
}

/// What the files were when they were last ingested.
type Seen = BTreeMap<String, (u64, i64)>;

fn seen(files: &[PathBuf]) -> Seen {
    files
        .iter()
        .filter_map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            let mtime = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos() as i64;
            Some((f.display().to_string(), (meta.len(), mtime)))
        })
        .collect()
}

impl Source for FocusFiles {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(
        &self,
        checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let files = expand_paths(&self.paths);
        super::blocking_stream(move |tx| {
            if files.is_empty() {
                let _ = tx.blocking_send(Err(IngestError::NoInput));
                return;
            }
            let now = seen(&files);
            let unchanged = checkpoint
                .and_then(|c| serde_json::from_str::<Seen>(&c).ok())
                .is_some_and(|before| before == now && now.len() == files.len());
            if !unchanged {
                for path in &files {
                    if !read_file(path, tx) {
                        return;
                    }
                }
            }
            let checkpoint = serde_json::to_string(&now).expect("checkpoint serializes");
            let _ = tx.blocking_send(Ok(SourceEvent::Checkpoint(checkpoint)));
        })
    }
}

/// Send one file's records; false when the run was stopped.
fn read_file(path: &Path, tx: &mpsc::Sender<Result<SourceEvent, IngestError>>) -> bool {
    let send = |event: SourceEvent| tx.blocking_send(Ok(event)).is_ok();
    let focus = |event: FocusEvent| send(SourceEvent::Records(Records::Focus(event)));
    let problem = |location, column, message| {
        send(SourceEvent::Problem(Problem {
            file: path.to_path_buf(),
            location,
            column,
            message,
        }))
    };
    let mut records = match reader::open(path) {
        Ok(records) => records,
        Err(e) => return problem(e.location, e.column, e.message),
    };
    let headers = records.headers().to_vec();
    let fields = headers.len();
    if !focus(FocusEvent::Start(Arc::new(Origin {
        path: path.to_path_buf(),
        headers,
    }))) {
        return false;
    }
    let mut chunk = TextRows::new(fields);
    let mut open = true;
    let read = records.for_each_record(&mut |location: Location, row: &[&str]| {
        chunk.push(location, row);
        if chunk.len() >= CHUNK_ROWS || chunk.size() >= CHUNK_BYTES {
            open = focus(FocusEvent::Rows(std::mem::replace(
                &mut chunk,
                TextRows::new(fields),
            )));
            if !open {
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    if !open {
        return false;
    }
    if !chunk.is_empty() && !focus(FocusEvent::Rows(chunk)) {
        return false;
    }
    let ended_mid_line = records.ended_mid_line();
    if let Err(e) = read {
        if !problem(e.location, e.column, e.message) {
            return false;
        }
    }
    focus(FocusEvent::End { ended_mid_line })
}

/// Directories expand to the export files inside them, sorted; files stay as given.
pub fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    super::files_in(paths, |p| {
        let name = p.to_string_lossy().to_lowercase();
        name.ends_with(".csv") || name.ends_with(".csv.gz") || name.ends_with(".parquet")
    })
}
