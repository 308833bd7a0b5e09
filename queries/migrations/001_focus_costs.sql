-- The FOCUS-aligned cost table every source lands in.
-- FOCUS column names are kept; costmill's own columns carry the x_ prefix FOCUS reserves for
-- custom columns. Money and quantities are Decimal(38, 18): exact sums, and wide enough for the
-- 15 fractional digits real exports carry. Empty strings stand for nulls in text columns.
-- One partition per source and billing month: re-ingesting a period replaces exactly that partition.
CREATE TABLE IF NOT EXISTS focus_costs
(
    BillingAccountId String,
    BillingAccountName String,
    BillingCurrency String,
    BillingPeriodStart DateTime,
    BillingPeriodEnd DateTime,
    ChargePeriodStart DateTime,
    ChargePeriodEnd DateTime,
    ChargeCategory String,
    ChargeClass String,
    ChargeDescription String,
    ChargeFrequency String,
    BilledCost Decimal(38, 18),
    EffectiveCost Decimal(38, 18),
    ListCost Decimal(38, 18),
    ContractedCost Decimal(38, 18),
    ListUnitPrice Nullable(Decimal(38, 18)),
    ContractedUnitPrice Nullable(Decimal(38, 18)),
    PricingQuantity Nullable(Decimal(38, 18)),
    PricingUnit String,
    PricingCategory String,
    ConsumedQuantity Nullable(Decimal(38, 18)),
    ConsumedUnit String,
    InvoiceIssuer String,
    InvoiceId String,
    Provider String,
    Publisher String,
    ServiceCategory String,
    ServiceSubcategory String,
    ServiceName String,
    ResourceId String,
    ResourceName String,
    ResourceType String,
    RegionId String,
    RegionName String,
    AvailabilityZone String,
    SkuId String,
    SkuPriceId String,
    SubAccountId String,
    SubAccountName String,
    CommitmentDiscountId String,
    CommitmentDiscountName String,
    CommitmentDiscountCategory String,
    CommitmentDiscountStatus String,
    CommitmentDiscountType String,
    Tags String,
    x_TagKeys Array(String),
    x_TagValues Array(String),
    x_Source String,
    x_BatchId String,
    x_SourceFile String,
    x_SourceRow UInt64,
    x_RowFingerprint UInt64,
    x_IngestedAt DateTime
)
ENGINE = MergeTree()
PARTITION BY (x_Source, toYYYYMM(BillingPeriodStart))
ORDER BY (ChargePeriodStart, Provider, ServiceName, ResourceId);
