-- Exact daily rollups of focus_costs and allocations, for the REST API: the same sums in far fewer
-- rows (a year of 10,000,000 FOCUS rows is about 58,000 rollup rows). Each is written in the same
-- staged commit as the table it sums (queries/src/rollup.rs): a partition of the rollup is replaced
-- together with the partitions of its source, and rolled back with them. Materialized views would
-- not do: they see inserts, not partition replaces.
--
-- `n` counts the source rows of a rollup row, so that a group with no rows is told from a group
-- whose costs add up to zero. The tables are derived: this migration (re-runnable after a crash at
-- any step) builds them from what is stored.

-- Cost per billing day (UTC) and billing dimension. Partitioned exactly like focus_costs, so that a
-- partition of focus_costs and its rollup share a partition id.
DROP TABLE IF EXISTS focus_costs_daily;
CREATE TABLE focus_costs_daily
(
    x_Source String,
    BillingPeriodStart DateTime('UTC'),
    day Date,
    Provider String,
    ServiceName String,
    ServiceCategory String,
    SubAccountName String,
    RegionId String,
    BillingCurrency String,
    billed Decimal(38, 18),
    effective Decimal(38, 18),
    list Decimal(38, 18),
    n UInt64
)
ENGINE = MergeTree()
PARTITION BY (x_Source, toYYYYMM(BillingPeriodStart))
ORDER BY (day, Provider, ServiceName, RegionId);
INSERT INTO focus_costs_daily
SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day, Provider, ServiceName,
    ServiceCategory, SubAccountName, RegionId, BillingCurrency,
    sum(BilledCost), sum(EffectiveCost), sum(ListCost), count()
FROM focus_costs
GROUP BY x_Source, BillingPeriodStart, day, Provider, ServiceName, ServiceCategory,
    SubAccountName, RegionId, BillingCurrency;

-- Cost per billing day and tag (key, value), with the dimensions the API filters on. A key that
-- appears twice in one row counts once, with its first value (as x_TagValues[indexOf(..)] reads it).
DROP TABLE IF EXISTS focus_tags_daily;
CREATE TABLE focus_tags_daily
(
    x_Source String,
    BillingPeriodStart DateTime('UTC'),
    day Date,
    key String,
    value String,
    Provider String,
    ServiceName String,
    SubAccountName String,
    RegionId String,
    BillingCurrency String,
    billed Decimal(38, 18),
    effective Decimal(38, 18),
    list Decimal(38, 18),
    n UInt64
)
ENGINE = MergeTree()
PARTITION BY (x_Source, toYYYYMM(BillingPeriodStart))
ORDER BY (key, day, value);
INSERT INTO focus_tags_daily
SELECT x_Source, BillingPeriodStart, toDate(ChargePeriodStart) AS day, x_TagKeys[i] AS key,
    x_TagValues[i] AS value, Provider, ServiceName, SubAccountName, RegionId, BillingCurrency,
    sum(BilledCost), sum(EffectiveCost), sum(ListCost), count()
FROM focus_costs
ARRAY JOIN arrayFilter(j -> indexOf(x_TagKeys, x_TagKeys[j]) = j, arrayEnumerate(x_TagKeys)) AS i
GROUP BY x_Source, BillingPeriodStart, day, key, value, Provider, ServiceName, SubAccountName,
    RegionId, BillingCurrency;

-- Allocated cost per day and owner. Partitioned by month (allocations are by day): a quarter is
-- three parts, not ninety.
DROP TABLE IF EXISTS allocations_daily;
CREATE TABLE allocations_daily
(
    day Date,
    team String,
    service String,
    env String,
    currency String,
    billed Decimal(38, 18),
    effective Decimal(38, 18),
    n UInt64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, team, service, env);
INSERT INTO allocations_daily
SELECT day, team, service, env, currency, sum(billed), sum(effective), count()
FROM allocations
GROUP BY day, team, service, env, currency;
