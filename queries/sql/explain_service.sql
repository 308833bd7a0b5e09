-- Where a service's money in one month came from: direct rows, each pool with its method and
-- share, by currency, billing source and input reference.
SELECT
    kind,
    pool,
    method,
    currency,
    cost_source,
    input_ref,
    count() AS days,
    min(share) AS min_share,
    max(share) AS max_share,
    sum(billed) AS billed,
    sum(effective) AS effective
FROM allocations
WHERE service = {service:String} AND toYYYYMM(day) = {month:UInt32}
GROUP BY kind, pool, method, currency, cost_source, input_ref
ORDER BY kind, pool, currency, effective DESC
