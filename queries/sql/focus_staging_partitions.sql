-- The (source, billing month) partitions a batch will replace.
SELECT DISTINCT x_Source AS source, toYYYYMM(BillingPeriodStart) AS period
FROM {staging:Identifier}
ORDER BY source, period
