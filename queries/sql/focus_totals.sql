-- Totals per source, provider and billing month of the live table.
SELECT
    x_Source AS source,
    Provider AS provider,
    toYYYYMM(BillingPeriodStart) AS period,
    count() AS rows,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective,
    sum(ListCost) AS list
FROM focus_costs
GROUP BY source, provider, period
ORDER BY source, provider, period
