//! Turns one raw record (fields as text) into a `FocusRow`, validating as it goes.

use queries::native::{NativeBlock, NativeType};
use queries::Dec18;

use super::columns::Column;
use super::values::{self, EnumMatch, Enumeration};

/// A spec deviation real exports contain; ingested, counted, and an error under `--strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviationKind {
    /// A mandatory, non-nullable column left empty on a row (stored as empty / zero).
    MandatoryValueMissing,
    /// An enumeration value in other casing (stored in the spec's spelling).
    EnumerationCasing,
    /// A value outside the spec's enumeration (stored as given).
    UnknownEnumerationValue,
    /// More than 18 fractional digits, rounded half-to-even.
    DecimalRounded,
    /// A tag whose value is an object or array (kept as JSON text).
    NonScalarTag,
}

impl DeviationKind {
    pub fn describe(self) -> &'static str {
        match self {
            DeviationKind::MandatoryValueMissing => "mandatory value missing",
            DeviationKind::EnumerationCasing => "enumeration value in non-standard casing",
            DeviationKind::UnknownEnumerationValue => "value outside the FOCUS enumeration",
            DeviationKind::DecimalRounded => "decimal rounded to 18 fractional digits",
            DeviationKind::NonScalarTag => "tag value is not a scalar",
        }
    }
}

/// What went wrong with one field; the caller adds file and line.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProblem {
    pub column: Option<Column>,
    pub message: String,
    /// `Some` when this is a deviation (an error only under `--strict`).
    pub deviation: Option<DeviationKind>,
}

/// Where each FOCUS column sits in the file's records.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    positions: [Option<usize>; Column::ALL.len()],
    pub ignored: Vec<String>,
    pub headers: Vec<String>,
}

impl ColumnMap {
    /// Map headers; `Err` lists the mandatory columns that are missing.
    pub fn new(headers: &[String]) -> Result<ColumnMap, Vec<Column>> {
        let mut positions = [None; Column::ALL.len()];
        let mut ignored = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            match Column::from_header(header) {
                Some(column) if positions[column.index()].is_none() => {
                    positions[column.index()] = Some(i)
                }
                _ => ignored.push(header.clone()),
            }
        }
        let missing: Vec<Column> = Column::MANDATORY
            .into_iter()
            .filter(|c| positions[c.index()].is_none())
            .collect();
        if missing.is_empty() {
            Ok(ColumnMap {
                positions,
                ignored,
                headers: headers.to_vec(),
            })
        } else {
            Err(missing)
        }
    }

    pub fn position(&self, column: Column) -> Option<usize> {
        self.positions[column.index()]
    }
}

/// Row-independent context stamped on every row.
#[derive(Debug, Clone)]
pub struct BatchStamp {
    pub source: String,
    pub batch_id: String,
    pub ingested_at: u32,
}

/// How a column's text becomes its value in `focus_costs`.
enum Kind {
    Text,
    Enumeration(&'static Enumeration),
    /// Decimal(38, 18); an empty value is stored as 0 (and is a deviation where mandatory).
    Money,
    /// Nullable(Decimal(38, 18)).
    OptionalDecimal,
    /// DateTime; the index of its slot in the per-row timestamp array.
    Timestamp(usize),
    /// Tags, followed in the table by x_TagKeys and x_TagValues.
    Tags,
}

fn kind(column: Column) -> Kind {
    use Column::*;
    match column {
        BillingPeriodStart => Kind::Timestamp(0),
        BillingPeriodEnd => Kind::Timestamp(1),
        ChargePeriodStart => Kind::Timestamp(2),
        ChargePeriodEnd => Kind::Timestamp(3),
        BilledCost | EffectiveCost | ListCost | ContractedCost => Kind::Money,
        ListUnitPrice | ContractedUnitPrice | PricingQuantity | ConsumedQuantity => {
            Kind::OptionalDecimal
        }
        ChargeCategory => Kind::Enumeration(&values::CHARGE_CATEGORY),
        ChargeClass => Kind::Enumeration(&values::CHARGE_CLASS),
        ChargeFrequency => Kind::Enumeration(&values::CHARGE_FREQUENCY),
        PricingCategory => Kind::Enumeration(&values::PRICING_CATEGORY),
        ServiceCategory => Kind::Enumeration(&values::SERVICE_CATEGORY),
        CommitmentDiscountCategory => Kind::Enumeration(&values::COMMITMENT_DISCOUNT_CATEGORY),
        CommitmentDiscountStatus => Kind::Enumeration(&values::COMMITMENT_DISCOUNT_STATUS),
        Tags => Kind::Tags,
        _ => Kind::Text,
    }
}

/// The columns of `focus_costs` with their Native types: the FOCUS columns in `Column::ALL` order
/// (Tags followed by its key and value arrays), then costmill's own.
pub fn focus_schema() -> Vec<(&'static str, NativeType)> {
    let mut schema = Vec::new();
    for column in Column::ALL {
        match kind(column) {
            Kind::Text | Kind::Enumeration(_) => schema.push((column.name(), NativeType::String)),
            Kind::Money => schema.push((column.name(), NativeType::Decimal38)),
            Kind::OptionalDecimal => schema.push((column.name(), NativeType::NullableDecimal38)),
            Kind::Timestamp(_) => schema.push((column.name(), NativeType::DateTime)),
            Kind::Tags => schema.extend([
                (column.name(), NativeType::String),
                ("x_TagKeys", NativeType::ArrayString),
                ("x_TagValues", NativeType::ArrayString),
            ]),
        }
    }
    schema.extend([
        ("x_Source", NativeType::String),
        ("x_BatchId", NativeType::String),
        ("x_SourceFile", NativeType::String),
        ("x_SourceRow", NativeType::UInt64),
        ("x_RowFingerprint", NativeType::UInt64),
        ("x_IngestedAt", NativeType::DateTime),
    ]);
    schema
}

/// Per-file normalizer. Rows are appended straight into a Native block of `focus_costs`
/// (see [`focus_schema`]), with no allocation per field. Caches the last
/// parsed timestamps and tags: exports repeat billing periods and resource tags on thousands of
/// consecutive rows.
pub struct Normalizer {
    map: ColumnMap,
    stamp: BatchStamp,
    file_label: String,
    timestamp_cache: [(String, u32); 4],
    tags_cache: (String, values::ParsedTags),
}

impl Normalizer {
    pub fn new(map: ColumnMap, stamp: BatchStamp, file_label: String) -> Normalizer {
        Normalizer {
            map,
            stamp,
            file_label,
            timestamp_cache: Default::default(),
            tags_cache: (String::new(), values::ParsedTags::default()),
        }
    }

    pub fn map(&self) -> &ColumnMap {
        &self.map
    }

    /// Validate one record and append it to `out` as a row of `focus_costs`.
    /// `problems` receives errors and deviations; on an error nothing is appended and the
    /// result is false.
    pub fn normalize_into(
        &mut self,
        fields: &[&str],
        source_row: u64,
        problems: &mut Vec<FieldProblem>,
        out: &mut NativeBlock,
    ) -> bool {
        let errors_before = problems.iter().filter(|p| p.deviation.is_none()).count();
        let mut cx = FieldCx {
            map: &self.map,
            fields,
            problems,
        };
        let mut times = [0u32; 4];
        for column in Column::ALL {
            match kind(column) {
                Kind::Text => out.put_str(cx.value(column).unwrap_or("")),
                Kind::Enumeration(enumeration) => out.put_str(cx.enumeration(column, enumeration)),
                Kind::Money => out.put_decimal(cx.decimal(column).unwrap_or(Dec18::ZERO).0),
                Kind::OptionalDecimal => out.put_nullable_decimal(cx.decimal(column).map(|d| d.0)),
                Kind::Timestamp(slot) => {
                    times[slot] = cx.timestamp(column, &mut self.timestamp_cache[slot]);
                    out.put_datetime(times[slot]);
                }
                Kind::Tags => {
                    let text = cx.raw(column);
                    if self.tags_cache.0 != text {
                        match values::parse_tags(text) {
                            Some(tags) => self.tags_cache = (text.to_string(), tags),
                            None => {
                                cx.error(column, format!("expected a JSON object like {{\"team\":\"data\"}}, found {}", excerpt(text)));
                                // Keep the columns aligned; the row is dropped below.
                                self.tags_cache = (String::new(), values::ParsedTags::default());
                            }
                        }
                    }
                    let tags = &self.tags_cache.1;
                    if tags.non_scalar {
                        cx.deviation(
                            column,
                            DeviationKind::NonScalarTag,
                            "a tag value is an object or array".into(),
                        );
                    }
                    out.put_str(if values::is_null(text) { "" } else { text });
                    out.put_str_array(&tags.keys);
                    out.put_str_array(&tags.values);
                }
            }
        }
        cx.period_order(
            Column::ChargePeriodStart,
            times[2],
            Column::ChargePeriodEnd,
            times[3],
        );
        cx.period_order(
            Column::BillingPeriodStart,
            times[0],
            Column::BillingPeriodEnd,
            times[1],
        );
        out.put_str(&self.stamp.source);
        out.put_str(&self.stamp.batch_id);
        out.put_str(&self.file_label);
        out.put_u64(source_row);
        out.put_u64(fingerprint(&self.stamp.source, fields));
        out.put_datetime(self.stamp.ingested_at);
        let errors_after = cx.problems.iter().filter(|p| p.deviation.is_none()).count();
        if errors_after != errors_before {
            out.abort_row();
            return false;
        }
        out.end_row();
        true
    }
}

/// Stable identity of an input row: the same row in a re-sent file gets the same fingerprint.
fn fingerprint(source: &str, fields: &[&str]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(source.as_bytes());
    for field in fields {
        hasher.update(&[0x1f]);
        hasher.update(field.as_bytes());
    }
    hasher.digest()
}

fn excerpt(value: &str) -> String {
    let mut shown: String = value.chars().take(40).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

struct FieldCx<'a, 'f> {
    map: &'a ColumnMap,
    fields: &'a [&'f str],
    problems: &'a mut Vec<FieldProblem>,
}

impl<'f> FieldCx<'_, 'f> {
    fn raw(&self, column: Column) -> &'f str {
        self.map
            .position(column)
            .and_then(|i| self.fields.get(i))
            .copied()
            .unwrap_or("")
    }

    /// The value, or `None` when null; flags a missing mandatory value.
    fn value(&mut self, column: Column) -> Option<&'f str> {
        let raw = self.raw(column);
        if values::is_null(raw) {
            if self.map.position(column).is_some() && !column.nullable() {
                self.deviation(
                    column,
                    DeviationKind::MandatoryValueMissing,
                    "mandatory value is empty".into(),
                );
            }
            return None;
        }
        Some(raw)
    }

    fn error(&mut self, column: Column, message: String) {
        self.problems.push(FieldProblem {
            column: Some(column),
            message,
            deviation: None,
        });
    }

    fn deviation(&mut self, column: Column, kind: DeviationKind, message: String) {
        self.problems.push(FieldProblem {
            column: Some(column),
            message,
            deviation: Some(kind),
        });
    }

    /// The canonical spelling, or the value as given when it is outside an open enumeration.
    fn enumeration(&mut self, column: Column, enumeration: &Enumeration) -> &'f str {
        let Some(value) = self.value(column) else {
            if enumeration.closed {
                self.error(
                    column,
                    format!(
                        "expected one of {}, found an empty value",
                        enumeration.allowed.join(", ")
                    ),
                );
            }
            return "";
        };
        match enumeration.classify(value) {
            EnumMatch::Exact(v) => v,
            EnumMatch::Casing(v) => {
                self.deviation(
                    column,
                    DeviationKind::EnumerationCasing,
                    format!("{value:?} stored as {v:?}"),
                );
                v
            }
            EnumMatch::Unknown if enumeration.closed => {
                self.error(
                    column,
                    format!(
                        "expected one of {}, found {}",
                        enumeration.allowed.join(", "),
                        excerpt(value)
                    ),
                );
                ""
            }
            EnumMatch::Unknown => {
                self.deviation(
                    column,
                    DeviationKind::UnknownEnumerationValue,
                    format!(
                        "{} is not one of {}",
                        excerpt(value),
                        enumeration.allowed.join(", ")
                    ),
                );
                value
            }
        }
    }

    fn decimal(&mut self, column: Column) -> Option<Dec18> {
        let value = self.value(column)?;
        match values::parse_decimal(value) {
            Some(parsed) => {
                if parsed.rounded {
                    self.deviation(
                        column,
                        DeviationKind::DecimalRounded,
                        format!("{value} rounded to {}", parsed.value),
                    );
                }
                Some(parsed.value)
            }
            None => {
                self.error(
                    column,
                    format!(
                        "expected a decimal number like 12.345 or -0.5, found {}",
                        excerpt(value)
                    ),
                );
                None
            }
        }
    }

    /// Unix seconds; `cache` holds this column's last text and value.
    fn timestamp(&mut self, column: Column, cache: &mut (String, u32)) -> u32 {
        let raw = self.raw(column);
        if cache.0 == raw && !raw.is_empty() {
            return cache.1;
        }
        if values::is_null(raw) {
            self.error(column, "expected a timestamp like 2024-09-18 23:00:00 or 2024-09-18T23:00:00Z, found an empty value".into());
            return 0;
        }
        match values::parse_timestamp(raw) {
            Some(secs) => {
                *cache = (raw.to_string(), secs);
                secs
            }
            None => {
                self.error(
                    column,
                    format!("expected a timestamp like 2024-09-18 23:00:00 or 2024-09-18T23:00:00Z (UTC, 1970-2106), found {}", excerpt(raw)),
                );
                0
            }
        }
    }

    fn period_order(&mut self, start_col: Column, start: u32, end_col: Column, end: u32) {
        if start != 0 && end != 0 && start > end {
            self.error(
                start_col,
                format!(
                    "{} {} is after {} {}",
                    start_col.name(),
                    self.raw(start_col),
                    end_col.name(),
                    self.raw(end_col)
                ),
            );
        }
    }
}
