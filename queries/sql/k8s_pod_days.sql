-- Workload usage per day and node: max(request, usage) × seconds for CPU and memory, GPUs by request.
-- FINAL: a window landed twice counts once (ReplacingMergeTree, see migration 004).
SELECT
    toDate(window_start) AS day,
    cluster,
    node,
    namespace,
    workload,
    label_keys,
    label_values,
    sum(if(cpu_usage_cores > cpu_request_cores, cpu_usage_cores, cpu_request_cores) * toUInt32(window_end - window_start)) AS cpu_core_seconds,
    sum(if(memory_usage_bytes > memory_request_bytes, memory_usage_bytes, memory_request_bytes) * toUInt32(window_end - window_start)) AS memory_byte_seconds,
    sum(gpu_request * toUInt32(window_end - window_start)) AS gpu_seconds
FROM k8s_pod_usage FINAL
WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
GROUP BY day, cluster, node, namespace, workload, label_keys, label_values
