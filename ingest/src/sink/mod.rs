//! Sinks validate, encode, stage and commit records: one FOCUS sink ([`focus`]) and one usage
//! sink per usage table ([`usage`]). Each stages into its own batch (see `queries::commit`); the
//! runner commits them once the source is read through and no problem was found.
use futures::future::BoxFuture;
use queries::commit::{Batch, BatchTotals};

use crate::record::Records;
use crate::IngestError;

pub mod focus;
pub mod problems;
pub mod usage;

pub use focus::{FocusDetail, FocusSink};
pub use problems::ProblemLog;

/// What a sink staged, before the commit.
#[derive(Debug, Clone)]
pub struct Staged {
    pub table: &'static str,
    pub rows: u64,
    pub totals: BatchTotals,
    /// First and one-past-last day (days since 1970-01-01) the rows touch: what to allocate again.
    pub days: Option<(u16, u16)>,
    /// FOCUS only: files, deviations, totals per provider and month.
    pub focus: Option<FocusDetail>,
    /// Usage only: what the records were of (metric names, clusters), sorted.
    pub subjects: Vec<String>,
}

pub trait Sink: Send + Sync {
    fn table(&self) -> &'static str;
    /// Take a batch of records (validated, encoded and staged as they come).
    fn write(&mut self, records: Records) -> BoxFuture<'_, Result<(), IngestError>>;
    /// All records written: finish loading and run the checks on staging.
    fn finish(&mut self) -> BoxFuture<'_, Result<Staged, IngestError>>;
    /// The batch, to commit or abort.
    fn into_batch(self: Box<Self>) -> Batch;
}

/// Days since 1970-01-01 of a Unix timestamp.
pub fn day_of(secs: u32) -> u16 {
    (secs / 86_400) as u16
}
