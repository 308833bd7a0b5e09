-- REST API /v1/recommendations: the latest computation of each kind, biggest monthly saving first,
-- filtered by kind and teams (empty = all), paged.
SELECT computed_at, id, kind, workload, team, service, currency, current_monthly,
       proposed_monthly, saving_monthly, summary, evidence
FROM recommendations
WHERE (kind, computed_at) IN (SELECT kind, max(computed_at) FROM recommendations GROUP BY kind)
  AND ({kind:String} = '' OR kind = {kind:String})
  AND (length({teams:Array(String)}) = 0 OR has({teams:Array(String)}, team))
ORDER BY saving_monthly DESC, id
LIMIT {offset:UInt64}, {limit:UInt64}
