-- REST API /v1/costs by tag:KEY: cost per period, tag value and currency, with the billing filters
-- of sql/api_costs_billing.sql, from the exact daily rollups (migrations/007_rollups.sql). Rows
-- without the key, or with an empty value, form the group '' (untagged): all cost minus the cost
-- of the non-empty values (each tagged row counts once for its value and once, negated, for ''),
-- shown where such rows exist (n > 0), as a scan of focus_costs shows it.
SELECT
    multiIf({granularity:String} = 'day', day,
            {granularity:String} = 'week', toMonday(day),
            toStartOfMonth(day)) AS period,
    if(sign = 1, value, '') AS grp,
    BillingCurrency AS currency,
    sum(billed * sign) AS billed,
    sum(effective * sign) AS effective,
    sum(list * sign) AS list
FROM
(
    SELECT day, value, Provider, ServiceName, SubAccountName, RegionId, BillingCurrency,
        billed, effective, list, n, [1, -1] AS signs
    FROM focus_tags_daily
    WHERE key = {tag:String} AND value != ''
      AND day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
    UNION ALL
    SELECT day, '' AS value, Provider, ServiceName, SubAccountName, RegionId, BillingCurrency,
        billed, effective, list, n, [toInt8(1)] AS signs
    FROM focus_costs_daily
    WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
)
ARRAY JOIN signs AS sign
WHERE (length({providers:Array(String)}) = 0 OR has({providers:Array(String)}, Provider))
  AND (length({cloud_services:Array(String)}) = 0 OR has({cloud_services:Array(String)}, ServiceName))
  AND (length({sub_accounts:Array(String)}) = 0 OR has({sub_accounts:Array(String)}, SubAccountName))
  AND (length({regions:Array(String)}) = 0 OR has({regions:Array(String)}, RegionId))
  AND ({currency:String} = '' OR BillingCurrency = {currency:String})
GROUP BY period, grp, currency
HAVING sum(toInt64(n) * sign) > 0
ORDER BY grp, currency, period
LIMIT {offset:UInt64}, {limit:UInt64}
