-- The longest Slurm job (seconds) overlapping the window: how far before a day a job that ran on
-- it can start. An upper bound (no FINAL: a superseded state only makes it larger).
SELECT toUInt64(greatest(max(toInt64(toUInt32(end)) - toInt64(toUInt32(start))), 0)) AS seconds
FROM slurm_jobs
WHERE start < {to:DateTime} AND end > {from:DateTime}
