-- Leases: at most one holder of a name at a time (a writer of a table's partitions, a scheduled
-- source run). A claim is a row; renewals and releases are newer versions of it.
CREATE TABLE IF NOT EXISTS leases
(
    name String,
    holder String,
    claimed_ms UInt64,
    expires_ms UInt64,
    info String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (name, claimed_ms, holder)
