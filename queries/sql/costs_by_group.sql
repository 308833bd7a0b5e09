-- Showback: cost per group, currency and month (two currencies are never added). The grouping is
-- chosen by {by}; tag values come from the parallel key/value arrays so no JSON is parsed at query
-- time.
SELECT
    toYYYYMM(ChargePeriodStart) AS month,
    multiIf(
        {by:String} = 'provider', Provider,
        {by:String} = 'service', ServiceName,
        {by:String} = 'service-category', ServiceCategory,
        {by:String} = 'sub-account', SubAccountName,
        {by:String} = 'region', RegionId,
        x_TagValues[indexOf(x_TagKeys, {tag:String})]
    ) AS grp,
    BillingCurrency AS currency,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective,
    sum(ListCost) AS list
FROM focus_costs
WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
GROUP BY month, grp, currency
ORDER BY grp, currency, month
