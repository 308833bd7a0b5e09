-- Showback from allocations: cost per service, team or env and month.
SELECT
    toYYYYMM(day) AS month,
    multiIf({by:String} = 'service', service, {by:String} = 'team', team, env) AS grp,
    sum(billed) AS billed,
    sum(effective) AS effective,
    toDecimal128(0, 18) AS list
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
GROUP BY month, grp
ORDER BY grp, month
