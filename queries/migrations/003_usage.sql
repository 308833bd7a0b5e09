-- Usage the Kubernetes and Slurm ingestors fill. Quantities are Decimal(38, 18) like money, so
-- allocation weights are exact.

-- A node as observed over a window: its capacity and the cloud instance behind it.
CREATE TABLE IF NOT EXISTS k8s_nodes
(
    cluster String,
    node String,
    -- Kubernetes spec.providerID, e.g. aws:///us-east-1a/i-0abc…; its last segment is matched
    -- against FOCUS ResourceId to find the node's billing rows.
    provider_id String,
    instance_type String,
    cpu_cores Decimal(38, 18),
    memory_bytes Decimal(38, 18),
    gpus Decimal(38, 18),
    window_start DateTime,
    window_end DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(window_start)
ORDER BY (cluster, node, window_start);

-- A pod over a window: requests and measured usage.
CREATE TABLE IF NOT EXISTS k8s_pod_usage
(
    cluster String,
    node String,
    namespace String,
    pod String,
    workload_kind String,
    workload String,
    label_keys Array(String),
    label_values Array(String),
    window_start DateTime,
    window_end DateTime,
    cpu_request_cores Decimal(38, 18),
    cpu_usage_cores Decimal(38, 18),
    memory_request_bytes Decimal(38, 18),
    memory_usage_bytes Decimal(38, 18),
    gpu_request Decimal(38, 18)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(window_start)
ORDER BY (cluster, node, window_start, namespace, pod);

-- Slurm accounting (sacct): one row per job, the latest state winning.
CREATE TABLE IF NOT EXISTS slurm_jobs
(
    cluster String,
    job_id String,
    job_name String,
    partition String,
    account String,
    user String,
    alloc_cpus Decimal(38, 18),
    alloc_memory_mb Decimal(38, 18),
    alloc_gpus Decimal(38, 18),
    start DateTime,
    end DateTime,
    state String,
    ingested_at DateTime
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start)
ORDER BY (cluster, job_id);
