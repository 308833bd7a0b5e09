-- The team owning each service: the team with the largest allocated share of the service's spend
-- since {from} (a service split between teams belongs to its main payer for alert routing).
SELECT service, argMax(team, amount) AS team
FROM
(
    SELECT service, team, sum(abs(effective)) AS amount
    FROM allocations
    WHERE day >= {from:Date}
    GROUP BY service, team
)
GROUP BY service
ORDER BY service
