-- One owner series broken down by another dimension, per day: what contributed to an anomaly.
SELECT
    day,
    multiIf(
        {cause:String} = 'service', service,
        {cause:String} = 'team', team,
        {cause:String} = 'env', env,
        {cause:String} = 'cloud-service', cost_source,
        {cause:String} = 'pool', pool,
        input_ref
    ) AS value,
    sum(if({metric:String} = 'billed', billed, effective)) AS amount
FROM allocations
WHERE day >= {from:Date} AND day <= {to:Date}
  AND currency = {currency:String}
  AND multiIf({dimension:String} = 'service', service, {dimension:String} = 'team', team, env) = {key:String}
GROUP BY day, value
ORDER BY value, day
