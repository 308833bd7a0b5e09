-- /metrics: allocated cost of one month per team, service and currency, the day filter of
-- allocations_by_group.sql. The exporter adds these up per team and per service exactly (Decimal)
-- before the exposition edge; amounts of two currencies are never added.
SELECT
    team,
    service,
    currency,
    sum(billed) AS billed,
    sum(effective) AS effective
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
GROUP BY team, service, currency
ORDER BY team, service, currency
