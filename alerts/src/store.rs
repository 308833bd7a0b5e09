//! Reading and writing the `alerts` table. Every change is a new version of the row; readers see
//! the latest (FINAL).
use chrono::Utc;
use queries::{q, Param, Store};

use crate::model::{Alert, AlertRow, AlertState};
use crate::AlertError;

/// A version number that grows with time (nanoseconds), so the latest write wins.
pub(crate) fn next_version() -> u64 {
    Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64
}

/// Write alerts (new ones, or new versions of existing ones).
pub async fn save(store: &Store, alerts: &[Alert]) -> Result<(), AlertError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let version = next_version();
    let mut insert = store.insert::<AlertRow>("alerts").await?;
    for (i, a) in alerts.iter().enumerate() {
        insert
            .write(&AlertRow::from_alert(a, version + i as u64))
            .await
            .map_err(|source| queries::StoreError::Query {
                name: "insert into alerts".into(),
                source,
            })?;
    }
    insert
        .end()
        .await
        .map_err(|source| queries::StoreError::Query {
            name: "insert into alerts".into(),
            source,
        })?;
    Ok(())
}

/// Alerts in the given states (all states when empty), newest first.
pub async fn list(store: &Store, states: &[AlertState]) -> Result<Vec<Alert>, AlertError> {
    fetch(store, states, "").await
}

/// One alert by id.
pub async fn get(store: &Store, id: &str) -> Result<Alert, AlertError> {
    fetch(store, &[], id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AlertError::UnknownAlert { id: id.into() })
}

async fn fetch(store: &Store, states: &[AlertState], id: &str) -> Result<Vec<Alert>, AlertError> {
    let query = q::alerts_list()
        .bind(
            "states",
            Param::StrArray(states.iter().map(|s| s.as_str().to_string()).collect()),
        )
        .bind_str("id", id);
    store
        .fetch_all::<AlertRow>(&query)
        .await?
        .into_iter()
        .map(AlertRow::into_alert)
        .collect()
}

/// Mark an alert acknowledged by `by`. It stays tracked (and is resolved when the anomaly ends)
/// but is not sent again.
pub async fn acknowledge(store: &Store, id: &str, by: &str) -> Result<Alert, AlertError> {
    let mut alert = get(store, id).await?;
    if alert.state == AlertState::Open {
        alert.state = AlertState::Acknowledged;
        alert.acked_by = by.to_string();
        alert.updated_at = Utc::now();
        save(store, std::slice::from_ref(&alert)).await?;
    }
    Ok(alert)
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct OwnerRow {
    service: String,
    team: String,
}

/// Service → the team that pays most of it since `from` (for routing alerts about a service).
pub async fn service_owners(
    store: &Store,
    from: chrono::NaiveDate,
) -> Result<std::collections::BTreeMap<String, String>, AlertError> {
    let query = q::alerts_service_owners().bind("from", Param::Date(from));
    Ok(store
        .fetch_all::<OwnerRow>(&query)
        .await?
        .into_iter()
        .map(|r| (r.service, r.team))
        .collect())
}
