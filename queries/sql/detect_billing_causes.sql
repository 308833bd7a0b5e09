-- One billing series broken down by another dimension, per day (same one-day charges as
-- detect_billing_series): region, account, SKU or usage type, resource.
SELECT
    toDate(ChargePeriodStart) AS day,
    multiIf(
        {cause:String} = 'provider', Provider,
        {cause:String} = 'cloud-service', ServiceName,
        {cause:String} = 'sub-account', SubAccountName,
        {cause:String} = 'region', RegionId,
        {cause:String} = 'usage-type', if(ChargeDescription != '', ChargeDescription, SkuId),
        ResourceId
    ) AS value,
    sum(if({metric:String} = 'billed', BilledCost, EffectiveCost)) AS amount
FROM focus_costs
WHERE ChargePeriodStart >= toDateTime({from:Date}, 'UTC')
  AND ChargePeriodStart < toDateTime({to:Date}, 'UTC') + 86400
  AND ChargePeriodEnd <= ChargePeriodStart + 86400
  AND BillingCurrency = {currency:String}
  AND multiIf(
        {dimension:String} = 'provider', Provider,
        {dimension:String} = 'cloud-service', ServiceName,
        {dimension:String} = 'sub-account', SubAccountName,
        RegionId
      ) = {key:String}
GROUP BY day, value
ORDER BY value, day
