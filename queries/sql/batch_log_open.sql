-- Batches whose latest state is `swapping`: a process died in the middle of a commit.
SELECT batch_id, target, partitions, holder
FROM
(
    SELECT batch_id, argMax(target, seq) AS target, argMax(partitions, seq) AS partitions,
        argMax(holder, seq) AS holder, argMax(outcome, seq) AS outcome
    FROM batch_log
    GROUP BY batch_id
)
WHERE outcome = 'swapping'
