//! Progress of a long job, reported through a small callback trait: the CLI draws bars from it,
//! `costmill serve` logs it, tests observe it. The library draws nothing itself.
use queries::commit::CommitObserver;

pub trait Progress: Send + Sync {
    /// `n` more records were read.
    fn rows(&self, _n: u64) {}
    /// What is being worked on now (a file, a page of an API).
    fn message(&self, _text: &str) {}
    /// A partition of a live table was swapped in.
    fn partition_swapped(&self, _table: &str, _partition: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Forwards a commit's steps to a [`Progress`].
pub(crate) struct CommitProgress {
    pub table: &'static str,
    pub progress: std::sync::Arc<dyn Progress>,
}

impl CommitObserver for CommitProgress {
    fn partition_swapped(&self, partition: &str) {
        self.progress.partition_swapped(self.table, partition);
    }
}
