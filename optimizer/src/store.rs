//! The catalog in ClickHouse: `price_catalog` (migration 008) keeps every imported version.
//!
//! An import writes its rows with its `as_of` date. The current catalog is, for every key
//! (provider, instance type, accelerator, region, zone), the row of the latest `as_of`: a new
//! price adds a row and the old one stays for history; an offer missing from a later import
//! keeps its latest price. Importing the same `as_of` again replaces that version's rows (the
//! table is a ReplacingMergeTree on the key and `as_of`, read with FINAL): idempotent.
use chrono::NaiveDate;
use clickhouse::Row;
use queries::{q, Dec18, Param, Store, StoreError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{Accelerator, CatalogRow};

/// A row of `price_catalog` (also what sql/catalog_current.sql reads).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct PriceCatalogRow {
    pub provider: String,
    pub instance_type: String,
    pub accelerator_name: String,
    pub accelerator_count: Dec18,
    pub vcpus: Option<Dec18>,
    pub memory_gib: Option<Dec18>,
    pub region: String,
    pub zone: String,
    pub price_hourly_usd: Option<Dec18>,
    pub spot_price_hourly_usd: Option<Dec18>,
    /// Days since 1970-01-01.
    pub as_of: u16,
    pub source: String,
    pub source_line: u64,
    pub imported_at: u32,
    pub version: u64,
}

/// One `(provider, as_of)` version of the stored catalog (sql/catalog_versions.sql).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct CatalogVersion {
    pub provider: String,
    pub as_of: u16,
    pub rows: u64,
    /// Rows of this version that are current (no later as_of for their key).
    pub current: u64,
}

/// A stored catalog problem.
#[derive(Debug, thiserror::Error)]
pub enum CatalogStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("price_catalog: {0}")]
    Insert(#[from] clickhouse::error::Error),
    #[error("{file}: line {line}: {what} has more digits than Decimal(38, 18) holds")]
    OutOfRange {
        file: String,
        line: u64,
        what: &'static str,
    },
    #[error("price_catalog: a stored value is out of range: {0}")]
    Read(String),
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

/// A date as ClickHouse's `Date` travels (days since the epoch).
pub fn date_number(date: NaiveDate) -> u16 {
    (date - epoch()).num_days().clamp(0, u16::MAX as i64) as u16
}

/// The date of a ClickHouse `Date` number.
pub fn date_of(number: u16) -> NaiveDate {
    epoch() + chrono::Days::new(number as u64)
}

fn dec(value: Decimal, row: &CatalogRow, what: &'static str) -> Result<Dec18, CatalogStoreError> {
    Dec18::from_decimal_exact(value).ok_or_else(|| CatalogStoreError::OutOfRange {
        file: row.source.clone(),
        line: row.line,
        what,
    })
}

fn opt(
    value: Option<Decimal>,
    row: &CatalogRow,
    what: &'static str,
) -> Result<Option<Dec18>, CatalogStoreError> {
    value.map(|v| dec(v, row, what)).transpose()
}

/// Store `rows` (merged: see `catalog::merge_duplicates`) as the catalog version `as_of`, in
/// one insert. Returns the number of rows written.
pub async fn import(
    store: &Store,
    rows: &[CatalogRow],
    as_of: NaiveDate,
) -> Result<usize, CatalogStoreError> {
    let now = chrono::Utc::now();
    let version = now.timestamp_nanos_opt().unwrap_or_default() as u64;
    let mut converted = Vec::with_capacity(rows.len());
    for row in rows {
        let (accelerator_name, accelerator_count) = match &row.accelerator {
            Some(a) => (a.name.clone(), dec(a.count, row, "AcceleratorCount")?),
            None => (String::new(), Dec18::ZERO),
        };
        converted.push(PriceCatalogRow {
            provider: row.provider.clone(),
            instance_type: row.instance_type.clone(),
            accelerator_name,
            accelerator_count,
            vcpus: opt(row.vcpus, row, "vCPUs")?,
            memory_gib: opt(row.memory_gib, row, "MemoryGiB")?,
            region: row.region.clone(),
            zone: row.zone.clone().unwrap_or_default(),
            price_hourly_usd: opt(row.price_hourly_usd, row, "Price")?,
            spot_price_hourly_usd: opt(row.spot_price_hourly_usd, row, "SpotPrice")?,
            as_of: date_number(as_of),
            source: row.source.clone(),
            source_line: row.line,
            imported_at: now.timestamp() as u32,
            version,
        });
    }
    let mut insert = store.insert::<PriceCatalogRow>("price_catalog").await?;
    for row in &converted {
        insert.write(row).await?;
    }
    insert.end().await?;
    tracing::info!(rows = converted.len(), %as_of, "imported the price catalog");
    Ok(converted.len())
}

fn back(value: Dec18) -> Result<Decimal, CatalogStoreError> {
    value
        .to_decimal()
        .map_err(|e| CatalogStoreError::Read(e.to_string()))
}

fn back_opt(value: Option<Dec18>) -> Result<Option<Decimal>, CatalogStoreError> {
    value.map(back).transpose()
}

/// The current catalog (latest `as_of` per key), optionally of one provider (`""`: every one),
/// as catalog rows, and the latest `as_of` among them.
pub async fn current(
    store: &Store,
    provider: &str,
) -> Result<(Vec<CatalogRow>, Option<NaiveDate>), CatalogStoreError> {
    let stored: Vec<PriceCatalogRow> = store
        .fetch_all(&q::catalog_current().bind("provider", Param::Str(provider.to_string())))
        .await?;
    let latest = stored.iter().map(|r| r.as_of).max().map(date_of);
    let mut rows = Vec::with_capacity(stored.len());
    for r in stored {
        let accelerator = if r.accelerator_name.is_empty() {
            None
        } else {
            Some(Accelerator {
                name: r.accelerator_name,
                count: back(r.accelerator_count)?,
            })
        };
        rows.push(CatalogRow {
            provider: r.provider,
            instance_type: r.instance_type,
            vcpus: back_opt(r.vcpus)?,
            memory_gib: back_opt(r.memory_gib)?,
            accelerator,
            region: r.region,
            zone: Some(r.zone).filter(|z| !z.is_empty()),
            price_hourly_usd: back_opt(r.price_hourly_usd)?,
            spot_price_hourly_usd: back_opt(r.spot_price_hourly_usd)?,
            source: r.source,
            line: r.source_line,
        });
    }
    Ok((rows, latest))
}

/// Every stored version: rows per provider and `as_of`, and how many of them are current.
pub async fn versions(store: &Store) -> Result<Vec<CatalogVersion>, CatalogStoreError> {
    Ok(store.fetch_all(&q::catalog_versions()).await?)
}
