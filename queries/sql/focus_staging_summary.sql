SELECT
    Provider AS provider,
    toYYYYMM(BillingPeriodStart) AS period,
    count() AS rows,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective
FROM {staging:Identifier}
GROUP BY provider, period
ORDER BY provider, period
