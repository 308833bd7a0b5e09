-- Staging and backup tables of batches; those whose batch holds no lease are leftovers of a crash.
SELECT name
FROM system.tables
WHERE database = currentDatabase() AND startsWith(name, '_costmill_')
ORDER BY name
