-- The FOCUS export (api/src/export): every allocation line of the days [from, to), optionally of
-- some teams only ({all_teams} = 1 keeps every team), in a stable order. Read with a cursor: the
-- export streams it.
SELECT
    day,
    service,
    team,
    env,
    currency,
    kind,
    pool,
    method,
    cost_source,
    input_ref,
    share,
    billed,
    effective,
    input_rows,
    run_id,
    computed_at
FROM allocations
WHERE day >= {from:Date} AND day < {to:Date}
    AND ({all_teams:UInt8} = 1 OR has({teams:Array(String)}, team))
ORDER BY day, currency, team, service, kind, pool, method, cost_source, input_ref, share, billed, effective
