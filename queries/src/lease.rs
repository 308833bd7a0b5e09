//! Leases in ClickHouse: at most one holder of a name at a time, across processes and hosts
//! sharing a database (two `costmill serve`, a CLI ingest beside a server).
//!
//! ClickHouse has no compare-and-swap, so a lease is decided by order: a claim is a row
//! `(name, holder, claimed_ms, expires_ms)`; among the claims of a name that have not expired, the
//! one with the smallest `(claimed_ms, holder)` holds it. A claimant inserts its claim, waits
//! [`SETTLE`], and reads the claims back. That is safe as long as a claim becomes visible within
//! `SETTLE / 2` of its timestamp (a claimant whose own insert took longer withdraws and tries
//! again) and the claimants' clocks agree to better than `SETTLE / 2`: then any earlier claim is
//! visible when a later claimant reads, and both see the same winner.
//!
//! A holder renews its claim every third of its time to live; one that stops renewing (a crashed
//! process) loses the lease when it expires. Renewals and the release are newer versions of the
//! claim row (ReplacingMergeTree), read with `argMax`, so reads are exact before merges.
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{q, Param, Store, StoreError};

/// How long a claimant waits between its claim and reading the claims back.
pub const SETTLE: Duration = Duration::from_millis(400);

/// Default time to live of a lease; renewed every third of it while held.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Row, Serialize)]
struct ClaimRow {
    name: String,
    holder: String,
    claimed_ms: u64,
    expires_ms: u64,
    info: String,
    version: u64,
}

/// An unexpired claim (sql/lease_active.sql).
#[derive(Debug, Clone, Row, Deserialize, PartialEq)]
pub struct ActiveClaim {
    pub holder: String,
    pub claimed_ms: u64,
    pub expires_ms: u64,
    /// Who holds it, for messages: host, pid, what it does.
    pub info: String,
}

pub fn now_ms() -> u64 {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

/// A held lease. Renewed in the background until released or dropped; `lost()` is cancelled if a
/// renewal finds the lease gone (expired and taken by another), so the holder can stop its work.
pub struct Lease {
    store: Store,
    name: String,
    holder: String,
    claimed_ms: u64,
    info: String,
    lost: CancellationToken,
    renewer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .finish()
    }
}

/// Who this process is, for the `info` of its claims.
pub fn process_info(what: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("{what} (host {host}, pid {})", std::process::id())
}

impl Store {
    async fn write_claim(&self, row: &ClaimRow) -> Result<(), StoreError> {
        self.insert_rows("leases", std::slice::from_ref(row)).await
    }

    /// The unexpired claims of a lease, the holder first.
    pub async fn lease_claims(&self, name: &str) -> Result<Vec<ActiveClaim>, StoreError> {
        self.fetch_all(
            &q::lease_active()
                .bind_str("name", name)
                .bind("now", Param::Int(now_ms().into())),
        )
        .await
    }

    /// Take the lease `name` for `holder`, waiting up to `wait` while another holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        info: &str,
        ttl: Duration,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<Lease, StoreError> {
        let deadline = Instant::now() + wait;
        let ttl_ms = ttl.as_millis() as u64;
        loop {
            let claims = self.lease_claims(name).await?;
            let held_by_other = claims.first().filter(|c| c.holder != holder).cloned();
            if held_by_other.is_none() {
                let claimed_ms = now_ms();
                let row = ClaimRow {
                    name: name.into(),
                    holder: holder.into(),
                    claimed_ms,
                    expires_ms: claimed_ms + ttl_ms,
                    info: info.into(),
                    version: claimed_ms,
                };
                self.write_claim(&row).await?;
                let visible_after = now_ms().saturating_sub(claimed_ms);
                tokio::time::sleep(SETTLE).await;
                let claims = self.lease_claims(name).await?;
                let won = visible_after <= SETTLE.as_millis() as u64 / 2
                    && claims
                        .first()
                        .is_some_and(|c| c.holder == holder && c.claimed_ms == claimed_ms);
                if won {
                    return Ok(self.held_lease(name, holder, claimed_ms, info, ttl));
                }
                // Lost the race (or our claim was too slow to count): withdraw it.
                self.write_claim(&ClaimRow {
                    expires_ms: 0,
                    version: now_ms().max(claimed_ms + 1),
                    ..row
                })
                .await?;
            }
            if Instant::now() >= deadline {
                let claims = self.lease_claims(name).await?;
                let other = claims.into_iter().find(|c| c.holder != holder);
                return Err(StoreError::LeaseHeld {
                    name: name.into(),
                    holder: other
                        .as_ref()
                        .map(|c| c.info.clone())
                        .unwrap_or_else(|| "another costmill".into()),
                    since: other
                        .map(|c| crate::format_datetime_ms(c.claimed_ms))
                        .unwrap_or_default(),
                    waited_secs: wait.as_secs(),
                });
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(StoreError::Cancelled),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    fn held_lease(
        &self,
        name: &str,
        holder: &str,
        claimed_ms: u64,
        info: &str,
        ttl: Duration,
    ) -> Lease {
        let lost = CancellationToken::new();
        let store = self.clone();
        let row = ClaimRow {
            name: name.into(),
            holder: holder.into(),
            claimed_ms,
            expires_ms: 0,
            info: info.into(),
            version: 0,
        };
        let lost_signal = lost.clone();
        let renewer = tokio::spawn(async move {
            let ttl_ms = ttl.as_millis() as u64;
            let mut failures = 0u32;
            loop {
                tokio::time::sleep(ttl / 3).await;
                // Still ours? An expired claim that another took over is lost for good.
                match store.lease_claims(&row.name).await {
                    Ok(claims) => {
                        let ours = claims
                            .first()
                            .is_some_and(|c| c.holder == row.holder && c.claimed_ms == claimed_ms);
                        if !ours {
                            tracing::error!(lease = %row.name, "lease lost: another holder took it over");
                            lost_signal.cancel();
                            return;
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(lease = %row.name, error = %e, "could not check the lease");
                    }
                }
                let now = now_ms();
                let renewal = ClaimRow {
                    expires_ms: now + ttl_ms,
                    version: now,
                    ..row.clone()
                };
                match store.write_claim(&renewal).await {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(lease = %row.name, error = %e, "could not renew the lease");
                    }
                }
                if failures >= 2 {
                    // Two thirds of the time to live gone without a renewal: assume it is lost.
                    lost_signal.cancel();
                    return;
                }
            }
        });
        Lease {
            store: self.clone(),
            name: name.into(),
            holder: holder.into(),
            claimed_ms,
            info: info.into(),
            lost,
            renewer,
        }
    }
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cancelled when the lease was lost while held.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// Give the lease up now (otherwise it expires a time to live after the last renewal).
    pub async fn release(self) -> Result<(), StoreError> {
        self.renewer.abort();
        let version = now_ms().max(self.claimed_ms + 1);
        self.store
            .write_claim(&ClaimRow {
                name: self.name.clone(),
                holder: self.holder.clone(),
                claimed_ms: self.claimed_ms,
                expires_ms: 0,
                info: self.info.clone(),
                version,
            })
            .await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Without a release the claim expires on its own; stop renewing it.
        self.renewer.abort();
    }
}
