//! Ingestion: sources yield typed records (FOCUS cost rows, usage records); sinks validate,
//! encode, stage and commit them into ClickHouse through `queries::commit`.
pub mod error;
pub mod focus;
pub mod generate;
pub mod generate_usage;
pub mod progress;
pub mod reader;
pub mod record;
pub mod runner;
pub mod sink;
pub mod source;
pub mod sources;

pub use error::{IngestError, Problem};
pub use progress::{NoProgress, Progress};
pub use runner::{
    ingest_focus, ingest_kubernetes, ingest_metrics, ingest_slurm, run_source, RunOptions,
    RunReport,
};
pub use source::{Source, SourceConfig};
pub use sources::focus_files::expand_paths;
