-- What each billed resource of recommend_vm_usage.sql cost over the window, from the allocations
-- (resource-level rows keep the billing ResourceId as `input_ref`), per currency, with the owner
-- the allocation rules gave it and the days it had cost.
SELECT input_ref, currency, anyHeavy(team) AS team, anyHeavy(service) AS service,
    sum(effective) AS effective, uniqExact(day) AS days
FROM allocations
WHERE day >= toDate({from:DateTime}) AND day < toDate({to:DateTime})
  AND input_ref IN
  (
      SELECT ResourceId
      FROM focus_costs
      WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
        AND ChargeCategory = 'Usage' AND ResourceId != ''
        AND (lower(PricingUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour')
          OR lower(ConsumedUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour'))
  )
GROUP BY input_ref, currency
ORDER BY input_ref, currency
