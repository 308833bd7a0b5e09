-- Rows in which allocations_daily differs from a rollup computed afresh from allocations (0: exact).
SELECT count() AS n
FROM
(
    SELECT day, team, service, env, currency, b, e, n,
        sum(side) AS sides, count() AS copies
    FROM
    (
        SELECT day, team, service, env, currency, toString(billed) AS b, toString(effective) AS e, n, 1 AS side
        FROM allocations_daily
        UNION ALL
        SELECT day, team, service, env, currency, toString(sum(billed)) AS b,
            toString(sum(effective)) AS e, count() AS n, 2 AS side
        FROM allocations
        GROUP BY day, team, service, env, currency
    )
    GROUP BY day, team, service, env, currency, b, e, n
    HAVING NOT (copies = 2 AND sides = 3)
)
