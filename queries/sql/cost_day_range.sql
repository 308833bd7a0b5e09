-- First and last charge day with cost data, and how many rows there are.
SELECT
    toUInt16(min(toDate(ChargePeriodStart))) AS first_day,
    toUInt16(max(toDate(ChargePeriodStart))) AS last_day,
    count() AS rows
FROM focus_costs
