-- Rows in which focus_costs_daily differs from a rollup computed afresh from focus_costs (0: exact).
-- A row counts when it is on one side only, or twice on one side. Amounts are compared as text:
-- 18.16 crashes grouping by Decimal128 keys.
SELECT count() AS n
FROM
(
    SELECT x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
        SubAccountName, RegionId, BillingCurrency, b, e, l, n,
        sum(side) AS sides, count() AS copies
    FROM
    (
        SELECT x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
            SubAccountName, RegionId, BillingCurrency, toString(billed) AS b, toString(effective) AS e,
            toString(list) AS l, n, 1 AS side
        FROM focus_costs_daily
        UNION ALL
        SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day, Provider,
            ServiceName, ServiceCategory, SubAccountName, RegionId, BillingCurrency,
            toString(sum(BilledCost)) AS b, toString(sum(EffectiveCost)) AS e,
            toString(sum(ListCost)) AS l,
            count() AS n, 2 AS side
        FROM focus_costs
        GROUP BY x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
            SubAccountName, RegionId, BillingCurrency
    )
    GROUP BY x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
        SubAccountName, RegionId, BillingCurrency, b, e, l, n
    HAVING NOT (copies = 2 AND sides = 3)
)
