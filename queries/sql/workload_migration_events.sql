-- The audit trail of one workload migration, oldest first.
SELECT migration_id, seq, at, actor, action, status_before, status_after, detail
FROM migration_events
WHERE migration_id = {id:String}
ORDER BY seq
