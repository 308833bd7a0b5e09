-- The first and last day with usage in [from, to) (0 when none), for allocations (rows of
-- single-day charges owned by a rule: not a pool's share, not a day's share of a multi-day charge)
-- and for billed single-day charges (focus_costs). A budget's month and run rate end there.
SELECT
    (SELECT toUInt16(min(day)) FROM allocations
     WHERE day >= {from:Date} AND day < {to:Date}
        AND kind != 'pool' AND position(input_ref, ' [spread ') = 0) AS owners_first,
    (SELECT toUInt16(max(day)) FROM allocations
     WHERE day >= {from:Date} AND day < {to:Date}
        AND kind != 'pool' AND position(input_ref, ' [spread ') = 0) AS owners_last,
    (SELECT toUInt16(min(toDate(ChargePeriodStart))) FROM focus_costs
     WHERE ChargePeriodStart >= toDateTime({from:Date}, 'UTC') AND ChargePeriodStart < toDateTime({to:Date}, 'UTC')
        AND toUInt32(ChargePeriodEnd) <= (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400) AS billing_first,
    (SELECT toUInt16(max(toDate(ChargePeriodStart))) FROM focus_costs
     WHERE ChargePeriodStart >= toDateTime({from:Date}, 'UTC') AND ChargePeriodStart < toDateTime({to:Date}, 'UTC')
        AND toUInt32(ChargePeriodEnd) <= (intDiv(toUInt32(ChargePeriodStart), 86400) + 1) * 86400) AS billing_last
