-- Allocation results: every dollar of a day to a service, team and env, with how it got there.
-- One partition per day: `costmill allocate` replaces the days of its window atomically.
CREATE TABLE IF NOT EXISTS allocations
(
    day Date,
    service String,
    team String,
    env String,
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
    computed_at DateTime
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (day, team, service);

-- Per-service daily metrics that proportional pools split by (table bytes, key counts, requests…).
-- A re-sent value for the same metric, day and service replaces the earlier one.
CREATE TABLE IF NOT EXISTS service_metrics
(
    day Date,
    metric String,
    service String,
    value Decimal(38, 18),
    ingested_at DateTime
)
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (metric, day, service);
