//! Slack delivery of alerts through incoming webhooks (`[alerts.slack]`).
//!
//! - Routing: an alert on a team (`dimension = "team"`) goes to that team's webhook, an alert on a
//!   service to the webhook of the team owning the service (the `owners` map the caller passes),
//!   a budget alert to the team the caller maps `budget:<name>` to in that map, anything else, or a team without a webhook of its own, to the default webhook; with no
//!   webhook at all the alert is not sent. Delivery records name the channel `slack:<team>` or
//!   `slack:default`, never the URL (a secret, never logged either). A team called `default`
//!   cannot have a channel of its own: its alerts go to the default webhook.
//! - Only open alerts are posted, each revision once: the item is `alert:<id>:<revision>`, so an
//!   alert that grew (a new revision) is posted again as an update ("still going: day N"), and
//!   running twice posts nothing new.
//! - Each message follows the protocol of [`crate::delivery`]: the record is written `sending`
//!   before the post and `sent`, `failed` or `unknown` after it. Records in any state are left
//!   alone by [`notify`]; failed ones are for [`retry_due`], which posts the stored body again
//!   (the identical message). A record left `sending` (the process died mid-post) is never
//!   posted again: the message may have gone out.
//! - Retries and what each answer means: see `slack/http.rs`. When a channel fails in a
//!   run, the other messages to that channel in the same run are recorded `failed` with the same
//!   error and next attempt, without being tried; other channels go on.
//! - A refused message (`404 no_service`, `410 channel_is_archived`, …) is recorded `failed` with
//!   its next attempt in 2100 and an error naming the configuration key to fix, followed by a
//!   fingerprint of the webhook it was refused by (`[webhook 1a2b3c4d]`: 32 bits of a hash, which
//!   does not reveal the URL). [`retry_due`] sends it again as soon as the configured webhook of
//!   its channel has another fingerprint, that is once the configuration was changed.
//! - [`retry_due`] does not post an old revision when a newer one of the same alert has a record
//!   in that channel, nor an alert acknowledged or resolved since: those records are closed as
//!   `failed` with the reason and no next attempt.
mod blocks;
mod http;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use queries::Store;

pub use blocks::{message, CAUSES_SHOWN};

use crate::config::{Secret, SlackConfig};
use crate::delivery::{self, Delivery, DeliveryState};
use crate::model::{Alert, AlertState};
use crate::AlertError;
use http::{Outcome, Sender};

/// Channels of Slack deliveries start with this.
pub const CHANNEL_PREFIX: &str = "slack:";
/// The channel of the default webhook.
pub const DEFAULT_CHANNEL: &str = "slack:default";

/// What a run did. Every alert or due delivery looked at counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackReport {
    /// Posted (Slack answered 2xx).
    pub sent: usize,
    /// Not posted, recorded `failed` (retried by [`retry_due`] when due).
    pub failed: usize,
    /// Maybe posted (no answer after the request went out); not retried.
    pub unknown: usize,
    /// Nothing to do: not open, no webhook, already delivered, or replaced by a newer revision.
    pub skipped: usize,
    /// `channel: item: error` per failed or unknown delivery. Never contains a webhook URL.
    pub errors: Vec<String>,
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    /// `slack:<team>` or `slack:default`.
    pub channel: String,
    webhook: &'a Secret,
    /// The configuration key of the webhook, for error messages.
    config_key: String,
}

/// The channel an alert goes to (see the module doc), or `None` when no webhook applies.
pub fn route<'a>(
    cfg: &'a SlackConfig,
    alert: &Alert,
    owners: &BTreeMap<String, String>,
) -> Option<Route<'a>> {
    let team = match alert.dimension.as_str() {
        "team" => Some(alert.key.as_str()),
        "service" => owners.get(&alert.key).map(String::as_str),
        // A budget of a team or a service: the caller maps `budget:<name>` to that team.
        "budget" => owners
            .get(&format!("budget:{}", alert.key))
            .map(String::as_str),
        _ => None,
    };
    team.and_then(|t| team_route(cfg, t))
        .or_else(|| default_route(cfg))
}

fn team_route<'a>(cfg: &'a SlackConfig, team: &str) -> Option<Route<'a>> {
    if team == "default" {
        return None;
    }
    let webhook = cfg.teams.get(team).filter(|w| !w.is_empty())?;
    Some(Route {
        channel: format!("{CHANNEL_PREFIX}{team}"),
        webhook,
        config_key: format!("alerts.slack.teams.{}", toml_key(team)),
    })
}

fn default_route(cfg: &SlackConfig) -> Option<Route<'_>> {
    (!cfg.webhook_url.is_empty()).then(|| Route {
        channel: DEFAULT_CHANNEL.to_string(),
        webhook: &cfg.webhook_url,
        config_key: "alerts.slack.webhook_url".into(),
    })
}

/// The route of a recorded channel under the current configuration.
fn route_of_channel<'a>(cfg: &'a SlackConfig, channel: &str) -> Option<Route<'a>> {
    match channel.strip_prefix(CHANNEL_PREFIX)? {
        "default" => default_route(cfg),
        team => team_route(cfg, team),
    }
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// The delivery item of an alert revision: `alert:<id>:<revision>`.
pub fn item_key(alert: &Alert) -> String {
    format!("alert:{}:{}", alert.id, alert.revision)
}

/// `(id, revision)` of an `alert:<id>:<revision>` item.
fn parse_item(item: &str) -> Option<(&str, u32)> {
    let (id, rev) = item.strip_prefix("alert:")?.rsplit_once(':')?;
    Some((id, rev.parse().ok()?))
}

/// Post the open alerts not posted yet (this revision, this channel) and record each delivery.
/// A failing channel does not stop the others; errors are in the report. Only a failure of the
/// store (which could lead to posting twice) ends the run with an error.
pub async fn notify(
    store: &Store,
    cfg: &SlackConfig,
    dashboard_url: &str,
    alerts: &[Alert],
    owners: &BTreeMap<String, String>,
) -> Result<SlackReport, AlertError> {
    let mut run = Run::new(store, cfg);
    let mut todo = Vec::new();
    for alert in alerts {
        if alert.state != AlertState::Open {
            run.report.skipped += 1;
            continue;
        }
        match route(cfg, alert, owners) {
            Some(r) => todo.push((alert, r)),
            None => {
                tracing::debug!(alert = %alert.id, "no Slack webhook applies to this alert; not sent");
                run.report.skipped += 1;
            }
        }
    }
    if todo.is_empty() {
        return Ok(run.report);
    }
    let mut known: HashSet<(String, String)> = delivery::list(store, CHANNEL_PREFIX)
        .await?
        .into_iter()
        .map(|d| (d.channel, d.item))
        .collect();
    for (alert, route) in todo {
        let item = item_key(alert);
        if !known.insert((route.channel.clone(), item.clone())) {
            run.report.skipped += 1;
            continue;
        }
        let payload = message(alert, dashboard_url).to_string();
        run.deliver(Delivery::new(route.channel.clone(), item, payload), &route)
            .await?;
    }
    Ok(run.report)
}

/// Post again the failed deliveries whose next attempt is due now, and refused ones whose
/// webhook was changed since (see the module doc).
pub async fn retry_due(store: &Store, cfg: &SlackConfig) -> Result<SlackReport, AlertError> {
    retry_due_at(store, cfg, Utc::now()).await
}

/// [`retry_due`] as of `now`.
pub async fn retry_due_at(
    store: &Store,
    cfg: &SlackConfig,
    now: DateTime<Utc>,
) -> Result<SlackReport, AlertError> {
    let mut run = Run::new(store, cfg);
    let records = delivery::list(store, CHANNEL_PREFIX).await?;
    let mut candidates = Vec::new();
    for d in records.iter().filter(|d| d.state == DeliveryState::Failed) {
        let route = route_of_channel(cfg, &d.channel);
        let reconfigured = is_never(d.next_attempt_at)
            && route.as_ref().is_some_and(|r| {
                fingerprint_in(&d.last_error).is_some_and(|fp| fp != fingerprint(r.webhook))
            });
        if d.next_attempt_at > now && !reconfigured {
            continue;
        }
        match route {
            Some(r) => candidates.push((d.clone(), r)),
            None => {
                tracing::debug!(channel = %d.channel, item = %d.item,
                    "no Slack webhook configured for this channel any more; not retried");
                run.report.skipped += 1;
            }
        }
    }
    if candidates.is_empty() {
        return Ok(run.report);
    }
    let mut newest: HashMap<(&str, &str), u32> = HashMap::new();
    for d in &records {
        if let Some((id, rev)) = parse_item(&d.item) {
            let e = newest.entry((d.channel.as_str(), id)).or_default();
            *e = (*e).max(rev);
        }
    }
    let closed: HashMap<String, AlertState> =
        crate::store::list(store, &[AlertState::Acknowledged, AlertState::Resolved])
            .await?
            .into_iter()
            .map(|a| (a.id, a.state))
            .collect();
    for (mut d, route) in candidates {
        let retired = parse_item(&d.item).and_then(|(id, rev)| {
            let newer = newest
                .get(&(d.channel.as_str(), id))
                .copied()
                .unwrap_or(rev);
            if newer > rev {
                Some(format!(
                    "not sent: revision {newer} of this alert replaced it"
                ))
            } else {
                closed.get(id).map(|s| {
                    format!(
                        "not sent: the alert was {} before Slack could be reached",
                        s.as_str()
                    )
                })
            }
        });
        if let Some(reason) = retired {
            tracing::info!(channel = %d.channel, item = %d.item, %reason, "Slack delivery closed");
            d.last_error = reason;
            d.next_attempt_at = never();
            delivery::record(store, &d).await?;
            run.report.skipped += 1;
            continue;
        }
        run.deliver(d, &route).await?;
    }
    Ok(run.report)
}

/// "No scheduled attempt": 2100-01-01.
fn never() -> DateTime<Utc> {
    DateTime::from_timestamp(4_102_444_800, 0).expect("valid timestamp")
}

fn is_never(t: DateTime<Utc>) -> bool {
    t >= never()
}

/// 32 bits of a hash of the webhook URL: tells two webhooks apart without revealing either.
fn fingerprint(webhook: &Secret) -> String {
    format!(
        "{:08x}",
        xxhash_rust::xxh3::xxh3_64(webhook.expose().as_bytes()) >> 32
    )
}

fn fingerprint_in(last_error: &str) -> Option<&str> {
    let (_, tail) = last_error.rsplit_once("[webhook ")?;
    tail.strip_suffix(']')
}

/// A channel that failed in this run: later messages to it are recorded like this, untried.
struct Down {
    error: String,
    next_attempt_at: DateTime<Utc>,
}

struct Run<'a> {
    store: &'a Store,
    cfg: &'a SlackConfig,
    sender: Option<Sender>,
    down: HashMap<String, Down>,
    report: SlackReport,
}

impl<'a> Run<'a> {
    fn new(store: &'a Store, cfg: &'a SlackConfig) -> Run<'a> {
        Run {
            store,
            cfg,
            sender: None,
            down: HashMap::new(),
            report: SlackReport::default(),
        }
    }

    /// Post one message following the delivery protocol, and record the outcome.
    async fn deliver(&mut self, mut d: Delivery, route: &Route<'_>) -> Result<(), AlertError> {
        if let Some(down) = self.down.get(&d.channel) {
            d.state = DeliveryState::Failed;
            d.last_error = format!(
                "not tried: an earlier message to this channel failed just before: {}",
                down.error
            );
            d.next_attempt_at = down.next_attempt_at;
            delivery::record(self.store, &d).await?;
            self.failed(&d);
            return Ok(());
        }
        if self.sender.is_none() {
            self.sender = Some(Sender::new(self.cfg)?);
        }
        let sender = self.sender.as_ref().expect("sender just created");
        d.state = DeliveryState::Sending;
        delivery::record(self.store, &d).await?;
        let (attempts, outcome) = sender.post(route.webhook, &d.payload, d.attempts).await;
        d.attempts += attempts;
        match outcome {
            Outcome::Sent => {
                d.state = DeliveryState::Sent;
                d.last_error.clear();
                delivery::record(self.store, &d).await?;
                tracing::info!(channel = %d.channel, item = %d.item, attempts, "posted to Slack");
                self.report.sent += 1;
            }
            Outcome::Transient {
                error,
                next_attempt_at,
            } => {
                d.state = DeliveryState::Failed;
                d.last_error = error;
                d.next_attempt_at = next_attempt_at;
                delivery::record(self.store, &d).await?;
                self.mark_down(&d);
                self.failed(&d);
            }
            Outcome::Refused {
                error,
                channel_wide,
            } => {
                d.state = DeliveryState::Failed;
                d.last_error = format!(
                    "{error} (key `{}`); sent again once it changes [webhook {}]",
                    route.config_key,
                    fingerprint(route.webhook)
                );
                d.next_attempt_at = never();
                delivery::record(self.store, &d).await?;
                if channel_wide {
                    self.mark_down(&d);
                }
                self.failed(&d);
            }
            Outcome::Unknown { error } => {
                d.state = DeliveryState::Unknown;
                d.last_error = error;
                delivery::record(self.store, &d).await?;
                tracing::warn!(channel = %d.channel, item = %d.item, error = %d.last_error,
                    "Slack delivery unknown");
                self.report.unknown += 1;
                self.report
                    .errors
                    .push(format!("{}: {}: {}", d.channel, d.item, d.last_error));
            }
        }
        Ok(())
    }

    fn mark_down(&mut self, d: &Delivery) {
        self.down.insert(
            d.channel.clone(),
            Down {
                error: d.last_error.clone(),
                next_attempt_at: d.next_attempt_at,
            },
        );
    }

    fn failed(&mut self, d: &Delivery) {
        tracing::warn!(channel = %d.channel, item = %d.item, error = %d.last_error,
            "Slack delivery failed");
        self.report.failed += 1;
        self.report
            .errors
            .push(format!("{}: {}: {}", d.channel, d.item, d.last_error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_fingerprints_round_trip() {
        assert_eq!(
            parse_item("alert:spike-00ab12cd34ef:3"),
            Some(("spike-00ab12cd34ef", 3))
        );
        assert_eq!(parse_item("report:payments:2026-W41"), None);
        let a = Secret("https://hooks.slack.com/services/T1/B1/aaa".into());
        let b = Secret("https://hooks.slack.com/services/T1/B1/aab".into());
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let err = format!(
            "Slack refused the message (HTTP 404 no_service) [webhook {}]",
            fingerprint(&a)
        );
        assert_eq!(fingerprint_in(&err), Some(fingerprint(&a).as_str()));
        assert!(!err.contains(a.expose()));
    }

    #[test]
    fn a_team_called_default_cannot_shadow_the_default_channel() {
        let mut cfg = SlackConfig {
            webhook_url: Secret("http://127.0.0.1:9/default".into()),
            ..SlackConfig::default()
        };
        cfg.teams
            .insert("default".into(), Secret("http://127.0.0.1:9/team".into()));
        let r = route_of_channel(&cfg, DEFAULT_CHANNEL).unwrap();
        assert_eq!(r.webhook.expose(), "http://127.0.0.1:9/default");
        assert_eq!(toml_key("data platform"), "\"data platform\"");
        assert_eq!(toml_key("payments"), "payments");
    }
}
