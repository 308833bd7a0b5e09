-- The partitions a table holds: id (for ALTER … PARTITION ID) and the value, for people.
SELECT DISTINCT partition_id AS id, partition AS name
FROM system.parts
WHERE database = currentDatabase() AND table = {table:String} AND active
ORDER BY id
