//! costmill.toml, with every setting overridable by `COSTMILL_*` environment variables
//! (`COSTMILL_DATA_DIR`, `COSTMILL_CLICKHOUSE__URL`: a double underscore enters a table).
use std::path::{Path, PathBuf};

use alerts::{AlertsConfig, BudgetConfig, EmailConfig};
use allocator::AllocationConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ingest::SourceConfig;
use queries::ClickHouseConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where costmill keeps its state, the managed ClickHouse among it.
    /// Default: `$XDG_DATA_HOME/costmill`, else `~/.local/share/costmill`.
    pub data_dir: PathBuf,
    pub clickhouse: ClickHouseConfig,
    /// Billing sources run by `costmill ingest run`.
    pub sources: Vec<SourceConfig>,
    /// Ownership rules and shared pools for `costmill allocate`.
    pub allocation: AllocationConfig,
    /// `costmill serve`.
    pub serve: ServeConfig,
    /// Spike and month-over-month alerts, and where they are posted.
    pub alerts: AlertsConfig,
    /// Monthly budgets per team, service or tag.
    pub budgets: Vec<BudgetConfig>,
    /// The weekly email report.
    pub email: EmailConfig,
    /// Workload migrations: the policy and the executors (`costmill migrations execute`).
    pub migrations: optimizer::execute::MigrationsConfig,
}

/// `[serve]` in costmill.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address of /healthz, /readyz (and the REST API). Default: `127.0.0.1:8080`.
    pub listen: String,
    /// Attempts of a failing source run before it waits for its next scheduled time. Default: 4.
    pub max_attempts: u32,
    /// First retry delay in seconds; doubled per attempt, with random jitter. Default: 10.
    pub retry_initial_secs: u64,
    /// Longest retry delay in seconds. Default: 600.
    pub retry_max_secs: u64,
    /// REST API requests that query ClickHouse at once; more wait for a turn. Default: 8.
    pub api_max_concurrent: usize,
    /// How long a request waits for its turn before it is answered 503 with `Retry-After`.
    /// Default: 1000.
    pub api_queue_timeout_ms: u64,
    /// ClickHouse stops an API query running longer (`max_execution_time`). Default: 30.
    pub api_query_timeout_secs: u64,
    /// Memory for kept answers of GET routes, in MiB; 0 turns the cache off. Default: 64.
    pub api_cache_mb: u64,
    /// How often the cache looks for data written by other processes, in milliseconds: the
    /// most an answer can lag behind the data. Default: 1000.
    pub api_cache_check_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            max_attempts: 4,
            retry_initial_secs: 10,
            retry_max_secs: 600,
            api_max_concurrent: 8,
            api_queue_timeout_ms: 1000,
            api_query_timeout_secs: 30,
            api_cache_mb: 64,
            api_cache_check_ms: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            clickhouse: ClickHouseConfig::default(),
            sources: Vec::new(),
            allocation: AllocationConfig::default(),
            serve: ServeConfig::default(),
            alerts: AlertsConfig::default(),
            budgets: Vec::new(),
            email: EmailConfig::default(),
            migrations: optimizer::execute::MigrationsConfig::default(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("costmill");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/costmill"),
        None => PathBuf::from("costmill-data"),
    }
}

/// Where the settings came from, for messages.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (given by --config or COSTMILL_CONFIG)")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|(k, r)| format!("  {k}: {r}")).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<(String, String)>),
}

/// Load defaults, then the file (explicit path, or `./costmill.toml` if present), then the environment.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let file = match explicit {
        Some(path) if !path.exists() => return Err(ConfigError::Missing(path.to_path_buf())),
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from("costmill.toml")).filter(|p| p.exists()),
    };
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment = figment.merge(
        Env::prefixed("COSTMILL_")
            // COSTMILL_CONFIG and COSTMILL_LOG are read elsewhere; COSTMILL_TEST_* belong to the
            // test suite (scripts/test.sh), whose commands inherit them.
            .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .split("__")
            .ignore(&["config", "log"]),
    );
    let config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(describe(e)))?;
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ConfigError::Problems(problems));
    }
    Ok(Loaded { config, file })
}

/// figment reports every error with its key path and where the value came from.
fn describe(error: figment::Error) -> String {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::from("(top level)")
            } else {
                e.path.join(".")
            };
            let origin = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("  {key}: {}{origin}", e.kind)
        })
        .collect();
    format!("invalid configuration:\n{}", lines.join("\n"))
}

impl Config {
    /// Semantic problems as `(key, reason)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = self.clickhouse.problems();
        if self.serve.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push((
                "serve.listen".into(),
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    self.serve.listen
                ),
            ));
        }
        if self.serve.max_attempts == 0 {
            problems.push(("serve.max_attempts".into(), "must be at least 1".into()));
        }
        problems.extend(self.allocation.problems());
        if let Err(e) = alerts::run::validate(&self.alerts) {
            problems.push(match e {
                alerts::AlertError::Config { key, message } => (key, message),
                other => ("alerts".into(), other.to_string()),
            });
        }
        for (key, schedule) in [
            ("alerts.schedule", &self.alerts.schedule),
            ("email.schedule", &self.email.schedule),
        ] {
            if let Err(e) = schedule.parse::<cron::Schedule>() {
                problems.push((
                    key.into(),
                    format!("`{schedule}` is not a cron expression: {e}"),
                ));
            }
        }
        problems.extend(alerts::budget::validate(&self.budgets));
        let slack = &self.alerts.slack;
        if slack.teams.contains_key("default") {
            problems.push((
                "alerts.slack.teams.default".into(),
                "`default` is reserved for alerts.slack.webhook_url; name the team differently"
                    .into(),
            ));
        }
        let webhooks =
            std::iter::once(("alerts.slack.webhook_url".to_string(), &slack.webhook_url)).chain(
                slack
                    .teams
                    .iter()
                    .map(|(t, w)| (format!("alerts.slack.teams.{t}"), w)),
            );
        for (key, hook) in webhooks {
            let url = hook.expose();
            if !url.is_empty() && !url.starts_with("https://") && !url.starts_with("http://") {
                // The value is a credential: the message does not repeat it.
                problems.push((key, "not an http(s) URL (a Slack incoming webhook starts with https://hooks.slack.com/)".into()));
            }
        }
        problems.extend(alerts::email::validate(&self.email));
        if let Err(e) = self.migrations.schedule.parse::<cron::Schedule>() {
            problems.push((
                "migrations.schedule".into(),
                format!(
                    "`{}` is not a cron expression with seconds: {e}",
                    self.migrations.schedule
                ),
            ));
        }
        if let Err(optimizer::policy::PolicyError::Invalid { key, reason }) =
            self.migrations.policy.compile()
        {
            problems.push((format!("migrations.policy.{key}"), reason));
        }
        if !["starttls", "tls", "none"].contains(&self.email.smtp.security.as_str()) {
            problems.push((
                "email.smtp.security".into(),
                format!("`{}`: use starttls, tls or none", self.email.smtp.security),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            for (key, reason) in source.problems() {
                problems.push((format!("sources[{i}].{key}"), reason));
            }
            if !names.insert(source.name()) {
                problems.push((
                    format!("sources[{i}].name"),
                    format!("`{}` is used by an earlier source", source.name()),
                ));
            }
        }
        problems
    }
}
