-- What the REST API's response cache is keyed by (api/src/http/cache.rs): per table, its rows and
-- highest block number. Every insert, attached or replaced partition takes new block numbers and
-- a dropped partition takes rows away, so this changes whenever data does; background merges keep
-- both, so it does not change with them. Leases and staging or backup tables are left out.
SELECT table, sum(rows) AS rows, max(max_block_number) AS block
FROM system.parts
WHERE database = currentDatabase() AND active
  AND table != 'leases' AND NOT startsWith(table, '_costmill_')
GROUP BY table
ORDER BY table
