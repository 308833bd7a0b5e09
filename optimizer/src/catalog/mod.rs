//! The instance price catalog: SkyPilot-format `vms.csv` files read by column name, and the
//! [`Offer`]s they make.
//!
//! SkyPilot's catalogs (https://github.com/skypilot-org/skypilot-catalog) have one header per
//! cloud and schema version, in different orders (AWS `InstanceType,AcceleratorName,
//! AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone`, GCP
//! `InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,
//! AvailabilityZone,Price,SpotPrice`, Azure without a zone, …), and costmill's embedded extract
//! has a unified one (`provider,instance_type,vcpus,memory_gib,accelerator_name,
//! accelerator_count,region,zone,price_hourly_usd,spot_price_hourly_usd`). Columns are found by
//! name (case, `_`, `-` and spaces ignored), never by position; unknown columns (`GpuInfo`,
//! `Generation`) are ignored.
//!
//! Decisions, as SkyPilot reads the same files (pandas, where an empty cell is NaN):
//! - An empty price (or `nan`, `NA`, `N/A`, `null`) is "no price": an empty `SpotPrice` means
//!   the type is not offered as spot, an empty `Price` that it is not offered on demand. A row
//!   with neither is kept in the catalog but makes no offer.
//! - Prices are exact decimals parsed from the text (`0.070500` is 0.0705 exactly), at least 0,
//!   at most 18 fractional digits (the store's `Decimal(38, 18)`); `1e-05` is read as 0.00001.
//! - `vCPUs` and `MemoryGiB` must be positive, except on GCP's accelerator-only rows (empty
//!   `InstanceType`, a named accelerator), where they are empty or zero.
//! - An `AcceleratorName` needs a positive `AcceleratorCount` (`1.0` is 1); an empty name takes
//!   an empty or zero count.
//! - The provider is the `provider` column when the file has one and the cell is not empty,
//!   else the caller's (`costmill catalog import --provider`), else the file name when it is a
//!   SkyPilot cloud's (`aws.csv` is aws; SkyPilot's `gcp/vms.csv` is gcp).
//! - A UTF-8 byte-order mark and CRLF (or mixed) line ends are read as written: line numbers
//!   are the ones an editor shows.
//! - Two rows with the same key (provider, instance type, accelerator, region, zone) are one
//!   offer: their shapes must agree, and each price is the lowest one given (AWS's p4de.24xlarge
//!   has such pairs, one with a spot price and one without, differing only in the dropped
//!   `GpuInfo`).
//!
//! Split by concern: [`parse`] reads files into [`CatalogRow`]s, [`offers`] turns rows into
//! [`Offer`]s (GCP GPU VMs priced as host + accelerator).
mod offers;
mod parse;

use rust_decimal::Decimal;
use serde::Serialize;

pub use offers::*;
pub use parse::*;

/// The embedded copy of the extract in `optimizer/data/catalog/` (see its README):
/// `(file name, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("aws.csv", include_str!("../../data/catalog/aws.csv")),
    ("gcp.csv", include_str!("../../data/catalog/gcp.csv")),
    ("azure.csv", include_str!("../../data/catalog/azure.csv")),
    ("lambda.csv", include_str!("../../data/catalog/lambda.csv")),
    ("runpod.csv", include_str!("../../data/catalog/runpod.csv")),
];

/// When the embedded extract was collected (its README).
pub const EMBEDDED_AS_OF: &str = "2026-11-22";

/// The most fractional digits a price may have: the store keeps `Decimal(38, 18)`.
pub const MAX_SCALE: u32 = 18;

/// An accelerator model and how many an instance has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Accelerator {
    pub name: String,
    /// Usually whole (`8`); SkyPilot's Azure catalogs have fractional GPUs.
    pub count: Decimal,
}

/// One data row of a catalog file, as written (validated, not yet combined into offers).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRow {
    pub provider: String,
    /// Empty on a GCP accelerator-only row.
    pub instance_type: String,
    /// None on a GCP accelerator-only row.
    pub vcpus: Option<Decimal>,
    pub memory_gib: Option<Decimal>,
    pub accelerator: Option<Accelerator>,
    pub region: String,
    /// None where the catalog has no zones (Azure, Lambda).
    pub zone: Option<String>,
    /// On-demand USD per hour; None: not offered on demand.
    pub price_hourly_usd: Option<Decimal>,
    /// Spot (preemptible) USD per hour; None: not offered as spot.
    pub spot_price_hourly_usd: Option<Decimal>,
    /// Where the row came from, for messages: file name and line.
    pub source: String,
    pub line: u64,
}

impl CatalogRow {
    /// What identifies a row within one catalog version: two rows with the same key are one.
    pub fn key(&self) -> RowKey {
        RowKey {
            provider: self.provider.clone(),
            instance_type: self.instance_type.clone(),
            accelerator_name: self
                .accelerator
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            accelerator_count: self
                .accelerator
                .as_ref()
                .map(|a| a.count.normalize())
                .unwrap_or_default(),
            region: self.region.clone(),
            zone: self.zone.clone().unwrap_or_default(),
        }
    }
}

/// See [`CatalogRow::key`]. For every row but GCP's accelerator-only ones the accelerator follows
/// from the instance type, so the key is (provider, instance type, region, zone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub provider: String,
    pub instance_type: String,
    pub accelerator_name: String,
    pub accelerator_count: Decimal,
    pub region: String,
    pub zone: String,
}

/// A catalog file that cannot be read. Every message names the file, and where it can, the line,
/// the column and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: empty file: expected a header line like `{}`", UNIFIED_HEADER)]
    Empty { file: String },
    #[error("{file}: line 1: no column {wanted}; the header has: {found}")]
    MissingColumn {
        file: String,
        wanted: String,
        found: String,
    },
    #[error("{file}: line 1: column {column} ({name}) repeats column {first} (both are {field})")]
    DuplicateColumn {
        file: String,
        column: usize,
        name: String,
        first: usize,
        field: String,
    },
    #[error("{file}: line {line}: column {column} ({name}): expected {expected}, found {found:?}")]
    Value {
        file: String,
        line: u64,
        column: usize,
        name: String,
        expected: String,
        found: String,
    },
    #[error("{file}: line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        file: String,
        line: u64,
        expected: u64,
        found: u64,
    },
    #[error("{file}: line {line}: column {column}: not UTF-8 text")]
    NotUtf8 {
        file: String,
        line: u64,
        column: usize,
    },
    #[error("{file}: line {line}: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: line {line}: no provider: the file has no provider column and none was given (name the file after the provider, e.g. aws.csv, or pass --provider)")]
    NoProvider { file: String, line: u64 },
    #[error("{file}: line {line}: {key} is also at {other}:{other_line} with another shape ({what}); one of them is wrong")]
    Conflict {
        file: String,
        line: u64,
        key: String,
        other: String,
        other_line: u64,
        what: String,
    },
}

/// The unified header of costmill's extract.
pub const UNIFIED_HEADER: &str = "provider,instance_type,vcpus,memory_gib,accelerator_name,accelerator_count,region,zone,price_hourly_usd,spot_price_hourly_usd";

#[cfg(test)]
#[path = "../catalog_tests.rs"]
mod tests;
