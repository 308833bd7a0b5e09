-- REST API /v1/costs by a billing dimension of focus_costs (as sql/costs_by_group.sql): cost per
-- period (day, week from Monday, or month of ChargePeriodStart), group and currency, with filters
-- (empty array or '' = no filter). Ordered by group, currency, period so that pages are stable.
SELECT
    multiIf({granularity:String} = 'day', toDate(ChargePeriodStart),
            {granularity:String} = 'week', toMonday(ChargePeriodStart),
            toStartOfMonth(ChargePeriodStart)) AS period,
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
  AND (length({providers:Array(String)}) = 0 OR has({providers:Array(String)}, Provider))
  AND (length({cloud_services:Array(String)}) = 0 OR has({cloud_services:Array(String)}, ServiceName))
  AND (length({sub_accounts:Array(String)}) = 0 OR has({sub_accounts:Array(String)}, SubAccountName))
  AND (length({regions:Array(String)}) = 0 OR has({regions:Array(String)}, RegionId))
  AND ({currency:String} = '' OR BillingCurrency = {currency:String})
GROUP BY period, grp, currency
ORDER BY grp, currency, period
LIMIT {offset:UInt64}, {limit:UInt64}
