-- Slurm workloads for `costmill recommend` (kind `cloud`): per cluster, partition and account, the
-- job shapes (allocated CPUs, memory in MB, GPUs, rounded up to integers: 18.16 cannot group by a
-- Decimal; sizes, not money, so through Float64)
-- with their jobs and the seconds they ran inside the window [from, to).
SELECT cluster, partition, account, cpus, memory_mb, gpus,
    count() AS jobs, sum(seconds) AS seconds
FROM
(
    SELECT cluster, partition, account,
        toUInt32(ceil(toFloat64(alloc_cpus))) AS cpus,
        toUInt64(ceil(toFloat64(alloc_memory_mb))) AS memory_mb,
        toUInt32(ceil(toFloat64(alloc_gpus))) AS gpus,
        toUInt64(least(toUInt32(end), toUInt32({to:DateTime}))
            - greatest(toUInt32(start), toUInt32({from:DateTime}))) AS seconds
    FROM slurm_jobs FINAL
    WHERE start < {to:DateTime} AND end > {from:DateTime} AND end > start
)
GROUP BY cluster, partition, account, cpus, memory_mb, gpus
ORDER BY cluster, partition, account, cpus, memory_mb, gpus
