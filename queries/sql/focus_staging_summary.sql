-- Rows and money of a staged FOCUS batch per provider, billing month and currency.
SELECT
    Provider AS provider,
    toYYYYMM(BillingPeriodStart) AS period,
    BillingCurrency AS currency,
    count() AS rows,
    sum(BilledCost) AS billed,
    sum(EffectiveCost) AS effective
FROM {staging:Identifier}
GROUP BY provider, period, currency
ORDER BY provider, period, currency
