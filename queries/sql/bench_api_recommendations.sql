-- bench/api: recommendations shaped like the optimizer's, for the bench's data (nothing writes
-- them yet): for every team and service with cost in [from, to), a rightsizing (a fifth of the
-- cost saved) and, for every other service, a spot move (a third saved), computed at {computed_at}.
INSERT INTO recommendations (computed_at, id, kind, workload, team, service, currency,
                             current_monthly, proposed_monthly, saving_monthly, summary, evidence)
SELECT
    {computed_at:DateTime},
    concat(kind, '/', team, '/', service, '/', currency),
    kind,
    concat(service, '-', kind),
    team,
    service,
    currency,
    cost,
    cost - saving,
    saving,
    concat(kind, ' ', service, ' (', team, ')'),
    '{"source":"bench/api"}'
FROM
(
    SELECT
        team,
        service,
        currency,
        cost,
        kind,
        if(kind = 'rightsize', cost / 5, cost / 3) AS saving
    FROM
    (
        SELECT team, service, currency, sum(effective) AS cost
        FROM allocations
        WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
        GROUP BY team, service, currency
        HAVING cost > 0
    )
    ARRAY JOIN ['rightsize', 'spot'] AS kind
    WHERE kind = 'rightsize' OR cityHash64(service) % 2 = 0
)
