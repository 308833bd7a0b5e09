-- Node capacity per day, in resource-seconds (windows are attributed to the day they start).
-- FINAL: a window landed twice counts once (ReplacingMergeTree, see migration 004).
SELECT
    toDate(window_start) AS day,
    cluster,
    node,
    any(provider_id) AS provider_id,
    any(instance_type) AS instance_type,
    sum(cpu_cores * toUInt32(window_end - window_start)) AS cpu_core_seconds,
    sum(memory_bytes * toUInt32(window_end - window_start)) AS memory_byte_seconds,
    sum(gpus * toUInt32(window_end - window_start)) AS gpu_seconds,
    toUInt64(sum(window_end - window_start)) AS seconds
FROM k8s_nodes FINAL
WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
GROUP BY day, cluster, node
