-- The span of Kubernetes usage data: first and last window start (0 when there is none).
SELECT toUInt32(min(window_start)) AS first, toUInt32(max(window_end)) AS last
FROM k8s_pod_usage
