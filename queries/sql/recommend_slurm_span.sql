-- The span of Slurm accounting data: first start and last end (0 when there is none).
SELECT toUInt32(min(start)) AS first, toUInt32(max(end)) AS last
FROM slurm_jobs
WHERE end > start
