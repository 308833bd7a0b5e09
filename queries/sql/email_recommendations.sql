-- Weekly email: the latest computation of each kind of optimizer recommendation (spot placement,
-- rightsizing…), biggest monthly saving first. {all_teams} = 1: every team; otherwise only {team}.
SELECT computed_at, id, kind, workload, team, service, currency, current_monthly,
       proposed_monthly, saving_monthly, summary, evidence
FROM recommendations
WHERE (kind, computed_at) IN (SELECT kind, max(computed_at) FROM recommendations GROUP BY kind)
  AND ({all_teams:UInt8} = 1 OR team = {team:String})
ORDER BY saving_monthly DESC, id
LIMIT {limit:UInt32}
