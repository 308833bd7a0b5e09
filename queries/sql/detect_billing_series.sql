-- Daily billed usage per billing dimension and currency. Only charges of at most one day count:
-- a monthly fee or a commitment purchase lands on one day by design and is not a spike (those are
-- watched through budgets and month-over-month, where allocation spreads them over their days).
SELECT
    toDate(ChargePeriodStart) AS day,
    multiIf(
        {dimension:String} = 'provider', Provider,
        {dimension:String} = 'cloud-service', ServiceName,
        {dimension:String} = 'sub-account', SubAccountName,
        RegionId
    ) AS key,
    BillingCurrency AS currency,
    sum(if({metric:String} = 'billed', BilledCost, EffectiveCost)) AS amount
FROM focus_costs
WHERE ChargePeriodStart >= toDateTime({from:Date}, 'UTC')
  AND ChargePeriodStart < toDateTime({to:Date}, 'UTC') + 86400
  AND ChargePeriodEnd <= ChargePeriodStart + 86400
GROUP BY day, key, currency
ORDER BY key, currency, day
