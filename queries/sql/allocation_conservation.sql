-- Per day: input cost against allocated cost in the window, for the conservation check.
SELECT
    day,
    sum(input_billed) AS input_billed,
    sum(input_effective) AS input_effective,
    sum(allocated_billed) AS allocated_billed,
    sum(allocated_effective) AS allocated_effective
FROM
(
    SELECT toDate(ChargePeriodStart) AS day, BilledCost AS input_billed, EffectiveCost AS input_effective,
        toDecimal128(0, 18) AS allocated_billed, toDecimal128(0, 18) AS allocated_effective
    FROM focus_costs
    WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
    UNION ALL
    SELECT day, toDecimal128(0, 18), toDecimal128(0, 18), billed, effective
    FROM allocations
    -- Node cost from configured prices is not in focus_costs: it is checked in the engine only.
    WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime}) AND cost_source NOT LIKE 'price:%'

)
GROUP BY day
ORDER BY day
