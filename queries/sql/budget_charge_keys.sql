-- Which charges a budget forecast counts once instead of extrapolating (alerts/src/budget), per
-- billing source (`Provider / ServiceName`, what allocations call cost_source) and currency, from
-- the charges that start in [from, to).
--
-- A charge is keyed like allocations name their input: source, then ResourceId, or
-- `(ChargeCategory)` when there is none. Its class:
--   1 monthly: Recurring charges of at most one day that land on at most one day per calendar
--     month (a commitment fee on the 1st, support at month end), possibly with multi-day rows;
--   2 one-time: One-Time rows only;
--   3 spread: only charges whose period spans several days (allocation spreads them over it);
--   0 usage: anything else (Usage-Based rows; hourly or daily Recurring fees, which land every day).
-- Corrections (ChargeClass 'Correction') do not count as landing days. `refs`/`classes` list the
-- keys of class 1 and 2. source_class is the class of all the source bills in the currency, for
-- pooled allocations (they keep the source, not the charge): 0 as soon as one key is usage, 2 when
-- all are one-time, 3 when all are spread or one-time, else 1.
SELECT
    cs AS cost_source,
    cur AS currency,
    toUInt8(multiIf(countIf(charge_class = 0) > 0, 0, countIf(charge_class != 2) = 0, 2, countIf(charge_class = 1) = 0, 3, 1))
        AS source_class,
    groupArrayIf(ref, charge_class IN (1, 2)) AS refs,
    groupArrayIf(charge_class, charge_class IN (1, 2)) AS classes
FROM
(
    SELECT
        cs,
        ref,
        cur,
        toUInt8(multiIf(
            usage_rows > 0 OR recurring_days > recurring_months, 0,
            one_time_rows = rows, 2,
            multi_day_rows + one_time_rows = rows, 3,
            1)) AS charge_class
    FROM
    (
        SELECT
            cs,
            ref,
            cur,
            count() AS rows,
            countIf(frequency = 'One-Time') AS one_time_rows,
            countIf(multi_day AND frequency != 'One-Time') AS multi_day_rows,
            countIf(NOT multi_day AND frequency NOT IN ('Recurring', 'One-Time')) AS usage_rows,
            uniqExactIf(day, NOT multi_day AND frequency = 'Recurring' AND NOT correction) AS recurring_days,
            uniqExactIf(toYYYYMM(day), NOT multi_day AND frequency = 'Recurring' AND NOT correction)
                AS recurring_months
        FROM
        (
            SELECT
                concat(Provider, ' / ', ServiceName) AS cs,
                if(ResourceId = '', concat('(', ChargeCategory, ')'), ResourceId) AS ref,
                BillingCurrency AS cur,
                ChargeFrequency AS frequency,
                ChargeClass = 'Correction' AS correction,
                toDate(ChargePeriodStart) AS day,
                toUInt32(ChargePeriodEnd) > (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400
                    AS multi_day
            FROM focus_costs
            WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
        )
        GROUP BY cs, ref, cur
    )
)
GROUP BY cost_source, currency
HAVING countIf(charge_class > 0) > 0
ORDER BY cost_source, currency
