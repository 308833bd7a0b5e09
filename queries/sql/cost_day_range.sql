-- First and last day with cost data (a multi-day charge reaches the last day of its charge
-- period), and how many rows there are.
SELECT
    toUInt16(min(toDate(ChargePeriodStart))) AS first_day,
    toUInt16(max(if(toUInt32(ChargePeriodEnd) > (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400,
        intDiv(toUInt32(ChargePeriodEnd) - 1, 86400), intDiv(toUInt32(ChargePeriodStart), 86400)))) AS last_day,
    count() AS rows
FROM focus_costs
