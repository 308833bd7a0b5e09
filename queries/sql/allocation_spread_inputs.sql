-- Charges spanning several days (monthly tax, support, credits, commitment fees: the charge period
-- ends after the midnight following its start) that overlap the window [from, to), for costmill to
-- spread over the days of their charge period (allocator/src/spread.rs). Rows with the same
-- billing dimensions, currency and charge period are spread together. {earliest} bounds how far
-- back such a charge can start (allocation_spread_span.sql), so the primary key prunes the scan.
SELECT
    toUInt32(ChargePeriodStart) AS charge_start,
    toUInt32(ChargePeriodEnd) AS charge_end,
    Provider AS provider,
    ServiceName AS service_name,
    ServiceCategory AS service_category,
    SubAccountId AS sub_account_id,
    SubAccountName AS sub_account_name,
    ResourceId AS resource_id,
    ChargeCategory AS charge_category,
    BillingCurrency AS currency,
    x_TagKeys AS tag_keys,
    x_TagValues AS tag_values,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective,
    count() AS rows
FROM focus_costs
WHERE ChargePeriodStart >= {earliest:DateTime} AND ChargePeriodStart < {to:DateTime}
    AND ChargePeriodEnd > {from:DateTime}
    AND toUInt32(ChargePeriodEnd) > (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400
GROUP BY charge_start, charge_end, provider, service_name, service_category, sub_account_id,
    sub_account_name, resource_id, charge_category, currency, tag_keys, tag_values
