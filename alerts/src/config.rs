//! `[alerts]`, `[[budgets]]` and `[email]` in costmill.toml. Every field has a documented default,
//! and unknown keys are errors, so a typo is reported instead of silently ignored.
use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A credential (a Slack webhook URL, an SMTP password). Its `Debug` form is redacted, so it never
/// reaches a log line or `config check` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// When `costmill serve` looks for anomalies and checks budgets (cron, with seconds, UTC).
    /// Default: `0 30 6 * * *`, every day at 06:30 UTC, after the night's billing has landed.
    pub schedule: String,
    /// A Grafana dashboard linked from Slack messages and the email. Default: none.
    pub dashboard_url: String,
    pub spike: SpikeConfig,
    pub month_over_month: MonthOverMonthConfig,
    pub slack: SlackConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            schedule: "0 30 6 * * *".into(),
            dashboard_url: String::new(),
            spike: SpikeConfig::default(),
            month_over_month: MonthOverMonthConfig::default(),
            slack: SlackConfig::default(),
        }
    }
}

/// `[alerts.spike]`: daily spend against a baseline of the same weekday.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// The series watched. Default: `service`, `team` (allocated owners), `sub-account`,
    /// `provider`, `cloud-service` (billing dimensions).
    pub dimensions: Vec<String>,
    /// Trailing days the baseline is computed from. Default: 56 (eight of each weekday).
    pub baseline_days: u32,
    /// A day is anomalous only when it differs from the expected amount by at least this much, in
    /// the series' currency. Default: 100.
    pub min_impact: Decimal,
    /// … and by at least this percentage of the expected amount. Default: 25.
    pub min_percent: Decimal,
    /// … and by at least this many robust deviations (MAD scaled to a standard deviation) of the
    /// baseline. Default: 5.
    pub min_deviations: Decimal,
    /// `effective` (amortized, the default) or `billed`.
    pub metric: String,
    /// Days looked at on each run (the most recent complete days). Default: 3, so a late-arriving
    /// day is still seen.
    pub lookback_days: u32,
    /// The newest days with data that are not judged yet, because providers are still filling
    /// them in (a partly landed day would read as a drop). Default: 1.
    pub settle_days: u32,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            dimensions: [
                "service",
                "team",
                "sub-account",
                "provider",
                "cloud-service",
            ]
            .map(String::from)
            .to_vec(),
            baseline_days: 56,
            min_impact: Decimal::from(100),
            min_percent: Decimal::from(25),
            min_deviations: Decimal::from(5),
            metric: "effective".into(),
            lookback_days: 3,
            settle_days: 1,
        }
    }
}

/// `[alerts.month_over_month]`: month-to-date spend projected to month end against last month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonthOverMonthConfig {
    /// The series compared. Default: `service`.
    pub dimensions: Vec<String>,
    /// Alert when the projection differs from last month by at least this percentage, up or down.
    /// Default: 20.
    pub min_percent: Decimal,
    /// … and by at least this amount. Default: 1000.
    pub min_impact: Decimal,
    /// No projection before this many days of the month have landed. Default: 7.
    pub min_days: u32,
}

impl Default for MonthOverMonthConfig {
    fn default() -> Self {
        MonthOverMonthConfig {
            dimensions: vec!["service".into()],
            min_percent: Decimal::from(20),
            min_impact: Decimal::from(1000),
            min_days: 7,
        }
    }
}

/// `[alerts.slack]`: incoming webhooks (one webhook posts to one channel).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Where alerts of teams without a channel of their own go. Default: none (not sent).
    pub webhook_url: Secret,
    /// Team → webhook of that team's channel. An alert about a team's spend goes there (and not to
    /// the default webhook).
    pub teams: BTreeMap<String, Secret>,
    /// Attempts of one delivery before it is left for the next `serve` tick. Default: 5.
    pub max_attempts: u32,
    /// First retry delay in milliseconds, doubled per attempt; a Retry-After header wins.
    /// Default: 1000.
    pub retry_initial_ms: u64,
    /// Request timeout in seconds. Default: 10.
    pub timeout_secs: u64,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            webhook_url: Secret::default(),
            teams: BTreeMap::new(),
            max_attempts: 5,
            retry_initial_ms: 1000,
            timeout_secs: 10,
        }
    }
}

/// One `[[budgets]]` entry: a monthly amount for a team, a service or a tag value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Unique name, shown in alerts and `costmill budgets`.
    pub name: String,
    /// Exactly one of `team`, `service` (allocated owners) or `tag` (`KEY=VALUE`, billing tags).
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    /// Monthly amount.
    pub amount: Decimal,
    /// Currency of the amount (FOCUS BillingCurrency). Default: `USD`.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Percentages of the amount that raise an alert, for actual and forecast spend.
    /// Default: `[80, 100]`.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<Decimal>,
    /// `effective` (the default) or `billed`.
    #[serde(default = "default_metric")]
    pub metric: String,
}

fn default_currency() -> String {
    "USD".into()
}
fn default_thresholds() -> Vec<Decimal> {
    vec![Decimal::from(80), Decimal::from(100)]
}
fn default_metric() -> String {
    "effective".into()
}

/// `[email]`: the weekly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// When `costmill serve` sends the weekly report (cron, with seconds, UTC).
    /// Default: `0 0 7 * * Mon`, Mondays at 07:00 UTC, for the week that ended on Sunday.
    pub schedule: String,
    /// The From header. Default: `costmill <costmill@localhost>`.
    pub from: String,
    pub smtp: SmtpConfig,
    /// Team → recipients of that team's report.
    pub teams: BTreeMap<String, Vec<String>>,
    /// Recipients of the FinOps summary of all teams.
    pub finops: Vec<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            schedule: "0 0 7 * * Mon".into(),
            from: "costmill <costmill@localhost>".into(),
            smtp: SmtpConfig::default(),
            teams: BTreeMap::new(),
            finops: Vec::new(),
        }
    }
}

/// `[email.smtp]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Default: `localhost`.
    pub host: String,
    /// Default: 587.
    pub port: u16,
    /// `starttls` (the default: upgrade, and refuse to send if the server cannot), `tls`
    /// (implicit TLS, usually port 465) or `none` (plain text; loopback relays only).
    pub security: String,
    /// Empty: no authentication.
    pub username: String,
    pub password: Secret,
    /// Attempts of one message before it is left for the next `serve` tick. Default: 3.
    pub max_attempts: u32,
    /// Connection and command timeout in seconds. Default: 30.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: Secret::default(),
            max_attempts: 3,
            timeout_secs: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut slack = SlackConfig {
            webhook_url: Secret("https://hooks.slack.com/services/T0/B0/XYZ".into()),
            ..SlackConfig::default()
        };
        slack.teams.insert(
            "payments".into(),
            Secret("https://hooks.slack.com/services/T0/B1/ABC".into()),
        );
        let shown = format!("{slack:?}");
        assert!(!shown.contains("hooks.slack.com"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let smtp = SmtpConfig {
            password: Secret("hunter2".into()),
            ..SmtpConfig::default()
        };
        assert!(!format!("{smtp:?}").contains("hunter2"));
    }
}
