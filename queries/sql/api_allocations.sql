-- REST API /v1/allocations: allocation lines of a window, filtered (empty array or '' = no
-- filter), in a stable order for paging.
SELECT day, service, team, env, currency, kind, pool, method, cost_source, input_ref, share,
       billed, effective, input_rows, run_id, computed_at
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
  AND (length({teams:Array(String)}) = 0 OR has({teams:Array(String)}, team))
  AND (length({services:Array(String)}) = 0 OR has({services:Array(String)}, service))
  AND (length({envs:Array(String)}) = 0 OR has({envs:Array(String)}, env))
  AND ({currency:String} = '' OR currency = {currency:String})
ORDER BY day, team, service, env, currency, kind, pool, method, cost_source, input_ref
LIMIT {offset:UInt64}, {limit:UInt64}
