use queries::StoreError;

/// Errors of alerting, budgets and reports. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("no alert with id `{id}`; `costmill alerts list --all` shows every alert")]
    UnknownAlert { id: String },

    #[error("configuration: {key}: {message}")]
    Config { key: String, message: String },

    #[error("alert `{id}` has causes that are not valid JSON ({source}); it was written by a newer costmill?")]
    Causes {
        id: String,
        source: serde_json::Error,
    },

    #[error("Slack webhook for {channel}: {message}")]
    Slack { channel: String, message: String },

    #[error("email to {recipient}: {message}")]
    Email { recipient: String, message: String },

    #[error("chart: {0}")]
    Chart(String),

    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
