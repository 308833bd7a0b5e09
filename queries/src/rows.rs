//! Typed rows, in the column order of the table or query they belong to (RowBinary is positional).
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::Dec18;

/// One row of `focus_costs` (migrations/001_focus_costs.sql), column for column.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct FocusRow {
    pub BillingAccountId: String,
    pub BillingAccountName: String,
    pub BillingCurrency: String,
    /// Unix seconds, UTC (ClickHouse `DateTime`).
    pub BillingPeriodStart: u32,
    pub BillingPeriodEnd: u32,
    pub ChargePeriodStart: u32,
    pub ChargePeriodEnd: u32,
    pub ChargeCategory: String,
    pub ChargeClass: String,
    pub ChargeDescription: String,
    pub ChargeFrequency: String,
    pub BilledCost: Dec18,
    pub EffectiveCost: Dec18,
    pub ListCost: Dec18,
    pub ContractedCost: Dec18,
    pub ListUnitPrice: Option<Dec18>,
    pub ContractedUnitPrice: Option<Dec18>,
    pub PricingQuantity: Option<Dec18>,
    pub PricingUnit: String,
    pub PricingCategory: String,
    pub ConsumedQuantity: Option<Dec18>,
    pub ConsumedUnit: String,
    pub InvoiceIssuer: String,
    pub InvoiceId: String,
    pub Provider: String,
    pub Publisher: String,
    pub ServiceCategory: String,
    pub ServiceSubcategory: String,
    pub ServiceName: String,
    pub ResourceId: String,
    pub ResourceName: String,
    pub ResourceType: String,
    pub RegionId: String,
    pub RegionName: String,
    pub AvailabilityZone: String,
    pub SkuId: String,
    pub SkuPriceId: String,
    pub SubAccountId: String,
    pub SubAccountName: String,
    pub CommitmentDiscountId: String,
    pub CommitmentDiscountName: String,
    pub CommitmentDiscountCategory: String,
    pub CommitmentDiscountStatus: String,
    pub CommitmentDiscountType: String,
    pub Tags: String,
    pub x_TagKeys: Vec<String>,
    pub x_TagValues: Vec<String>,
    pub x_Source: String,
    pub x_BatchId: String,
    pub x_SourceFile: String,
    pub x_SourceRow: u64,
    pub x_RowFingerprint: u64,
    pub x_IngestedAt: u32,
}

/// sql/migrations_applied.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct AppliedMigration {
    pub version: u32,
    pub name: String,
    pub checksum: String,
    pub applied_at: u32,
}

/// sql/focus_staging_partitions.sql
#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourcePeriod {
    pub source: String,
    pub period: u32,
}

/// sql/focus_staging_summary.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct ProviderPeriodTotal {
    pub provider: String,
    pub period: u32,
    pub rows: u64,
    pub billed: Dec18,
    pub effective: Dec18,
}

/// sql/focus_totals.sql
#[derive(Debug, Clone, Row, Deserialize, PartialEq)]
pub struct SourceTotal {
    pub source: String,
    pub provider: String,
    pub period: u32,
    pub rows: u64,
    pub billed: Dec18,
    pub effective: Dec18,
    pub list: Dec18,
}

/// sql/costs_by_group.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct GroupMonthCost {
    pub month: u32,
    pub grp: String,
    pub billed: Dec18,
    pub effective: Dec18,
    pub list: Dec18,
}

/// One row of `service_metrics` (migrations/002_allocations.sql).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MetricRow {
    /// Days since 1970-01-01.
    pub day: u16,
    pub metric: String,
    pub service: String,
    pub value: Dec18,
    pub ingested_at: u32,
}

/// sql/explain_service.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct ExplainRow {
    pub kind: String,
    pub pool: String,
    pub method: String,
    pub cost_source: String,
    pub input_ref: String,
    pub days: u64,
    pub min_share: Dec18,
    pub max_share: Dec18,
    pub billed: Dec18,
    pub effective: Dec18,
}
