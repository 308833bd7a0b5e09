-- Showback from allocations: cost per service, team or env, currency and month. Currencies are
-- never added together.
SELECT
    toYYYYMM(day) AS month,
    multiIf({by:String} = 'service', service, {by:String} = 'team', team, env) AS grp,
    currency,
    sum(billed) AS billed,
    sum(effective) AS effective,
    toDecimal128(0, 18) AS list
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
GROUP BY month, grp, currency
ORDER BY grp, currency, month
