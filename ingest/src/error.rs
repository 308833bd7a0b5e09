use std::path::PathBuf;

use crate::reader::Location;

/// One problem in an input file: file, location, column and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub location: Location,
    /// `3 (BilledCost)`: 1-based column number and header, where one column is at fault.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem with the file as a whole (cannot open it, empty, not the expected format).
    pub fn whole_file(file: &std::path::Path, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            location: Location::File,
            column: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.location != Location::File {
            write!(f, ": {}", self.location)?;
        }
        if let Some(column) = &self.column {
            write!(f, ": column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input was refused; nothing was changed.
    #[error("the input was refused and nothing was ingested; {}:\n{}{}",
        plural(problems.len() as u64, "problem"),
        problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"),
        if *stopped_early { "\n  (reading stopped at --max-errors; raise it to list more)" } else { "" })]
    Invalid {
        problems: Vec<Problem>,
        stopped_early: bool,
    },

    #[error(transparent)]
    Store(#[from] queries::StoreError),

    #[error("writing rows to ClickHouse failed: {0}; nothing was ingested")]
    Insert(#[source] clickhouse::error::Error),

    #[error("no input files given")]
    NoInput,

    #[error(
        "the staging table {table} holds {staged} rows but {sent} were sent; nothing was \
         swapped in. Run the ingest again"
    )]
    StagingMismatch {
        table: String,
        sent: u64,
        staged: u64,
    },

    #[error("stopped by a signal (Ctrl-C or SIGTERM); nothing was changed")]
    Cancelled,

    /// A live Kubernetes source could not read its cluster; nothing was changed.
    #[error(transparent)]
    Kubernetes(#[from] crate::sources::kubernetes::KubernetesError),
}

pub(crate) fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
