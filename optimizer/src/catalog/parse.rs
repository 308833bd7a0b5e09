//! Reading SkyPilot-format catalog files into [`CatalogRow`]s (see the module above).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

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
