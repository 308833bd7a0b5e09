-- The longest charge period (seconds) among the multi-day charges overlapping the window: how far
-- before a day a charge that covers it can start.
SELECT toUInt64(max(toUInt32(ChargePeriodEnd) - toUInt32(ChargePeriodStart))) AS seconds
FROM focus_costs
WHERE ChargePeriodStart < {to:DateTime} AND ChargePeriodEnd > {from:DateTime}
    AND toUInt32(ChargePeriodEnd) > (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400
