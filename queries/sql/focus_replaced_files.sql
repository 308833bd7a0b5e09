-- Files whose rows the batch's months hold now and that the batch does not bring again: a
-- re-ingest replaces whole months, so every part-file of a month belongs in one run.
SELECT DISTINCT toYYYYMM(BillingPeriodStart) AS period, x_SourceFile AS file
FROM focus_costs
WHERE x_Source = {source:String}
    AND has({periods:Array(String)}, toString(toYYYYMM(BillingPeriodStart)))
    AND x_SourceFile NOT IN (SELECT DISTINCT x_SourceFile FROM {staging:Identifier})
ORDER BY period, file
