use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[clickhouse]` in costmill.toml.
///
/// Without `url`, costmill runs its own `clickhouse-server` under `<data_dir>/clickhouse`
/// on a free loopback port (the embedded default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP URL of an existing server, e.g. `http://clickhouse:8123`. Default: none (managed server).
    pub url: Option<String>,
    /// User name. Default: `default`.
    pub user: String,
    /// Password. Default: empty. The managed server is started with it too (stored hashed).
    pub password: String,
    /// Database costmill owns; created when missing. Default: `costmill`.
    pub database: String,
    /// Server binary for the managed server. Default: `clickhouse-server`, then `clickhouse`, on PATH
    /// or in /usr/bin and /usr/sbin.
    pub server_binary: Option<PathBuf>,
    /// Seconds to wait for the managed server to answer after starting it. Default: 60.
    pub startup_timeout_secs: u64,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: None,
            user: "default".into(),
            password: String::new(),
            database: "costmill".into(),
            server_binary: None,
            startup_timeout_secs: 60,
        }
    }
}

impl ClickHouseConfig {
    /// Problems with the settings, as `(key, reason)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push((
                    "clickhouse.url".into(),
                    format!("`{url}` must be an HTTP URL such as http://127.0.0.1:8123"),
                ));
            }
            if url.starts_with("https://") {
                problems.push((
                    "clickhouse.url".into(),
                    "https is not built in; put a TLS-terminating proxy in front or use http on a private network".into(),
                ));
            }
        }
        if !valid_database_name(&self.database) {
            problems.push((
                "clickhouse.database".into(),
                format!(
                    "`{}` must be letters, digits and underscores, not starting with a digit",
                    self.database
                ),
            ));
        }
        if self.startup_timeout_secs == 0 {
            problems.push((
                "clickhouse.startup_timeout_secs".into(),
                "must be at least 1".into(),
            ));
        }
        problems
    }
}

/// Letters, digits and underscores, not starting with a digit.
pub fn valid_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}
