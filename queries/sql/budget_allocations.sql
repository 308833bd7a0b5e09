-- Allocated cost of one team or service in one currency over [from, to), per day, service, billing
-- source and charge class, for a budget (alerts/src/budget). The class (0 usage, 1 monthly,
-- 2 one-time, 3 spread) comes from budget_charge_keys.sql: a day's share of a multi-day charge is
-- named `… [spread START/END]` by allocation (3); other direct and unallocated rows are looked up
-- by source and input (`Provider / ServiceName` TAB input_ref) in {monthly} and {one_time}; pooled
-- rows keep only their source, looked up in {pool_monthly}, {pool_one_time} and {pool_spread}.
-- `charge` names a monthly or spread charge across months (source | input without the period).
-- `pooled` marks a pool's split: it depends on the day's usage (weights, active services), so on a
-- day without usage yet it is not final (a usage-weighted pool keeps the amount with its source,
-- or gives it all to whoever has direct cost that day).
SELECT
    day,
    service,
    cost_source,
    charge_class,
    if(charge_class IN (1, 3), concat(cost_source, ' | ', base_ref), '') AS charge,
    pooled,
    sum(amount) AS amount
FROM
(
    SELECT
        day,
        service,
        cost_source,
        if(position(input_ref, ' [spread ') > 0,
            substring(input_ref, 1, position(input_ref, ' [spread ') - 1), input_ref) AS base_ref,
        toUInt8(multiIf(
            position(input_ref, ' [spread ') > 0, 3,
            kind = 'pool', multiIf(
                has({pool_monthly:Array(String)}, cost_source), 1,
                has({pool_one_time:Array(String)}, cost_source), 2,
                has({pool_spread:Array(String)}, cost_source), 3,
                0),
            has({monthly:Array(String)}, concat(cost_source, '\t', input_ref)), 1,
            has({one_time:Array(String)}, concat(cost_source, '\t', input_ref)), 2,
            0)) AS charge_class,
        toUInt8(kind = 'pool') AS pooled,
        if({metric:String} = 'billed', billed, effective) AS amount
    FROM allocations
    WHERE day >= {from:Date} AND day < {to:Date}
        AND currency = {currency:String}
        AND if({dimension:String} = 'team', team, service) = {value:String}
)
GROUP BY day, service, cost_source, charge_class, charge, pooled
ORDER BY day, service, cost_source, charge_class, charge, pooled
