-- Single-day cost rows of the window (the charge period ends by the midnight after it starts),
-- aggregated per day, currency and the dimensions ownership rules look at. Charges spanning
-- several days are spread over their days by costmill (allocation_spread_inputs.sql).
SELECT
    toDate(ChargePeriodStart) AS day,
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
    count() AS rows,
    '' AS k8s_namespace,
    '' AS charge_period
FROM focus_costs
WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
    AND toUInt32(ChargePeriodEnd) <= (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400
GROUP BY day, provider, service_name, service_category, sub_account_id, sub_account_name, resource_id,
    charge_category, currency, tag_keys, tag_values
