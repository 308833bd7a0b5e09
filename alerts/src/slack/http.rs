//! One message to one incoming webhook, with retries, and what the outcome means for its delivery
//! record.
//!
//! - `2xx`: sent.
//! - `429` and `5xx`, or no connection (refused, unreachable, connect timeout): the message did not
//!   get in, so it is tried again, up to `max_attempts` times, waiting `retry_initial_ms` doubled
//!   per attempt, or what `Retry-After` says. A wait longer than [`MAX_WAIT`] is not spent in this
//!   process: the delivery is left `failed` with its next attempt at that time (at most a day
//!   away), for `serve`.
//! - Any other answer (`400 invalid_payload`, `403 action_prohibited`, `404 no_service`,
//!   `410 channel_is_archived`, a redirect): Slack will refuse it again, so it is not retried on a
//!   schedule; the error says what to fix, and it is sent again once the webhook of its channel
//!   changes in the configuration (see `super` for how that is noticed).
//! - The request went out but no answer came (timeout, connection closed): the message may have
//!   been posted, so it is `unknown` and never retried (a retry could post it twice).
//!
//! No error text carries the webhook URL: it is a secret.
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use crate::config::{Secret, SlackConfig};
use crate::AlertError;

/// The longest wait (backoff or `Retry-After`) spent inside one run; longer waits are left to
/// the next `serve` tick.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The longest backoff before the next `serve` tick retries a failed delivery.
const MAX_NEXT_ATTEMPT: Duration = Duration::from_secs(3600);
/// A `Retry-After` beyond a day is taken as a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent,
    /// Not delivered; worth trying again at `next_attempt_at`.
    Transient {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Refused; trying again will not help until the configuration changes. `channel_wide`:
    /// the webhook itself is broken (every message to it will be refused), not this message.
    Refused {
        error: String,
        channel_wide: bool,
    },
    /// Possibly delivered.
    Unknown {
        error: String,
    },
}

pub(crate) struct Sender {
    client: reqwest::Client,
    max_attempts: u32,
    retry_initial: Duration,
    timeout_secs: u64,
}

impl Sender {
    pub(crate) fn new(cfg: &SlackConfig) -> Result<Sender, AlertError> {
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let client = reqwest::Client::builder()
            // Connecting, then the whole exchange, each bounded: a connect timeout is a clean
            // "not delivered", a timeout after that is "maybe delivered".
            .connect_timeout(timeout)
            .timeout(timeout * 2)
            // A webhook answers; it does not redirect. Following a redirect would turn the POST
            // into a GET elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            // A fresh connection per message: a pooled connection the peer closed while idle
            // would fail in a way that cannot be told apart from a dropped request.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| AlertError::Slack {
                channel: "slack".into(),
                message: format!("cannot create the HTTP client: {}", e.without_url()),
            })?;
        Ok(Sender {
            client,
            max_attempts: cfg.max_attempts.max(1),
            retry_initial: Duration::from_millis(cfg.retry_initial_ms),
            timeout_secs: cfg.timeout_secs.max(1),
        })
    }

    /// Post `body` (JSON) to `webhook`, retrying what can be retried. `earlier_attempts` (of the
    /// delivery, in earlier runs) makes the next scheduled attempt back off further. Returns the
    /// attempts made and the outcome.
    pub(crate) async fn post(
        &self,
        webhook: &Secret,
        body: &str,
        earlier_attempts: u32,
    ) -> (u32, Outcome) {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (error, retry_after) = match self.try_once(webhook, body).await {
                Try::Done(outcome) => return (attempt, outcome),
                Try::Again { error, retry_after } => (error, retry_after),
            };
            let error = redact(&error, webhook);
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            if attempt >= self.max_attempts || wait > MAX_WAIT {
                // Slack's Retry-After as said; otherwise the backoff goes on from where the
                // delivery's earlier runs left it.
                let later = retry_after
                    .unwrap_or_else(|| self.backoff(earlier_attempts + attempt + 1))
                    .min(MAX_RETRY_AFTER);
                let next_attempt_at = Utc::now()
                    + chrono::Duration::from_std(later).unwrap_or(chrono::Duration::hours(1));
                let tried = if attempt == 1 {
                    "1 attempt".to_string()
                } else {
                    format!("{attempt} attempts")
                };
                return (
                    attempt,
                    Outcome::Transient {
                        error: format!(
                            "{error} ({tried}); next attempt after {}",
                            next_attempt_at.format("%Y-%m-%d %H:%M:%S UTC")
                        ),
                        next_attempt_at,
                    },
                );
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, %error, "Slack: retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// `retry_initial_ms` doubled per attempt after the first, capped at [`MAX_NEXT_ATTEMPT`].
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        (self.retry_initial * factor).min(MAX_NEXT_ATTEMPT)
    }

    async fn try_once(&self, webhook: &Secret, body: &str) -> Try {
        let sent = self
            .client
            .post(webhook.expose())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Try::Again {
                    error: format!("cannot connect to Slack: {}", root_cause(&e)),
                    retry_after: None,
                }
            }
            Err(e) if e.is_timeout() => {
                return Try::Done(Outcome::Unknown {
                    error: redact(
                        &format!(
                            "no answer from Slack within {} s after the message was sent; it may \
                             have been posted, so it is not sent again: check the channel",
                            self.timeout_secs * 2
                        ),
                        webhook,
                    ),
                })
            }
            Err(e) => {
                return Try::Done(Outcome::Unknown {
                    error: redact(
                        &format!(
                            "the connection to Slack broke after the message was sent ({}); it \
                             may have been posted, so it is not sent again: check the channel",
                            root_cause(&e)
                        ),
                        webhook,
                    ),
                })
            }
        };
        let status = response.status();
        if status.is_success() {
            return Try::Done(Outcome::Sent);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Slack answers errors with a short code (`no_service`, `invalid_blocks`…).
        let code: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let answer = if code.trim().is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {} {}", status.as_u16(), code.trim())
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let what = if status == StatusCode::TOO_MANY_REQUESTS {
                "Slack is rate limiting this webhook"
            } else {
                "Slack is failing"
            };
            return Try::Again {
                error: format!("{what} ({answer})"),
                retry_after,
            };
        }
        let (advice, channel_wide) = refusal_advice(status, &code);
        Try::Done(Outcome::Refused {
            error: redact(
                &format!("Slack refused the message ({answer}): {advice}"),
                webhook,
            ),
            channel_wide,
        })
    }
}

enum Try {
    Done(Outcome),
    Again {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// What the user should do about a refusal, and whether it concerns the webhook itself.
fn refusal_advice(status: StatusCode, code: &str) -> (&'static str, bool) {
    match status.as_u16() {
        300..=399 => (
            "the webhook URL redirects elsewhere; use the URL Slack shows for the incoming webhook",
            true,
        ),
        400 => (
            "Slack could not accept this message's content; this is a costmill bug, please \
             report it with the alert id",
            false,
        ),
        401 | 403 => (
            "the webhook is not allowed to post here (revoked token or a workspace restriction); \
             create a new incoming webhook and put its URL in the configuration",
            true,
        ),
        404 => (
            "the webhook does not exist (revoked, or its app was removed); create a new incoming \
             webhook and put its URL in the configuration",
            true,
        ),
        410 => (
            "the channel is archived; unarchive it, or use a webhook of another channel",
            true,
        ),
        _ if code.contains("invalid") => (
            "Slack could not accept this message's content; this is a costmill bug, please \
             report it with the alert id",
            false,
        ),
        _ => ("check the webhook URL in the configuration", true),
    }
}

/// The innermost error (`Connection refused (os error 111)`), which carries no URL.
fn root_cause(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    let text = source.to_string();
    if text.contains("://") {
        // Defensive: only reqwest's own top-level message names the URL.
        "connection error".to_string()
    } else {
        text
    }
}

/// Belt and braces: a webhook URL never reaches an error text.
pub(crate) fn redact(text: &str, webhook: &Secret) -> String {
    if webhook.is_empty() {
        text.to_string()
    } else {
        text.replace(webhook.expose(), "<webhook>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_and_is_capped() {
        let sender = Sender::new(&SlackConfig {
            retry_initial_ms: 250,
            ..SlackConfig::default()
        })
        .unwrap();
        let waits: Vec<u128> = (1..=4).map(|a| sender.backoff(a).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000]);
        assert_eq!(sender.backoff(40), MAX_NEXT_ATTEMPT);
    }

    #[test]
    fn redact_removes_the_webhook() {
        let hook = Secret("https://hooks.slack.com/services/T1/B2/abc".into());
        assert_eq!(
            redact(
                "posting to https://hooks.slack.com/services/T1/B2/abc failed",
                &hook
            ),
            "posting to <webhook> failed"
        );
    }
}
