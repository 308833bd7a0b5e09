-- Weekly email: allocated cost per day, team, service and currency over [from, to): the chart's
-- daily series, the week and month totals and the movers. The same sums as
-- allocations_by_group.sql (what `costmill costs --by team` reports), one day at a time.
-- {all_teams} = 1: every team (the FinOps summary); otherwise only {team}.
SELECT day, team, service, currency, sum(effective) AS effective
FROM allocations
WHERE day >= {from:Date} AND day < {to:Date}
  AND ({all_teams:UInt8} = 1 OR team = {team:String})
GROUP BY day, team, service, currency
ORDER BY day, team, service, currency
