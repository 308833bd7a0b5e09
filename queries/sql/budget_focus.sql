-- Billed charges carrying one tag value in one currency over [from, to), per charge day, cloud
-- service and charge class, for a tag budget (alerts/src/budget). Like costs_by_group.sql, a charge
-- counts on the day its charge period starts, whole. Classes as in budget_charge_keys.sql, except
-- that a multi-day charge is monthly (1; one-time when One-Time): it is counted whole on its
-- first day, so it is known spend of that month, not a daily amount. Single-day charges are looked
-- up by source and input (`Provider / ServiceName` TAB ResourceId or `(ChargeCategory)`) in
-- {monthly} and {one_time}. `charge` names a monthly charge across months.
SELECT
    day,
    service,
    cost_source,
    charge_class,
    if(charge_class = 1, concat(cost_source, ' | ', ref), '') AS charge,
    toUInt8(0) AS pooled,
    sum(amount) AS amount
FROM
(
    SELECT
        toDate(ChargePeriodStart) AS day,
        ServiceName AS service,
        concat(Provider, ' / ', ServiceName) AS cost_source,
        if(ResourceId = '', concat('(', ChargeCategory, ')'), ResourceId) AS ref,
        toUInt8(multiIf(
            toUInt32(ChargePeriodEnd) > (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400,
                if(ChargeFrequency = 'One-Time', 2, 1),
            has({monthly:Array(String)}, concat(cost_source, '\t', ref)), 1,
            has({one_time:Array(String)}, concat(cost_source, '\t', ref)), 2,
            0)) AS charge_class,
        if({metric:String} = 'billed', BilledCost, EffectiveCost) AS amount
    FROM focus_costs
    WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
        AND BillingCurrency = {currency:String}
        AND has(x_TagKeys, {tag_key:String})
        AND x_TagValues[indexOf(x_TagKeys, {tag_key:String})] = {tag_value:String}
)
GROUP BY day, service, cost_source, charge_class, charge, pooled
ORDER BY day, service, cost_source, charge_class, charge, pooled
