-- Kubernetes workloads for `costmill recommend` (optimizer/src/recommend.rs), over a window: pod
-- seconds (average replicas = pod seconds / window seconds), the largest per-pod requests, the
-- p95 per-pod usage (a statistic of usage, not money: Float64), the node type, provider and zone
-- it mostly ran on (`type|provider_id`), and its `costmill.io/spot` label (allowed, never or '').
SELECT cluster, namespace, workload_kind, workload,
    sum(secs) AS pod_seconds,
    max(cpu_request_cores) AS cpu_request,
    max(memory_request_bytes) AS memory_request,
    max(gpu_request) AS gpus,
    quantile(0.95)(toFloat64(cpu_usage_cores)) AS cpu_p95,
    quantile(0.95)(toFloat64(memory_usage_bytes)) AS memory_p95,
    anyHeavy(node_key) AS node,
    argMax(spot, window_start) AS spot_label
FROM
(
    SELECT cluster, namespace, workload_kind, workload, window_start, secs, cpu_request_cores,
        cpu_usage_cores, memory_request_bytes, memory_usage_bytes, gpu_request, spot, node_key
    FROM
    (
        SELECT cluster, node, namespace, workload_kind, workload, window_start,
            toUInt64(window_end - window_start) AS secs, cpu_request_cores, cpu_usage_cores,
            memory_request_bytes, memory_usage_bytes, gpu_request,
            label_values[indexOf(label_keys, 'costmill.io/spot')] AS spot
        FROM k8s_pod_usage FINAL
        WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
    ) AS pods
    ANY LEFT JOIN
    (
        SELECT cluster, node, concat(any(instance_type), '|', any(provider_id)) AS node_key
        FROM k8s_nodes FINAL
        WHERE window_start >= {from:DateTime} AND window_start < {to:DateTime}
        GROUP BY cluster, node
    ) AS nodes USING (cluster, node)
)
GROUP BY cluster, namespace, workload_kind, workload
ORDER BY cluster, namespace, workload
