-- Fill a batch's staged focus_tags_daily from its staged focus_costs rows (migrations/007_rollups.sql):
-- one row per day, tag key and value; a key repeated within a row counts once, with its first value.
INSERT INTO {rollup:Identifier}
SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day, x_TagKeys[i] AS key,
    x_TagValues[i] AS value, Provider, ServiceName, SubAccountName, RegionId, BillingCurrency,
    sum(BilledCost), sum(EffectiveCost), sum(ListCost), count()
FROM {staging:Identifier}
ARRAY JOIN arrayFilter(j -> indexOf(x_TagKeys, x_TagKeys[j]) = j, arrayEnumerate(x_TagKeys)) AS i
GROUP BY x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName, SubAccountName,
    RegionId, BillingCurrency
