-- Workload migrations with their current status (the latest event; none: proposed), newest
-- first, filtered by id, status and team (empty = all), paged.
SELECT id, created_at, created_by, kind, workload, team, service, env, from_placement,
    to_placement, spec_before, spec_after, saving_month, currency, evidence,
    if(last_status = '', 'proposed', last_status) AS status, updated_at, updated_by, events
FROM
(
    SELECT id, created_at, created_by, kind, workload, team, service, env, from_placement,
        to_placement, spec_before, spec_after, saving_month, currency, evidence, last_status,
        updated_at, updated_by, events
    FROM workload_migrations
    ANY LEFT JOIN
    (
        SELECT migration_id AS id, argMax(status_after, seq) AS last_status,
            max(at) AS updated_at, argMax(actor, seq) AS updated_by, count() AS events
        FROM migration_events
        WHERE {id:String} = '' OR migration_id = {id:String}
        GROUP BY migration_id
    ) AS latest USING id
    WHERE ({id:String} = '' OR id = {id:String})
      AND (length({teams:Array(String)}) = 0 OR has({teams:Array(String)}, team))
)
WHERE length({statuses:Array(String)}) = 0
   OR has({statuses:Array(String)}, if(last_status = '', 'proposed', last_status))
ORDER BY created_at DESC, id
LIMIT {offset:UInt64}, {limit:UInt64}
