-- What each Slurm workload (cluster, partition, account) cost over the window, from the
-- allocations of its jobs (`input_ref` `slurm://cluster/partition/job_id`), per currency, with
-- the owner the allocation rules gave it most.
SELECT cluster, partition, account, currency, anyHeavy(team) AS team,
    anyHeavy(service) AS service, sum(effective) AS effective
FROM
(
    SELECT cluster, partition, account, currency, team, service, effective
    FROM
    (
        SELECT input_ref, currency, team, service, effective
        FROM allocations
        WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
          AND startsWith(input_ref, 'slurm://')
    ) AS a
    ALL INNER JOIN
    (
        SELECT concat('slurm://', cluster, '/', partition, '/', job_id) AS input_ref,
            cluster, partition, account
        FROM slurm_jobs FINAL
        WHERE start < {to:DateTime} AND end > {from:DateTime}
    ) AS j USING input_ref
)
GROUP BY cluster, partition, account, currency
ORDER BY cluster, partition, account, currency
