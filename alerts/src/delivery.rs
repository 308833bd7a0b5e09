//! Delivery records: one per message and destination, so a retry never sends twice and an outage
//! loses nothing (failed deliveries are retried by `costmill serve`).
//!
//! The protocol of a sender: look the record up; if it is `sent` (or `unknown`), do nothing; write
//! `sending`; try; write `sent`, or `failed` with the next attempt time when the peer refused the
//! message or could not be reached, or `unknown` when the message may have been delivered (the
//! connection dropped after the request was sent): an unknown delivery is not retried, because a
//! retry could send it twice, and is shown to the user instead.
use chrono::{DateTime, Utc};
use clickhouse::Row;
use queries::{q, Param, Store};
use serde::{Deserialize, Serialize};

use crate::store::next_version;
use crate::AlertError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    Sending,
    Sent,
    Failed,
    Unknown,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown => "unknown",
        }
    }
    fn parse(s: &str) -> DeliveryState {
        match s {
            "sent" => DeliveryState::Sent,
            "failed" => DeliveryState::Failed,
            "unknown" => DeliveryState::Unknown,
            _ => DeliveryState::Sending,
        }
    }
}

/// One message to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `slack:<team or default>` or `email:<address>`.
    pub channel: String,
    /// What is sent: `alert:<id>:<revision>`, `report:<team>:<week>`.
    pub item: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: String,
    pub next_attempt_at: DateTime<Utc>,
    /// What a retry needs to send the same message again (the rendered body).
    pub payload: String,
}

impl Delivery {
    pub fn new(channel: impl Into<String>, item: impl Into<String>, payload: String) -> Delivery {
        Delivery {
            channel: channel.into(),
            item: item.into(),
            state: DeliveryState::Sending,
            attempts: 0,
            last_error: String::new(),
            next_attempt_at: Utc::now(),
            payload,
        }
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct DeliveryRow {
    channel: String,
    item: String,
    state: String,
    attempts: u32,
    last_error: String,
    next_attempt_at: u32,
    payload: String,
    updated_at: u32,
    version: u64,
}

impl DeliveryRow {
    fn into_delivery(self) -> Delivery {
        Delivery {
            channel: self.channel,
            item: self.item,
            state: DeliveryState::parse(&self.state),
            attempts: self.attempts,
            last_error: self.last_error,
            next_attempt_at: DateTime::from_timestamp(self.next_attempt_at as i64, 0)
                .unwrap_or_default(),
            payload: self.payload,
        }
    }
}

/// Write the current state of a delivery (a new version of its record).
pub async fn record(store: &Store, d: &Delivery) -> Result<(), AlertError> {
    let row = DeliveryRow {
        channel: d.channel.clone(),
        item: d.item.clone(),
        state: d.state.as_str().into(),
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        next_attempt_at: d.next_attempt_at.timestamp().max(0) as u32,
        payload: d.payload.clone(),
        updated_at: Utc::now().timestamp() as u32,
        version: next_version(),
    };
    let err = |source| queries::StoreError::Query {
        name: "insert into deliveries".into(),
        source,
    };
    let mut insert = store.insert::<DeliveryRow>("deliveries").await?;
    insert.write(&row).await.map_err(err)?;
    insert.end().await.map_err(err)?;
    Ok(())
}

/// The record of one message to one destination, if any.
pub async fn get(store: &Store, channel: &str, item: &str) -> Result<Option<Delivery>, AlertError> {
    Ok(fetch(store, channel, item, None)
        .await?
        .into_iter()
        .find(|d| d.channel == channel))
}

/// Every record whose channel starts with `prefix` (`slack:`, `email:`).
pub async fn list(store: &Store, prefix: &str) -> Result<Vec<Delivery>, AlertError> {
    fetch(store, prefix, "", None).await
}

/// Failed deliveries under `prefix` whose next attempt is due at `now`.
pub async fn due(
    store: &Store,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Delivery>, AlertError> {
    fetch(store, prefix, "", Some(now)).await
}

async fn fetch(
    store: &Store,
    prefix: &str,
    item: &str,
    due_before: Option<DateTime<Utc>>,
) -> Result<Vec<Delivery>, AlertError> {
    let query = q::deliveries_get()
        .bind_str("channel", prefix)
        .bind_str("item", item)
        .bind("due_only", Param::Int(due_before.is_some() as i128))
        .bind(
            "due_before",
            Param::DateTime(due_before.map(|t| t.timestamp()).unwrap_or(0)),
        );
    Ok(store
        .fetch_all::<DeliveryRow>(&query)
        .await?
        .into_iter()
        .map(DeliveryRow::into_delivery)
        .collect())
}
