-- Alerts: one row per anomaly (a daily spike, a month-over-month change, a budget threshold),
-- updated while it lasts. Each change inserts a new version; readers use FINAL, so there is one row
-- per id. `causes` is the JSON list of the dimensions that contributed most (dimension, value,
-- amount); it is written and read by costmill, never parsed by ClickHouse.
CREATE TABLE IF NOT EXISTS alerts
(
    id String,
    kind String,
    dimension String,
    key String,
    currency String,
    state String,
    first_day Date,
    last_day Date,
    actual Decimal(38, 18),
    expected Decimal(38, 18),
    impact Decimal(38, 18),
    causes String,
    summary String,
    acked_by String,
    revision UInt32,
    updated_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

-- One delivery record per message and destination (a Slack channel, an email recipient), so a
-- retry never sends a message twice: `sending` before the attempt, `sent` after it, `failed` with
-- the next attempt time when the peer refused or was unreachable.
CREATE TABLE IF NOT EXISTS deliveries
(
    channel String,
    item String,
    state String,
    attempts UInt32,
    last_error String,
    next_attempt_at DateTime('UTC'),
    payload String,
    updated_at DateTime('UTC'),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (channel, item);

-- Budget status per budget and month, written by each budget check (for `costmill budgets`, the
-- email and the Grafana budgets dashboard).
CREATE TABLE IF NOT EXISTS budget_status
(
    month Date,
    budget String,
    scope String,
    currency String,
    amount Decimal(38, 18),
    actual Decimal(38, 18),
    forecast Decimal(38, 18),
    computed_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (month, budget);

-- Recommendations of the optimizer (spot placement, rightsizing), one row per recommendation and
-- computation; readers take the latest computation. Read by the email and the Grafana dashboards.
CREATE TABLE IF NOT EXISTS recommendations
(
    computed_at DateTime('UTC'),
    id String,
    kind String,
    workload String,
    team String,
    service String,
    currency String,
    current_monthly Decimal(38, 18),
    proposed_monthly Decimal(38, 18),
    saving_monthly Decimal(38, 18),
    summary String,
    evidence String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(computed_at)
ORDER BY (computed_at, id);
