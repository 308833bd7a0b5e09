-- /metrics: per source, when its latest run and its latest successful run ended (0: never), read
-- from the run log so that lag survives a restart of `costmill serve`.
SELECT
    source,
    toUInt32(maxIf(ended_at, outcome = 'ok')) AS last_success,
    toUInt32(max(ended_at)) AS last_run
FROM source_runs
GROUP BY source
ORDER BY source
