-- The billing sources allocated (to anyone) on each day of (after, to) in one currency: after the
-- last day with usage, only the days' shares of multi-day charges are there, so this says which
-- spread charges cover which of the month's remaining days (alerts/src/budget).
SELECT day, cost_source
FROM allocations
WHERE day > {after:Date} AND day < {to:Date} AND currency = {currency:String}
GROUP BY day, cost_source
ORDER BY day, cost_source
