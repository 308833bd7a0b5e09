-- The last day with data: allocated (owners) and one-day billed usage (billing dimensions).
-- Detection never looks past it, so a day that has not landed yet is not read as a drop to zero.
-- Allocations of multi-day charges reach to the end of their period (a monthly fee spread to the
-- 30th), so owners are capped at the last day of one-day usage too, when there is any.
SELECT
    if(billing = toDate('1970-01-01'), allocated, least(allocated, billing)) AS owners,
    billing
FROM
(
    SELECT
        (SELECT max(day) FROM allocations) AS allocated,
        (SELECT toDate(max(ChargePeriodStart)) FROM focus_costs
         WHERE ChargePeriodEnd <= ChargePeriodStart + 86400) AS billing
)
