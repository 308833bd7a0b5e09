-- Every timestamp is DateTime('UTC'): days and billing-month partitions must not shift with the
-- server's timezone. A partition key cannot be altered, so each table is rebuilt: a new table is
-- filled from the old one and the two are swapped by one RENAME. Each rebuild can be re-run after a
-- crash at any step (the leftover of an earlier attempt is dropped first).
--
-- Allocations gain a `currency` column: amounts of different currencies are never added. Allocations
-- are derived data, so they are not copied: run `costmill allocate` again after this migration.
--
-- Usage tables become idempotent: ReplacingMergeTree keyed by what identifies one observation
-- (cluster, node or pod, window start), versioned by ingest time, and read with FINAL. Why a Replacing
-- engine rather than replacing a (cluster, day) partition: live Kubernetes sampling lands one hour of a
-- day at a time, so replacing the day's partition would drop its earlier hours unless every run re-read
-- them; a Replacing key lets a run land only the windows it observed, the same window landed twice
-- keeps one row, and FINAL keeps readers exact before background merges. Partitions are (cluster, day)
-- so a run's staged parts attach per day, atomically.

DROP TABLE IF EXISTS focus_costs__v3_old;
DROP TABLE IF EXISTS focus_costs__v4;
CREATE TABLE focus_costs__v4
(
    BillingAccountId String,
    BillingAccountName String,
    BillingCurrency String,
    BillingPeriodStart DateTime('UTC'),
    BillingPeriodEnd DateTime('UTC'),
    ChargePeriodStart DateTime('UTC'),
    ChargePeriodEnd DateTime('UTC'),
    ChargeCategory String,
    ChargeClass String,
    ChargeDescription String,
    ChargeFrequency String,
    BilledCost Decimal(38, 18),
    EffectiveCost Decimal(38, 18),
    ListCost Decimal(38, 18),
    ContractedCost Decimal(38, 18),
    ListUnitPrice Nullable(Decimal(38, 18)),
    ContractedUnitPrice Nullable(Decimal(38, 18)),
    PricingQuantity Nullable(Decimal(38, 18)),
    PricingUnit String,
    PricingCategory String,
    ConsumedQuantity Nullable(Decimal(38, 18)),
    ConsumedUnit String,
    InvoiceIssuer String,
    InvoiceId String,
    Provider String,
    Publisher String,
    ServiceCategory String,
    ServiceSubcategory String,
    ServiceName String,
    ResourceId String,
    ResourceName String,
    ResourceType String,
    RegionId String,
    RegionName String,
    AvailabilityZone String,
    SkuId String,
    SkuPriceId String,
    SubAccountId String,
    SubAccountName String,
    CommitmentDiscountId String,
    CommitmentDiscountName String,
    CommitmentDiscountCategory String,
    CommitmentDiscountStatus String,
    CommitmentDiscountType String,
    Tags String,
    x_TagKeys Array(String),
    x_TagValues Array(String),
    x_Source String,
    x_BatchId String,
    x_SourceFile String,
    x_SourceRow UInt64,
    x_RowFingerprint UInt64,
    x_IngestedAt DateTime('UTC')
)
ENGINE = MergeTree()
PARTITION BY (x_Source, toYYYYMM(BillingPeriodStart))
ORDER BY (ChargePeriodStart, Provider, ServiceName, ResourceId);
INSERT INTO focus_costs__v4 SELECT * FROM focus_costs;
RENAME TABLE focus_costs TO focus_costs__v3_old, focus_costs__v4 TO focus_costs;
DROP TABLE focus_costs__v3_old;

DROP TABLE IF EXISTS allocations__v3_old;
DROP TABLE IF EXISTS allocations__v4;
CREATE TABLE allocations__v4
(
    day Date,
    service String,
    team String,
    env String,
    currency String,
    kind String,
    pool String,
    method String,
    cost_source String,
    input_ref String,
    share Decimal(38, 18),
    billed Decimal(38, 18),
    effective Decimal(38, 18),
    input_rows UInt64,
    run_id String,
    computed_at DateTime('UTC')
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (day, team, service);
RENAME TABLE allocations TO allocations__v3_old, allocations__v4 TO allocations;
DROP TABLE allocations__v3_old;

DROP TABLE IF EXISTS service_metrics__v3_old;
DROP TABLE IF EXISTS service_metrics__v4;
CREATE TABLE service_metrics__v4
(
    day Date,
    metric String,
    service String,
    value Decimal(38, 18),
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(day)
ORDER BY (metric, day, service);
INSERT INTO service_metrics__v4 SELECT * FROM service_metrics;
RENAME TABLE service_metrics TO service_metrics__v3_old, service_metrics__v4 TO service_metrics;
DROP TABLE service_metrics__v3_old;

DROP TABLE IF EXISTS k8s_nodes__v3_old;
DROP TABLE IF EXISTS k8s_nodes__v4;
CREATE TABLE k8s_nodes__v4
(
    cluster String,
    node String,
    provider_id String,
    instance_type String,
    cpu_cores Decimal(38, 18),
    memory_bytes Decimal(38, 18),
    gpus Decimal(38, 18),
    window_start DateTime('UTC'),
    window_end DateTime('UTC'),
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY (cluster, toDate(window_start))
ORDER BY (cluster, node, window_start);
INSERT INTO k8s_nodes__v4
SELECT cluster, node, provider_id, instance_type, cpu_cores, memory_bytes, gpus, window_start, window_end, now()
FROM k8s_nodes;
RENAME TABLE k8s_nodes TO k8s_nodes__v3_old, k8s_nodes__v4 TO k8s_nodes;
DROP TABLE k8s_nodes__v3_old;

DROP TABLE IF EXISTS k8s_pod_usage__v3_old;
DROP TABLE IF EXISTS k8s_pod_usage__v4;
CREATE TABLE k8s_pod_usage__v4
(
    cluster String,
    node String,
    namespace String,
    pod String,
    workload_kind String,
    workload String,
    label_keys Array(String),
    label_values Array(String),
    window_start DateTime('UTC'),
    window_end DateTime('UTC'),
    cpu_request_cores Decimal(38, 18),
    cpu_usage_cores Decimal(38, 18),
    memory_request_bytes Decimal(38, 18),
    memory_usage_bytes Decimal(38, 18),
    gpu_request Decimal(38, 18),
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY (cluster, toDate(window_start))
ORDER BY (cluster, node, window_start, namespace, pod);
INSERT INTO k8s_pod_usage__v4
SELECT cluster, node, namespace, pod, workload_kind, workload, label_keys, label_values, window_start,
    window_end, cpu_request_cores, cpu_usage_cores, memory_request_bytes, memory_usage_bytes,
    gpu_request, now()
FROM k8s_pod_usage;
RENAME TABLE k8s_pod_usage TO k8s_pod_usage__v3_old, k8s_pod_usage__v4 TO k8s_pod_usage;
DROP TABLE k8s_pod_usage__v3_old;

DROP TABLE IF EXISTS slurm_jobs__v3_old;
DROP TABLE IF EXISTS slurm_jobs__v4;
CREATE TABLE slurm_jobs__v4
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
    start DateTime('UTC'),
    end DateTime('UTC'),
    state String,
    ingested_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY (cluster, toYYYYMM(start))
ORDER BY (cluster, job_id);
INSERT INTO slurm_jobs__v4 SELECT * FROM slurm_jobs;
RENAME TABLE slurm_jobs TO slurm_jobs__v3_old, slurm_jobs__v4 TO slurm_jobs;
DROP TABLE slurm_jobs__v3_old;

-- One row per state of a staged commit (ingest, usage, allocate): written when it starts swapping
-- and when it ends (committed, failed, aborted, rolled back). `costmill sources status` and the
-- crash recovery on start read it.
CREATE TABLE IF NOT EXISTS batch_log
(
    batch_id String,
    kind String,
    source String,
    target String,
    partitions Array(String),
    rows UInt64,
    -- Totals per currency, index for index: amounts of two currencies are never added.
    currencies Array(String),
    billed Array(Decimal(38, 18)),
    effective Array(Decimal(38, 18)),
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    outcome String,
    error String,
    holder String,
    seq UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY (kind, source, started_at, batch_id, seq);

-- Leases live in `leases`, created before any migration (sql/leases_table.sql): migrations
-- themselves run under one.

-- Where each scheduled source is (an opaque checkpoint the source reads back on its next run).
CREATE TABLE IF NOT EXISTS source_checkpoints
(
    source String,
    checkpoint String,
    updated_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY source;

-- One row per run of a source (by `costmill serve`, `costmill ingest run`): what `costmill sources
-- status` shows. A run that failed before it staged anything is here too, with its error.
CREATE TABLE IF NOT EXISTS source_runs
(
    source String,
    run_id String,
    trigger String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    outcome String,
    attempts UInt32,
    rows UInt64,
    currencies Array(String),
    billed Array(Decimal(38, 18)),
    effective Array(Decimal(38, 18)),
    error String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY (source, started_at, run_id);
