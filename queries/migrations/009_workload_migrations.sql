-- Workload migrations (issue #9): a proposed move of one workload to cheaper capacity (a Kubernetes
-- workload to a spot node pool, pending Slurm jobs to a spot partition, a job to another cloud),
-- and every action taken on it. A proposal is written once and never changed; its status is the
-- latest event (no event: `proposed`). The events are the audit trail: who did what, when, the
-- status before and after, and the outcome; one insert per action, so an action and its audit row
-- cannot part.
CREATE TABLE IF NOT EXISTS workload_migrations
(
    id String,
    created_at DateTime('UTC'),
    created_by String,
    kind String,
    workload String,
    team String,
    service String,
    env String,
    from_placement String,
    to_placement String,
    spec_before String,
    spec_after String,
    saving_month Decimal(38, 18),
    currency String,
    evidence String
)
ENGINE = MergeTree()
ORDER BY (id);

CREATE TABLE IF NOT EXISTS migration_events
(
    migration_id String,
    seq UInt64,
    at DateTime('UTC'),
    actor String,
    action String,
    status_before String,
    status_after String,
    detail String
)
ENGINE = MergeTree()
ORDER BY (migration_id, seq);
