-- Daily allocated spend per owner (service, team or env) and currency: the series that spike and
-- month-over-month detection watch. Multi-day charges are already spread over their days here.
SELECT
    day,
    multiIf({dimension:String} = 'service', service, {dimension:String} = 'team', team, env) AS key,
    currency,
    sum(if({metric:String} = 'billed', billed, effective)) AS amount
FROM allocations
WHERE day >= {from:Date} AND day <= {to:Date}
GROUP BY day, key, currency
ORDER BY key, currency, day
