//! Ingestion: sources read billing data and land it in the FOCUS-aligned `focus_costs` table.
pub mod error;
pub mod focus;
pub mod generate;
pub mod metrics;
pub mod pipeline;
pub mod reader;
pub mod source;

pub use error::{IngestError, Problem};
pub use pipeline::{FocusIngest, IngestReport};
pub use source::{Source, SourceConfig};
