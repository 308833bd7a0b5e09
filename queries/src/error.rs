use std::path::PathBuf;

/// Errors of the store. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "clickhouse-server was not found (looked for {looked}). Install it (Debian/Ubuntu: \
         `apt-get install clickhouse-server clickhouse-client`), point [clickhouse] server_binary \
         at it, or set [clickhouse] url to use an existing server"
    )]
    ServerBinaryMissing { looked: String },

    #[error(
        "the managed ClickHouse server did not answer within {seconds} s; its log is {log}{tail}"
    )]
    ServerNotReady {
        seconds: u64,
        log: PathBuf,
        tail: String,
    },

    #[error("could not start the managed ClickHouse server {binary}: {source}")]
    ServerSpawn {
        binary: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "ClickHouse at {url} did not answer: {source}. Check [clickhouse] url/user/password, \
         or remove url to let costmill run its own server"
    )]
    Unreachable {
        url: String,
        source: clickhouse::error::Error,
    },

    #[error("query `{name}` failed: {source}")]
    Query {
        name: String,
        source: clickhouse::error::Error,
    },

    #[error("migration {file} failed: {source}")]
    Migration {
        file: String,
        source: clickhouse::error::Error,
    },

    #[error(
        "migration {file} was changed after it was applied (checksum {applied} in the database, \
         {current} in this build); add a new migration instead of editing an applied one"
    )]
    MigrationChanged {
        file: String,
        applied: String,
        current: String,
    },

    #[error("query `{query}` uses {{{name}:{ty}}} but no value was bound for `{name}`")]
    MissingParam {
        query: String,
        name: String,
        ty: String,
    },

    #[error("query `{query}`: placeholder {{{name}:{ty}}} cannot take {given}")]
    ParamType {
        query: String,
        name: String,
        ty: String,
        given: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{name} is held by {holder} since {since}; waited {waited_secs} s. Wait for that run to \
         finish and try again (a crashed holder's lease expires within a minute)"
    )]
    LeaseHeld {
        name: String,
        holder: String,
        since: String,
        waited_secs: u64,
    },

    #[error("stopped by a signal (Ctrl-C or SIGTERM); nothing was changed")]
    Cancelled,

    #[error("[clickhouse] database `{0}` must be letters, digits and underscores, not starting with a digit")]
    InvalidDatabase(String),

    #[error(
        "the commit of batch {batch} failed at partition {partition}: {message}; every partition of \
         the batch was restored to its state before the batch{rollback}"
    )]
    CommitFailed {
        batch: String,
        partition: String,
        message: String,
        rollback: String,
    },

    #[error("amount {value} does not fit Decimal(38, 18) arithmetic in Rust (rust_decimal holds 28 digits)")]
    AmountOutOfRange { value: String },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}
