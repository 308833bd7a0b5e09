-- Fill a batch's staged allocations_daily (by month) from its staged allocation days plus the live
-- days of the same months that the batch neither replaces nor drops (migrations/007_rollups.sql).
-- The allocation writer lease is held, so those live days cannot change meanwhile.
INSERT INTO {rollup:Identifier}
SELECT day, team, service, env, currency, sum(billed), sum(effective), count()
FROM
(
    SELECT day, team, service, env, currency, billed, effective
    FROM {staging:Identifier}
    UNION ALL
    SELECT day, team, service, env, currency, billed, effective
    FROM {live:Identifier}
    WHERE has({rollup_partitions:Array(String)}, toString(toYYYYMM(day)))
      AND NOT has({partitions:Array(String)}, toString(toYYYYMMDD(day)))
)
GROUP BY day, team, service, env, currency
