//! The sources: one module per kind of input. Each turns its input into a stream of typed
//! records (see [`crate::record`]) and knows nothing about ClickHouse.
pub mod focus_files;
pub mod kubernetes;
pub mod metrics_file;
pub mod slurm;

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
