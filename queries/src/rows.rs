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

/// One row of `k8s_nodes` (migrations/004), column for column.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct K8sNodeRow {
    pub cluster: String,
    pub node: String,
    pub provider_id: String,
    pub instance_type: String,
    pub cpu_cores: Dec18,
    pub memory_bytes: Dec18,
    pub gpus: Dec18,
    pub window_start: u32,
    pub window_end: u32,
    pub ingested_at: u32,
}

/// One row of `k8s_pod_usage` (migrations/004), column for column.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct K8sPodRow {
    pub cluster: String,
    pub node: String,
    pub namespace: String,
    pub pod: String,
    pub workload_kind: String,
    pub workload: String,
    pub label_keys: Vec<String>,
    pub label_values: Vec<String>,
    pub window_start: u32,
    pub window_end: u32,
    pub cpu_request_cores: Dec18,
    pub cpu_usage_cores: Dec18,
    pub memory_request_bytes: Dec18,
    pub memory_usage_bytes: Dec18,
    pub gpu_request: Dec18,
    pub ingested_at: u32,
}

/// One row of `slurm_jobs` (migrations/004), column for column.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct SlurmJobRow {
    pub cluster: String,
    pub job_id: String,
    pub job_name: String,
    pub partition: String,
    pub account: String,
    pub user: String,
    pub alloc_cpus: Dec18,
    pub alloc_memory_mb: Dec18,
    pub alloc_gpus: Dec18,
    pub start: u32,
    pub end: u32,
    pub state: String,
    pub ingested_at: u32,
}

/// One row of `allocations` (migrations 002 and 004), column for column.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct AllocationRow {
    /// Days since 1970-01-01 (ClickHouse `Date`).
    pub day: u16,
    pub service: String,
    pub team: String,
    pub env: String,
    pub currency: String,
    pub kind: String,
    pub pool: String,
    pub method: String,
    pub cost_source: String,
    pub input_ref: String,
    pub share: Dec18,
    pub billed: Dec18,
    pub effective: Dec18,
    pub input_rows: u64,
    pub run_id: String,
    /// Unix seconds, UTC.
    pub computed_at: u32,
}

/// One row of `recommendations` (migration 005), column for column: what the optimizer writes,
/// the weekly email and the REST API read.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct RecommendationRow {
    /// Unix seconds, UTC: when the batch of its kind was computed.
    pub computed_at: u32,
    pub id: String,
    pub kind: String,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub currency: String,
    pub current_monthly: Dec18,
    pub proposed_monthly: Dec18,
    pub saving_monthly: Dec18,
    pub summary: String,
    /// JSON text: current cost rows, candidate catalog rows, assumptions.
    pub evidence: String,
}
