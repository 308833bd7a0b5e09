//! The sources: one module per kind of input. Each turns its input into a stream of typed
//! records (see [`crate::record`]) and knows nothing about ClickHouse.
pub mod focus_files;
pub mod kubernetes;
pub mod metrics_file;
pub mod slurm;

use std::path::{Path, PathBuf};

use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::record::SourceEvent;
use crate::IngestError;

/// A stream fed by a blocking reader thread: `read` sends events until it is done or the
/// receiving side is dropped (the run was stopped).
pub(crate) fn blocking_stream(
    read: impl FnOnce(&mpsc::Sender<Result<SourceEvent, IngestError>>) + Send + 'static,
) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
    let (tx, mut rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || read(&tx));
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The paths as given, each directory replaced by the files directly inside it that `keep`
/// takes, sorted by name.
pub(crate) fn files_in(paths: &[PathBuf], keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| keep(p))
                    .collect();
                files.sort();
                out.extend(files);
            }
            Err(_) => out.push(path.clone()),
        }
    }
    out
}
