-- The span of billed usage in hours (what VM recommendations read): first charge start and last
-- charge end (0 when there is none).
SELECT toUInt32(min(ChargePeriodStart)) AS first, toUInt32(max(ChargePeriodEnd)) AS last
FROM focus_costs
WHERE ChargeCategory = 'Usage' AND ResourceId != ''
  AND (lower(PricingUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour')
    OR lower(ConsumedUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour'))
