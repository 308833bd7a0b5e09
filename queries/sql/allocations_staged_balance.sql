-- Conservation of a staged allocation, checked before it is swapped in: per day and currency, the
-- window's single-day charges summed from focus_costs against the staged allocations. costmill
-- adds each day's share of the multi-day charges, as it spread them, to the input side. Cost from
-- configured prices (cost_source 'price:%') is not in the bill and is left out.
SELECT
    day,
    currency,
    sum(input_billed) AS input_billed,
    sum(input_effective) AS input_effective,
    sum(allocated_billed) AS allocated_billed,
    sum(allocated_effective) AS allocated_effective
FROM
(
    SELECT toDate(ChargePeriodStart) AS day, BillingCurrency AS currency,
        BilledCost AS input_billed, EffectiveCost AS input_effective,
        toDecimal128(0, 18) AS allocated_billed, toDecimal128(0, 18) AS allocated_effective
    FROM focus_costs
    WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
        AND toUInt32(ChargePeriodEnd) <= (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400
    UNION ALL
    SELECT day, currency, toDecimal128(0, 18), toDecimal128(0, 18), billed, effective
    FROM {staging:Identifier}
    WHERE cost_source NOT LIKE 'price:%'
)
GROUP BY day, currency
ORDER BY day, currency
