-- The charge days a staged FOCUS batch touches: what allocation must redo after the commit.
SELECT
    toUInt16(min(toDate(ChargePeriodStart))) AS first_day,
    toUInt16(max(toDate(ChargePeriodEnd - 1))) AS last_day,
    count() AS rows
FROM {staging:Identifier}
