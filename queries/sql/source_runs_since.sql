-- Runs of a source that started at or after a time: a scheduled tick another process already ran.
SELECT count() AS n
FROM source_runs
WHERE source = {source:String} AND started_at >= {since:DateTime}
