-- Slurm jobs cut into days: TRES-seconds each job used on each day of [from, to) it ran.
-- {earliest} bounds how early such a job can start (slurm_job_span.sql), so partitions of older
-- months are not read.
SELECT
    day,
    cluster,
    partition,
    account,
    user,
    job_id,
    alloc_cpus * toUInt32(seconds) AS cpu_seconds,
    alloc_memory_mb * toUInt32(seconds) AS memory_mb_seconds,
    alloc_gpus * toUInt32(seconds) AS gpu_seconds
FROM
(
    SELECT
        -- range(n) with one argument: 18.16 has no range(from, to).
        toUInt16(arrayJoin(arrayMap(i -> toUInt32(toDate(start)) + i,
            range(toUInt32(toUInt32(toDate(end)) - toUInt32(toDate(start)) + 1))))) AS day,
        cluster, partition, account, user, job_id, alloc_cpus, alloc_memory_mb, alloc_gpus,
        least(toInt64(toUInt32(end)), (toInt64(day) + 1) * 86400)
            - greatest(toInt64(toUInt32(start)), toInt64(day) * 86400) AS seconds
    FROM slurm_jobs FINAL
    WHERE start >= {earliest:DateTime} AND start < {to:DateTime} AND end > {from:DateTime} AND end > start
)
WHERE seconds > 0 AND day >= toUInt16(toDate({from:DateTime})) AND day < toUInt16(toDate({to:DateTime}))
