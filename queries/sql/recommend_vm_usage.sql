-- Billing rows of cloud VMs for `costmill recommend` (optimizer/src/recommend_vm.rs) over a
-- window: Usage rows of a resource priced or consumed in hours, summed per resource and charge
-- description (FOCUS has no instance-type column: Rust reads the type from the description), with
-- both quantities (the units decide which one holds the hours), the effective and list cost, and
-- the resource's `costmill.io/spot` tag (allowed, never or ''). Unused commitments are not usage
-- of the resource.
SELECT Provider AS provider, ResourceId AS resource_id, RegionId AS region_id,
    RegionName AS region_name, AvailabilityZone AS zone, ServiceName AS service_name,
    ChargeDescription AS description, BillingCurrency AS currency,
    PricingCategory AS pricing_category, CommitmentDiscountType AS commitment_type,
    PricingUnit AS pricing_unit, ConsumedUnit AS consumed_unit,
    sum(ifNull(PricingQuantity, toDecimal128(0, 18))) AS pricing_quantity,
    sum(ifNull(ConsumedQuantity, toDecimal128(0, 18))) AS consumed_quantity,
    sum(EffectiveCost) AS effective,
    sum(ListCost) AS list,
    count() AS rows,
    argMax(x_TagValues[indexOf(x_TagKeys, 'costmill.io/spot')], ChargePeriodStart) AS spot_tag
FROM focus_costs
WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}
  AND ChargeCategory = 'Usage' AND ResourceId != '' AND CommitmentDiscountStatus != 'Unused'
  AND (lower(PricingUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour')
    OR lower(ConsumedUnit) IN ('hours', 'hour', 'hrs', 'hr', 'h', '1 hour'))
GROUP BY Provider, ResourceId, RegionId, RegionName, AvailabilityZone, ServiceName,
    ChargeDescription, BillingCurrency, PricingCategory, CommitmentDiscountType, PricingUnit,
    ConsumedUnit
ORDER BY provider, resource_id, description, currency, pricing_category, commitment_type,
    pricing_unit, consumed_unit, region_id, region_name, zone, service_name
