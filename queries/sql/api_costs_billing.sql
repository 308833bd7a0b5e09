-- REST API /v1/costs by a billing dimension (as sql/costs_by_group.sql, which reads focus_costs):
-- cost per period (day, week from Monday, or month of the UTC charge day), group and currency,
-- with filters (empty array or '' = no filter). Reads the exact daily rollup
-- (migrations/007_rollups.sql), committed with focus_costs. Ordered by group, currency, period so
-- that pages are stable. Tags: sql/api_costs_tag.sql.
SELECT
    multiIf({granularity:String} = 'day', day,
            {granularity:String} = 'week', toMonday(day),
            toStartOfMonth(day)) AS period,
    multiIf(
        {by:String} = 'provider', Provider,
        {by:String} = 'service', ServiceName,
        {by:String} = 'service-category', ServiceCategory,
        {by:String} = 'sub-account', SubAccountName,
        RegionId
    ) AS grp,
    BillingCurrency AS currency,
    sum(billed) AS billed,
    sum(effective) AS effective,
    sum(list) AS list
FROM focus_costs_daily
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
  AND (length({providers:Array(String)}) = 0 OR has({providers:Array(String)}, Provider))
  AND (length({cloud_services:Array(String)}) = 0 OR has({cloud_services:Array(String)}, ServiceName))
  AND (length({sub_accounts:Array(String)}) = 0 OR has({sub_accounts:Array(String)}, SubAccountName))
  AND (length({regions:Array(String)}) = 0 OR has({regions:Array(String)}, RegionId))
  AND ({currency:String} = '' OR BillingCurrency = {currency:String})
GROUP BY period, grp, currency
ORDER BY grp, currency, period
LIMIT {offset:UInt64}, {limit:UInt64}
