-- Rows in which focus_tags_daily differs from a rollup computed afresh from focus_costs (0: exact).
SELECT count() AS n
FROM
(
    SELECT x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName, SubAccountName,
        RegionId, BillingCurrency, b, e, l, n,
        sum(side) AS sides, count() AS copies
    FROM
    (
        SELECT x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName,
            SubAccountName, RegionId, BillingCurrency, toString(billed) AS b, toString(effective) AS e,
            toString(list) AS l, n, 1 AS side
        FROM focus_tags_daily
        UNION ALL
        SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day,
            x_TagKeys[i] AS key, x_TagValues[i] AS value, Provider, ServiceName, SubAccountName,
            RegionId, BillingCurrency, toString(sum(BilledCost)) AS b, toString(sum(EffectiveCost)) AS e,
            toString(sum(ListCost)) AS l, count() AS n, 2 AS side
        FROM focus_costs
        ARRAY JOIN arrayFilter(j -> indexOf(x_TagKeys, x_TagKeys[j]) = j, arrayEnumerate(x_TagKeys)) AS i
        GROUP BY x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName,
            SubAccountName, RegionId, BillingCurrency
    )
    GROUP BY x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName, SubAccountName,
        RegionId, BillingCurrency, b, e, l, n
    HAVING NOT (copies = 2 AND sides = 3)
)
