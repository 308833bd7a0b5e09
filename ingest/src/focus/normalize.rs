//! Turns one raw record (fields as text) into a `FocusRow`, validating as it goes.
use std::collections::BTreeMap;

use queries::rows::FocusRow;
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

/// Per-file normalizer. Caches the last parsed timestamp and tags per column: exports repeat
/// billing periods and resource tags on thousands of consecutive rows.
pub struct Normalizer {
    map: ColumnMap,
    stamp: BatchStamp,
    file_label: String,
    timestamp_cache: BTreeMap<Column, (String, u32)>,
    tags_cache: Option<(String, values::ParsedTags)>,
}

impl Normalizer {
    pub fn new(map: ColumnMap, stamp: BatchStamp, file_label: String) -> Normalizer {
        Normalizer {
            map,
            stamp,
            file_label,
            timestamp_cache: BTreeMap::new(),
            tags_cache: None,
        }
    }

    pub fn map(&self) -> &ColumnMap {
        &self.map
    }

    /// Normalize one record. `problems` receives errors and deviations; the row is `None`
    /// when an error (not a deviation) makes it unusable.
    pub fn normalize(
        &mut self,
        fields: &[&str],
        source_row: u64,
        problems: &mut Vec<FieldProblem>,
    ) -> Option<FocusRow> {
        let errors_before = problems.iter().filter(|p| p.deviation.is_none()).count();
        let mut row = FocusRow {
            x_Source: self.stamp.source.clone(),
            x_BatchId: self.stamp.batch_id.clone(),
            x_IngestedAt: self.stamp.ingested_at,
            x_SourceFile: self.file_label.clone(),
            x_SourceRow: source_row,
            ..FocusRow::default()
        };
        let mut cx = FieldCx {
            map: &self.map,
            fields,
            problems,
        };

        row.BillingAccountId = cx.text(Column::BillingAccountId);
        row.BillingAccountName = cx.text(Column::BillingAccountName);
        row.BillingCurrency = cx.text(Column::BillingCurrency);
        row.ChargeDescription = cx.text(Column::ChargeDescription);
        row.InvoiceIssuer = cx.text(Column::InvoiceIssuer);
        row.InvoiceId = cx.text(Column::InvoiceId);
        row.Provider = cx.text(Column::Provider);
        row.Publisher = cx.text(Column::Publisher);
        row.ServiceName = cx.text(Column::ServiceName);
        row.ServiceSubcategory = cx.text(Column::ServiceSubcategory);
        row.PricingUnit = cx.text(Column::PricingUnit);
        row.ConsumedUnit = cx.text(Column::ConsumedUnit);
        row.ResourceId = cx.text(Column::ResourceId);
        row.ResourceName = cx.text(Column::ResourceName);
        row.ResourceType = cx.text(Column::ResourceType);
        row.RegionId = cx.text(Column::RegionId);
        row.RegionName = cx.text(Column::RegionName);
        row.AvailabilityZone = cx.text(Column::AvailabilityZone);
        row.SkuId = cx.text(Column::SkuId);
        row.SkuPriceId = cx.text(Column::SkuPriceId);
        row.SubAccountId = cx.text(Column::SubAccountId);
        row.SubAccountName = cx.text(Column::SubAccountName);
        row.CommitmentDiscountId = cx.text(Column::CommitmentDiscountId);
        row.CommitmentDiscountName = cx.text(Column::CommitmentDiscountName);
        row.CommitmentDiscountType = cx.text(Column::CommitmentDiscountType);

        row.ChargeCategory = cx.enumeration(Column::ChargeCategory, &values::CHARGE_CATEGORY);
        row.ChargeClass = cx.enumeration(Column::ChargeClass, &values::CHARGE_CLASS);
        row.ChargeFrequency = cx.enumeration(Column::ChargeFrequency, &values::CHARGE_FREQUENCY);
        row.PricingCategory = cx.enumeration(Column::PricingCategory, &values::PRICING_CATEGORY);
        row.ServiceCategory = cx.enumeration(Column::ServiceCategory, &values::SERVICE_CATEGORY);
        row.CommitmentDiscountCategory = cx.enumeration(
            Column::CommitmentDiscountCategory,
            &values::COMMITMENT_DISCOUNT_CATEGORY,
        );
        row.CommitmentDiscountStatus = cx.enumeration(
            Column::CommitmentDiscountStatus,
            &values::COMMITMENT_DISCOUNT_STATUS,
        );

        row.BilledCost = cx.money(Column::BilledCost);
        row.EffectiveCost = cx.money(Column::EffectiveCost);
        row.ListCost = cx.money(Column::ListCost);
        row.ContractedCost = cx.money(Column::ContractedCost);
        row.ListUnitPrice = cx.decimal(Column::ListUnitPrice);
        row.ContractedUnitPrice = cx.decimal(Column::ContractedUnitPrice);
        row.PricingQuantity = cx.decimal(Column::PricingQuantity);
        row.ConsumedQuantity = cx.decimal(Column::ConsumedQuantity);

        let cache = &mut self.timestamp_cache;
        row.BillingPeriodStart = cx.timestamp(Column::BillingPeriodStart, cache);
        row.BillingPeriodEnd = cx.timestamp(Column::BillingPeriodEnd, cache);
        row.ChargePeriodStart = cx.timestamp(Column::ChargePeriodStart, cache);
        row.ChargePeriodEnd = cx.timestamp(Column::ChargePeriodEnd, cache);
        cx.period_order(
            Column::ChargePeriodStart,
            row.ChargePeriodStart,
            Column::ChargePeriodEnd,
            row.ChargePeriodEnd,
        );
        cx.period_order(
            Column::BillingPeriodStart,
            row.BillingPeriodStart,
            Column::BillingPeriodEnd,
            row.BillingPeriodEnd,
        );

        let tags_text = cx.raw(Column::Tags);
        let tags = match &self.tags_cache {
            Some((text, tags)) if text == tags_text => Some(tags.clone()),
            _ => values::parse_tags(tags_text)
                .inspect(|t| self.tags_cache = Some((tags_text.to_string(), t.clone()))),
        };
        match tags {
            Some(tags) => {
                if tags.non_scalar {
                    cx.deviation(
                        Column::Tags,
                        DeviationKind::NonScalarTag,
                        "a tag value is an object or array".into(),
                    );
                }
                row.Tags = if values::is_null(tags_text) {
                    String::new()
                } else {
                    tags_text.to_string()
                };
                row.x_TagKeys = tags.keys;
                row.x_TagValues = tags.values;
            }
            None => cx.error(
                Column::Tags,
                format!(
                    "expected a JSON object like {{\"team\":\"data\"}}, found {}",
                    excerpt(tags_text)
                ),
            ),
        }

        row.x_RowFingerprint = fingerprint(&self.stamp.source, fields);
        let errors_after = cx.problems.iter().filter(|p| p.deviation.is_none()).count();
        (errors_after == errors_before).then_some(row)
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

    fn text(&mut self, column: Column) -> String {
        self.value(column).unwrap_or_default().to_string()
    }

    fn enumeration(&mut self, column: Column, enumeration: &Enumeration) -> String {
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
            return String::new();
        };
        match enumeration.classify(value) {
            EnumMatch::Exact(v) => v.to_string(),
            EnumMatch::Casing(v) => {
                self.deviation(
                    column,
                    DeviationKind::EnumerationCasing,
                    format!("{value:?} stored as {v:?}"),
                );
                v.to_string()
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
                String::new()
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
                value.to_string()
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

    fn money(&mut self, column: Column) -> Dec18 {
        self.decimal(column).unwrap_or(Dec18::ZERO)
    }

    fn timestamp(&mut self, column: Column, cache: &mut BTreeMap<Column, (String, u32)>) -> u32 {
        let raw = self.raw(column);
        if let Some((text, secs)) = cache.get(&column) {
            if text == raw {
                return *secs;
            }
        }
        if values::is_null(raw) {
            self.error(column, "expected a timestamp like 2024-09-18 23:00:00 or 2024-09-18T23:00:00Z, found an empty value".into());
            return 0;
        }
        match values::parse_timestamp(raw) {
            Some(secs) => {
                cache.insert(column, (raw.to_string(), secs));
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
