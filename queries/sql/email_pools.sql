-- Weekly email: what each shared pool charged over [from, to), per pool path (`kafka`,
-- `k8s-core > commitments`) and currency: the teams and services charged, the split methods the
-- allocator recorded (a fallback names itself, e.g. `even (fallback: no kafka_bytes values)`), and
-- on how many days a fallback was used. {all_teams} = 1: every team; otherwise only {team}.
SELECT
    pool,
    currency,
    sum(effective) AS effective,
    groupUniqArray(team) AS teams,
    groupUniqArray(method) AS methods,
    groupUniqArray(service) AS services,
    uniqExactIf(day, position(method, 'fallback') > 0 OR position(method, 'no targets') > 0) AS fallback_days
FROM allocations
WHERE day >= {from:Date} AND day < {to:Date}
  AND pool != ''
  AND ({all_teams:UInt8} = 1 OR team = {team:String})
GROUP BY pool, currency
ORDER BY currency, effective DESC, pool
