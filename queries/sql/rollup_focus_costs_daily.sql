-- Fill a batch's staged focus_costs_daily from its staged focus_costs rows (migrations/007_rollups.sql).
-- A focus_costs partition is replaced whole, so its rollup partition is computed from staging alone.
INSERT INTO {rollup:Identifier}
SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day, Provider, ServiceName,
    ServiceCategory, SubAccountName, RegionId, BillingCurrency,
    sum(BilledCost), sum(EffectiveCost), sum(ListCost), count()
FROM {staging:Identifier}
GROUP BY x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
    SubAccountName, RegionId, BillingCurrency
