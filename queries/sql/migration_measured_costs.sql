-- What a moved workload cost before and after its move (`costmill migrations report`): its
-- allocated effective cost (`input_ref` is the workload id) per currency, over the whole days of
-- [before_from, moved_day) and (moved_day, after_to); the day of the move itself is mixed and
-- left out. Days count the days with cost.
SELECT currency,
    sumIf(effective, day >= toDate({before_from:DateTime}) AND day < toDate({moved:DateTime})) AS before_cost,
    uniqExactIf(day, day >= toDate({before_from:DateTime}) AND day < toDate({moved:DateTime})) AS before_days,
    sumIf(effective, day > toDate({moved:DateTime}) AND day < toDate({after_to:DateTime})) AS after_cost,
    uniqExactIf(day, day > toDate({moved:DateTime}) AND day < toDate({after_to:DateTime})) AS after_days
FROM allocations
WHERE input_ref = {workload:String}
  AND day >= toDate({before_from:DateTime}) AND day < toDate({after_to:DateTime})
GROUP BY currency
ORDER BY currency
