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
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

/// The embedded copy of the extract in `optimizer/data/catalog/` (see its README):
/// `(file name, text)`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("aws.csv", include_str!("../data/catalog/aws.csv")),
    ("gcp.csv", include_str!("../data/catalog/gcp.csv")),
    ("azure.csv", include_str!("../data/catalog/azure.csv")),
    ("lambda.csv", include_str!("../data/catalog/lambda.csv")),
    ("runpod.csv", include_str!("../data/catalog/runpod.csv")),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Provider,
    InstanceType,
    Vcpus,
    Memory,
    AcceleratorName,
    AcceleratorCount,
    Region,
    Zone,
    Price,
    SpotPrice,
}

/// (field, normalized header names, how messages name it, required).
const FIELDS: &[(Field, &[&str], &str, bool)] = &[
    (Field::Provider, &["provider"], "provider", false),
    (
        Field::InstanceType,
        &["instancetype"],
        "InstanceType (or instance_type)",
        true,
    ),
    (Field::Vcpus, &["vcpus"], "vCPUs (or vcpus)", true),
    (
        Field::Memory,
        &["memorygib"],
        "MemoryGiB (or memory_gib)",
        true,
    ),
    (
        Field::AcceleratorName,
        &["acceleratorname"],
        "AcceleratorName (or accelerator_name)",
        false,
    ),
    (
        Field::AcceleratorCount,
        &["acceleratorcount"],
        "AcceleratorCount (or accelerator_count)",
        false,
    ),
    (Field::Region, &["region"], "Region (or region)", true),
    (
        Field::Zone,
        &["availabilityzone", "zone"],
        "AvailabilityZone (or zone)",
        false,
    ),
    (
        Field::Price,
        &["price", "pricehourlyusd"],
        "Price (or price_hourly_usd)",
        true,
    ),
    (
        Field::SpotPrice,
        &["spotprice", "spotpricehourlyusd"],
        "SpotPrice (or spot_price_hourly_usd)",
        false,
    ),
];

fn normalize_header(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Column positions (0-based) of the fields a header has.
struct Columns {
    index: HashMap<u8, usize>,
    names: Vec<String>,
}

impl Columns {
    fn of(file: &str, header: &csv::StringRecord) -> Result<Columns, CatalogError> {
        let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
        let mut index: HashMap<u8, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let normalized = normalize_header(name);
            let Some((field, _, label, _)) = FIELDS
                .iter()
                .find(|(_, aliases, _, _)| aliases.contains(&normalized.as_str()))
            else {
                continue;
            };
            if let Some(first) = index.insert(*field as u8, i) {
                return Err(CatalogError::DuplicateColumn {
                    file: file.into(),
                    column: i + 1,
                    name: name.clone(),
                    first: first + 1,
                    field: label.to_string(),
                });
            }
        }
        let missing = |label: &str| CatalogError::MissingColumn {
            file: file.into(),
            wanted: label.to_string(),
            found: names.join(","),
        };
        for (field, _, label, required) in FIELDS {
            if *required && !index.contains_key(&(*field as u8)) {
                return Err(missing(label));
            }
        }
        // A name without a count (or the reverse) cannot be read.
        let has = |f: Field| index.contains_key(&(f as u8));
        if has(Field::AcceleratorName) != has(Field::AcceleratorCount) {
            let label = if has(Field::AcceleratorName) {
                "AcceleratorCount (or accelerator_count), as the header has AcceleratorName"
            } else {
                "AcceleratorName (or accelerator_name), as the header has AcceleratorCount"
            };
            return Err(missing(label));
        }
        Ok(Columns { index, names })
    }

    fn get(&self, field: Field) -> Option<usize> {
        self.index.get(&(field as u8)).copied()
    }
}

/// The clouds of SkyPilot's catalogs (its `catalogs/v*/<cloud>/` folders): the names a file
/// name may give as its provider.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "aws",
    "azure",
    "gcp",
    "lambda",
    "runpod",
    "oci",
    "ibm",
    "scp",
    "fluidstack",
    "paperspace",
    "cudo",
    "do",
    "vast",
    "nebius",
    "hyperbolic",
    "vsphere",
];

/// The provider a catalog file is named after: `aws.csv` is `aws`; SkyPilot's
/// `catalogs/v7/gcp/vms.csv` is `gcp` (its folder). Only [`KNOWN_PROVIDERS`]: a file called
/// `prices.csv` says nothing (give the provider yourself).
pub fn provider_from_path(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    let name = if stem == "vms" {
        path.parent()?.file_name()?.to_str()?.to_ascii_lowercase()
    } else {
        stem
    };
    KNOWN_PROVIDERS.contains(&name.as_str()).then_some(name)
}

fn valid_provider(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Read a catalog file; the provider, when the file has no provider column, is `provider` or
/// else the one its name says (see [`provider_from_path`]).
pub fn read_file(path: &Path, provider: Option<&str>) -> Result<Vec<CatalogRow>, CatalogError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CatalogError::Io {
        file: file.clone(),
        source,
    })?;
    let default = provider
        .map(str::to_string)
        .or_else(|| provider_from_path(path));
    parse(&bytes, &file, default.as_deref())
}

/// Every row of the embedded extract.
pub fn embedded_rows() -> Vec<CatalogRow> {
    EMBEDDED
        .iter()
        .flat_map(|(name, text)| {
            parse(text.as_bytes(), name, None)
                .unwrap_or_else(|e| panic!("the embedded catalog is checked by the tests: {e}"))
        })
        .collect()
}

/// Parse one catalog file's bytes. `file` names it in messages; `provider` is the default
/// provider for rows without one.
pub fn parse(
    bytes: &[u8],
    file: &str,
    provider: Option<&str>,
) -> Result<Vec<CatalogRow>, CatalogError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CatalogError::Empty { file: file.into() });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| csv_error(file, e, &mut Lines::new(bytes)))?
        .clone();
    let columns = Columns::of(file, &header)?;
    let provider = match provider {
        Some(p) if !valid_provider(p) => {
            return Err(CatalogError::Csv {
                file: file.into(),
                line: 1,
                message: format!(
                    "provider {p:?}: expected lowercase letters, digits, '-' or '_' (e.g. aws)"
                ),
            })
        }
        p => p,
    };
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut lines = Lines::new(bytes);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(file, e, &mut lines)),
        }
        let line = record.position().map(|p| lines.at(p.byte())).unwrap_or(0);
        // A blank line at the end (or anywhere) is not a row.
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows.push(parse_row(file, line, &record, &columns, provider)?);
    }
    Ok(rows)
}

/// Editor line numbers from byte offsets. The csv crate's own line count lags by one after CRLF
/// line ends (its record positions can point at the `\n` of the previous `\r\n`), so lines are
/// counted here: the line of the first byte at or after `offset` that is not a line end.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Bytes before `offset` are counted: `line` is the line of `offset`.
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Lines<'a> {
        Lines {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    fn at(&mut self, offset: u64) -> u64 {
        let mut target = (offset as usize).min(self.bytes.len());
        while target < self.bytes.len() && matches!(self.bytes[target], b'\r' | b'\n') {
            target += 1;
        }
        if target < self.offset {
            // Not expected (positions only grow), but stay correct: count from the start.
            self.offset = 0;
            self.line = 1;
        }
        for i in self.offset..target {
            match self.bytes[i] {
                b'\n' => self.line += 1,
                // A lone CR ends a line too.
                b'\r' if self.bytes.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.offset = target;
        self.line
    }
}

fn csv_error(file: &str, error: csv::Error, lines: &mut Lines) -> CatalogError {
    let line = error.position().map(|p| lines.at(p.byte())).unwrap_or(1);
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => CatalogError::FieldCount {
            file: file.into(),
            line,
            expected: *expected_len,
            found: *len,
        },
        csv::ErrorKind::Utf8 { err, .. } => CatalogError::NotUtf8 {
            file: file.into(),
            line,
            column: err.field() + 1,
        },
        _ => CatalogError::Csv {
            file: file.into(),
            line,
            message: error.to_string(),
        },
    }
}

/// pandas reads these as NaN: SkyPilot treats them as no value.
fn is_missing(text: &str) -> bool {
    text.is_empty()
        || ["nan", "na", "n/a", "null", "none"]
            .iter()
            .any(|m| text.eq_ignore_ascii_case(m))
}

/// An exact decimal from its text; `1e-05` in scientific notation too.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

fn parse_row(
    file: &str,
    line: u64,
    record: &csv::StringRecord,
    columns: &Columns,
    default_provider: Option<&str>,
) -> Result<CatalogRow, CatalogError> {
    let cell = |field: Field| -> (Option<usize>, &str) {
        match columns.get(field) {
            Some(i) => (Some(i), record.get(i).unwrap_or("").trim()),
            None => (None, ""),
        }
    };
    let bad = |field: Field, expected: &str| -> CatalogError {
        let (column, found) = cell(field);
        let column = column.unwrap_or(0);
        CatalogError::Value {
            file: file.into(),
            line,
            column: column + 1,
            name: columns.names.get(column).cloned().unwrap_or_default(),
            expected: expected.into(),
            found: found.into(),
        }
    };
    // A decimal, or None when missing; `positive` refuses zero.
    let number = |field: Field, what: &str| -> Result<Option<Decimal>, CatalogError> {
        let (_, text) = cell(field);
        if is_missing(text) {
            return Ok(None);
        }
        let value = parse_decimal(text)
            .filter(|d| !d.is_sign_negative() || d.is_zero())
            .filter(|d| d.normalize().scale() <= MAX_SCALE)
            .ok_or_else(|| bad(field, what))?;
        Ok(Some(value.normalize()))
    };

    let provider = match cell(Field::Provider) {
        (Some(_), text) if !text.is_empty() => {
            let lower = text.to_ascii_lowercase();
            if !valid_provider(&lower) {
                return Err(bad(
                    Field::Provider,
                    "a provider name: letters, digits, '-' or '_' (e.g. aws)",
                ));
            }
            lower
        }
        _ => default_provider
            .map(str::to_string)
            .ok_or_else(|| CatalogError::NoProvider {
                file: file.into(),
                line,
            })?,
    };
    let instance_type = cell(Field::InstanceType).1.to_string();
    let accelerator_name = cell(Field::AcceleratorName).1.to_string();
    const COUNT: &str =
        "a positive accelerator count like 1 or 8.0 (empty or 0 without an AcceleratorName)";
    let count = number(Field::AcceleratorCount, COUNT)?;
    let accelerator = if is_missing(&accelerator_name) {
        if count.is_some_and(|c| !c.is_zero()) {
            return Err(bad(
                Field::AcceleratorCount,
                "an empty or zero count, as AcceleratorName is empty",
            ));
        }
        None
    } else {
        match count {
            Some(c) if !c.is_zero() => Some(Accelerator {
                name: accelerator_name,
                count: c,
            }),
            _ => return Err(bad(Field::AcceleratorCount, COUNT)),
        }
    };
    let accelerator_only = instance_type.is_empty();
    if accelerator_only && accelerator.is_none() {
        return Err(bad(
            Field::InstanceType,
            "an instance type (empty only on an accelerator-only row, which names its AcceleratorName)",
        ));
    }
    let shape = |field: Field, what: &str| -> Result<Option<Decimal>, CatalogError> {
        let value = number(field, what)?;
        if accelerator_only {
            // GCP prices GPUs in rows of their own: no vCPUs, no memory.
            return match value {
                None => Ok(None),
                Some(v) if v.is_zero() => Ok(None),
                Some(_) => Err(bad(
                    field,
                    "an empty value on an accelerator-only row (empty InstanceType)",
                )),
            };
        }
        match value {
            Some(v) if !v.is_zero() => Ok(Some(v)),
            _ => Err(bad(field, what)),
        }
    };
    let vcpus = shape(Field::Vcpus, "a positive number of vCPUs like 4 or 0.25")?;
    let memory_gib = shape(
        Field::Memory,
        "a positive memory size in GiB like 16 or 0.5",
    )?;
    let region = cell(Field::Region).1.to_string();
    if region.is_empty() {
        return Err(bad(Field::Region, "a region name like us-east-1"));
    }
    let zone = Some(cell(Field::Zone).1.to_string()).filter(|z| !z.is_empty());
    const PRICE: &str =
        "a price in USD per hour like 0.0705, at least 0, at most 18 decimals (empty: none)";
    let price_hourly_usd = number(Field::Price, PRICE)?;
    let spot_price_hourly_usd = number(Field::SpotPrice, PRICE)?;
    Ok(CatalogRow {
        provider,
        instance_type,
        vcpus,
        memory_gib,
        accelerator,
        region,
        zone,
        price_hourly_usd,
        spot_price_hourly_usd,
        source: file.to_string(),
        line,
    })
}

fn min_price(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Merge rows with the same key (see the module notes): each price the lowest one given. Rows
/// keep their first occurrence's order. Refuses two rows of one key with different shapes.
/// Returns the rows and how many were merged away.
pub fn merge_duplicates(rows: Vec<CatalogRow>) -> Result<(Vec<CatalogRow>, usize), CatalogError> {
    let mut out: Vec<CatalogRow> = Vec::with_capacity(rows.len());
    let mut seen: HashMap<RowKey, usize> = HashMap::with_capacity(rows.len());
    let mut merged = 0;
    for row in rows {
        let key = row.key();
        let existing = seen.get(&key).copied();
        match existing {
            None => {
                seen.insert(key, out.len());
                out.push(row);
            }
            Some(i) => {
                let first = &mut out[i];
                if first.vcpus != row.vcpus || first.memory_gib != row.memory_gib {
                    return Err(CatalogError::Conflict {
                        file: row.source.clone(),
                        line: row.line,
                        key: describe_key(&key),
                        other: first.source.clone(),
                        other_line: first.line,
                        what: format!(
                            "vCPUs {:?} and memory {:?} GiB against {:?} and {:?}",
                            row.vcpus, row.memory_gib, first.vcpus, first.memory_gib
                        ),
                    });
                }
                first.price_hourly_usd = min_price(first.price_hourly_usd, row.price_hourly_usd);
                first.spot_price_hourly_usd =
                    min_price(first.spot_price_hourly_usd, row.spot_price_hourly_usd);
                merged += 1;
            }
        }
    }
    Ok((out, merged))
}

fn describe_key(key: &RowKey) -> String {
    let mut text = format!("{} {}", key.provider, key.instance_type);
    if !key.accelerator_name.is_empty() {
        text.push_str(&format!(
            " {}:{}",
            key.accelerator_name, key.accelerator_count
        ));
    }
    text.push_str(&format!(" in {}", key.region));
    if !key.zone.is_empty() {
        text.push_str(&format!("/{}", key.zone));
    }
    text.trim_start().to_string()
}

/// Something that can be rented, at one place, with its hourly prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offer {
    pub provider: String,
    pub instance_type: String,
    pub vcpus: Decimal,
    pub memory_gib: Decimal,
    pub accelerator: Option<Accelerator>,
    pub region: String,
    /// None where the provider's catalog has no zones (Azure, Lambda).
    pub zone: Option<String>,
    /// USD per hour on demand; None: not offered on demand.
    pub on_demand_hourly_usd: Option<Decimal>,
    /// USD per hour as spot, as the catalog says even when above on demand (RunPod's L40S
    /// rows); None: not offered as spot.
    pub spot_hourly_usd: Option<Decimal>,
    /// GCP GPU VMs: the host's and the accelerator row's prices that make up the figures above.
    pub gcp_parts: Option<GcpParts>,
}

impl Offer {
    /// The hourly price in a market, if offered there.
    pub fn price(&self, spot: bool) -> Option<Decimal> {
        if spot {
            self.spot_hourly_usd
        } else {
            self.on_demand_hourly_usd
        }
    }
}

/// A GCP GPU VM is priced as its host VM row plus its accelerator row (as SkyPilot prices it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcpParts {
    pub host_on_demand: Option<Decimal>,
    pub host_spot: Option<Decimal>,
    pub accelerator_on_demand: Option<Decimal>,
    pub accelerator_spot: Option<Decimal>,
}

/// GCP host VM types of each accelerator model and count, from SkyPilot's
/// `sky/catalog/gcp_catalog.py` (`_ACC_INSTANCE_TYPE_DICTS`): A100 needs A2, L4 needs G2, …
const GCP_ACCELERATOR_HOSTS: &[(&str, u32, &[&str])] = &[
    ("A100", 1, &["a2-highgpu-1g"]),
    ("A100", 2, &["a2-highgpu-2g"]),
    ("A100", 4, &["a2-highgpu-4g"]),
    ("A100", 8, &["a2-highgpu-8g"]),
    ("A100", 16, &["a2-megagpu-16g"]),
    ("A100-80GB", 1, &["a2-ultragpu-1g"]),
    ("A100-80GB", 2, &["a2-ultragpu-2g"]),
    ("A100-80GB", 4, &["a2-ultragpu-4g"]),
    ("A100-80GB", 8, &["a2-ultragpu-8g"]),
    (
        "L4",
        1,
        &[
            "g2-standard-4",
            "g2-standard-8",
            "g2-standard-12",
            "g2-standard-16",
            "g2-standard-32",
        ],
    ),
    ("L4", 2, &["g2-standard-24"]),
    ("L4", 4, &["g2-standard-48"]),
    ("L4", 8, &["g2-standard-96"]),
    ("H100", 1, &["a3-highgpu-1g"]),
    ("H100", 2, &["a3-highgpu-2g"]),
    ("H100", 4, &["a3-highgpu-4g"]),
    ("H100", 8, &["a3-highgpu-8g"]),
    ("H100-MEGA", 8, &["a3-megagpu-8g"]),
    ("H200", 8, &["a3-ultragpu-8g"]),
    ("B200", 8, &["a4-highgpu-8g"]),
];

/// Other GPUs attach to N1 hosts up to a number of vCPUs and GiB of memory per count
/// (SkyPilot's `_NUM_ACC_TO_MAX_CPU_AND_MEMORY`).
const GCP_N1_LIMITS: &[(&str, u32, u32, u32)] = &[
    ("K80", 1, 8, 52),
    ("K80", 2, 16, 104),
    ("K80", 4, 32, 208),
    ("K80", 8, 64, 208),
    ("V100", 1, 12, 78),
    ("V100", 2, 24, 156),
    ("V100", 4, 48, 312),
    ("V100", 8, 96, 624),
    ("T4", 1, 48, 312),
    ("T4", 2, 48, 312),
    ("T4", 4, 96, 624),
    ("P4", 1, 24, 156),
    ("P4", 2, 48, 312),
    ("P4", 4, 96, 624),
    ("P100", 1, 16, 104),
    ("P100", 2, 32, 208),
    ("P100", 4, 96, 624),
];

/// GCP families whose VMs come with GPUs: never offered without their accelerator.
const GCP_GPU_FAMILIES: &[&str] = &["a2-", "a3-", "a4-", "g2-"];

/// How a set of rows became offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BuildReport {
    pub rows: usize,
    pub offers: usize,
    /// GCP GPU offers made of a host row and an accelerator row.
    pub gcp_combined: usize,
    /// Rows that make no offer of their own, by reason.
    pub not_offered: BTreeMap<&'static str, usize>,
}

/// Every offer of a set of catalog rows, and how they were made.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub offers: Vec<Offer>,
    pub report: BuildReport,
}

fn add(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    Some(a? + b?)
}

fn whole(count: Decimal) -> Option<u32> {
    use rust_decimal::prelude::ToPrimitive;
    count.fract().is_zero().then(|| count.to_u32()).flatten()
}

impl Catalog {
    /// The embedded extract's offers.
    pub fn embedded() -> Catalog {
        let (rows, _) = merge_duplicates(embedded_rows()).expect("embedded catalog merges");
        Catalog::from_rows(&rows)
    }

    /// Offers from rows (already merged: see [`merge_duplicates`]).
    ///
    /// - A row with an instance type and at least one price is an offer, except GCP's GPU host
    ///   VMs (families a2, a3, a4, g2), priced with their accelerator rows, and GPU types whose
    ///   accelerator the catalog does not name (Azure `Standard_N*` with an empty
    ///   AcceleratorName): neither can be placed as a CPU machine, nor matched to a GPU model.
    /// - A GCP accelerator-only row is combined with each host VM type SkyPilot attaches that
    ///   model and count to, in the same region and zone: vCPUs and memory of the host; price =
    ///   host + accelerator, on demand and spot each, absent when either part is (as pandas'
    ///   NaN + x). A100/A100-80GB/L4/H100/H100-MEGA/H200/B200 go on their A2/G2/A3/A4 types
    ///   (every L4:1 G2 size: g2-standard-4 to -32), K80/V100/T4/P4/P100 on N1 VMs within
    ///   GCP's vCPU and memory limits. TPU rows (`tpu-*`) are not VMs: no offer.
    pub fn from_rows(rows: &[CatalogRow]) -> Catalog {
        let mut report = BuildReport {
            rows: rows.len(),
            ..BuildReport::default()
        };
        let mut skip = |reason: &'static str| *report.not_offered.entry(reason).or_default() += 1;
        let mut offers = Vec::with_capacity(rows.len());
        // GCP host rows by (region, zone), for the accelerator rows.
        let mut gcp_hosts: HashMap<(&str, Option<&str>), Vec<&CatalogRow>> = HashMap::new();
        for row in rows {
            if row.provider == "gcp" && !row.instance_type.is_empty() {
                gcp_hosts
                    .entry((row.region.as_str(), row.zone.as_deref()))
                    .or_default()
                    .push(row);
            }
        }
        let mut gcp_combined = 0;
        for row in rows {
            if row.instance_type.is_empty() {
                if row.provider != "gcp" {
                    skip("accelerator-only row of a provider other than gcp");
                    continue;
                }
                let accelerator = row.accelerator.as_ref().expect("parser checked");
                if accelerator.name.to_ascii_lowercase().starts_with("tpu-") {
                    skip("gcp TPU (not a VM)");
                    continue;
                }
                let hosts = gcp_hosts_for(accelerator, &gcp_hosts, row);
                if hosts.is_empty() {
                    skip("gcp accelerator without a host VM in its zone");
                    continue;
                }
                for host in hosts {
                    let offer = Offer {
                        provider: row.provider.clone(),
                        instance_type: host.instance_type.clone(),
                        vcpus: host.vcpus.unwrap_or_default(),
                        memory_gib: host.memory_gib.unwrap_or_default(),
                        accelerator: Some(accelerator.clone()),
                        region: row.region.clone(),
                        zone: row.zone.clone(),
                        on_demand_hourly_usd: add(host.price_hourly_usd, row.price_hourly_usd),
                        spot_hourly_usd: add(host.spot_price_hourly_usd, row.spot_price_hourly_usd),
                        gcp_parts: Some(GcpParts {
                            host_on_demand: host.price_hourly_usd,
                            host_spot: host.spot_price_hourly_usd,
                            accelerator_on_demand: row.price_hourly_usd,
                            accelerator_spot: row.spot_price_hourly_usd,
                        }),
                    };
                    if offer.on_demand_hourly_usd.is_none() && offer.spot_hourly_usd.is_none() {
                        continue;
                    }
                    gcp_combined += 1;
                    offers.push(offer);
                }
                continue;
            }
            if row.provider == "gcp"
                && row.accelerator.is_none()
                && GCP_GPU_FAMILIES
                    .iter()
                    .any(|f| row.instance_type.starts_with(f))
            {
                skip("gcp GPU host VM (priced with its accelerator rows)");
                continue;
            }
            if row.provider == "azure"
                && row.accelerator.is_none()
                && row.instance_type.starts_with("Standard_N")
            {
                skip("GPU type whose accelerator the catalog does not name");
                continue;
            }
            if row.price_hourly_usd.is_none() && row.spot_price_hourly_usd.is_none() {
                skip("no price");
                continue;
            }
            offers.push(Offer {
                provider: row.provider.clone(),
                instance_type: row.instance_type.clone(),
                vcpus: row.vcpus.unwrap_or_default(),
                memory_gib: row.memory_gib.unwrap_or_default(),
                accelerator: row.accelerator.clone(),
                region: row.region.clone(),
                zone: row.zone.clone(),
                on_demand_hourly_usd: row.price_hourly_usd,
                spot_hourly_usd: row.spot_price_hourly_usd,
                gcp_parts: None,
            });
        }
        report.offers = offers.len();
        report.gcp_combined = gcp_combined;
        Catalog { offers, report }
    }
}

fn gcp_hosts_for<'a>(
    accelerator: &Accelerator,
    hosts: &HashMap<(&str, Option<&str>), Vec<&'a CatalogRow>>,
    row: &CatalogRow,
) -> Vec<&'a CatalogRow> {
    let Some(in_zone) = hosts.get(&(row.region.as_str(), row.zone.as_deref())) else {
        return Vec::new();
    };
    let Some(count) = whole(accelerator.count) else {
        return Vec::new();
    };
    let name = accelerator.name.as_str();
    let dedicated: Vec<&str> = GCP_ACCELERATOR_HOSTS
        .iter()
        .filter(|(model, _, _)| model.eq_ignore_ascii_case(name))
        .filter(|(_, n, _)| *n == count)
        .flat_map(|(_, _, types)| types.iter().copied())
        .collect();
    if GCP_ACCELERATOR_HOSTS
        .iter()
        .any(|(model, _, _)| model.eq_ignore_ascii_case(name))
    {
        return in_zone
            .iter()
            .filter(|h| dedicated.contains(&h.instance_type.as_str()))
            .copied()
            .collect();
    }
    let Some(&(_, _, max_cpus, max_memory)) = GCP_N1_LIMITS
        .iter()
        .find(|(model, n, _, _)| model.eq_ignore_ascii_case(name) && *n == count)
    else {
        return Vec::new();
    };
    in_zone
        .iter()
        .filter(|h| h.instance_type.starts_with("n1-") && h.accelerator.is_none())
        .filter(|h| {
            h.vcpus.is_some_and(|v| v <= Decimal::from(max_cpus))
                && h.memory_gib.is_some_and(|m| m <= Decimal::from(max_memory))
        })
        .copied()
        .collect()
}

/// The catalog files of a path, sorted: itself when it is a file; for a directory, its own
/// `*.csv` files and every `vms.csv` below it (SkyPilot's `catalogs/v7/<cloud>/vms.csv` layout,
/// without its `images.csv` and other non-price files).
pub fn csv_files(path: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let io = |source| CatalogError::Io {
        file: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let p = entry.path();
            if entry.file_type().map_err(io)?.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "vms.csv")
                || (dir == path && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
