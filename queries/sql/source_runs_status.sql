-- Per source: its latest run, its latest successful run, what its latest landing brought (a run
-- that found nothing new is a success that lands nothing), and its latest error.
SELECT
    source,
    argMax(outcome, ended_at) AS last_outcome,
    toUInt32(max(ended_at)) AS last_run,
    toUInt32(maxIf(ended_at, outcome = 'ok')) AS last_success,
    argMaxIf(rows, ended_at, outcome = 'ok' AND rows > 0) AS last_rows,
    argMaxIf(currencies, ended_at, outcome = 'ok' AND rows > 0) AS last_currencies,
    argMaxIf(effective, ended_at, outcome = 'ok' AND rows > 0) AS last_effective,
    argMaxIf(error, ended_at, outcome != 'ok') AS last_error,
    toUInt32(maxIf(ended_at, outcome != 'ok')) AS last_error_at,
    count() AS runs
FROM source_runs
GROUP BY source
ORDER BY source
