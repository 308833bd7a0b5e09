-- REST API /v1/costs by an allocated owner (service, team or env): cost per period (day, week
-- from Monday, or month), group and currency, with filters (empty array or '' = no filter).
-- Ordered by group, currency, period so that pages are stable. Reads the exact daily rollup
-- (migrations/007_rollups.sql), committed with allocations.
SELECT
    multiIf({granularity:String} = 'day', day,
            {granularity:String} = 'week', toMonday(day),
            toStartOfMonth(day)) AS period,
    multiIf({by:String} = 'service', service, {by:String} = 'team', team, env) AS grp,
    currency,
    sum(billed) AS billed,
    sum(effective) AS effective,
    toDecimal128(0, 18) AS list
FROM allocations_daily
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
  AND (length({teams:Array(String)}) = 0 OR has({teams:Array(String)}, team))
  AND (length({services:Array(String)}) = 0 OR has({services:Array(String)}, service))
  AND (length({envs:Array(String)}) = 0 OR has({envs:Array(String)}, env))
  AND ({currency:String} = '' OR currency = {currency:String})
GROUP BY period, grp, currency
ORDER BY grp, currency, period
LIMIT {offset:UInt64}, {limit:UInt64}
