//! Charges spanning several days — a monthly tax, support fee, credit or commitment fee whose
//! ChargePeriodStart..ChargePeriodEnd covers a month — are spread over the days of their charge
//! period, pro rata by the seconds of the period that fall on each (UTC) day, instead of being
//! booked on their first day.
//!
//! The split is exact, in integer units of 10^-18 ([`split_exact`]): each day gets
//! `amount × day seconds / period seconds`, truncated toward zero, and the rounding residue goes
//! to the day with the most seconds of the period, the earliest one on ties (for a period of whole
//! days: its first day). The parts add up to the charge exactly.
//!
//! A day's share does not depend on the allocation window: the split is always computed over the
//! whole charge period, and a window (or a chunk of it) only keeps its own days. Rows with the
//! same billing dimensions, currency and charge period are spread together (their sum is split).
//!
//! A charge is single-day when its period ends by the midnight after it starts
//! (`ChargePeriodEnd <= next midnight`); such rows are summed per day by ClickHouse
//! (sql/allocation_inputs.sql), the others come here (sql/allocation_spread_inputs.sql).
use std::ops::Range;

use clickhouse::Row;
use queries::Dec18;
use serde::{Deserialize, Serialize};

use crate::engine::CostGroup;
use crate::split::{residue_owner, split_exact};

const DAY: i64 = 86_400;

/// Multi-day cost rows sharing their billing dimensions and charge period
/// (sql/allocation_spread_inputs.sql).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct SpanningCost {
    /// ChargePeriodStart and ChargePeriodEnd, Unix seconds.
    pub charge_start: u32,
    pub charge_end: u32,
    pub provider: String,
    pub service_name: String,
    pub service_category: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    pub resource_id: String,
    pub charge_category: String,
    pub currency: String,
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub billed: Dec18,
    pub effective: Dec18,
    pub rows: u64,
}

/// The days `[start, end)` touches and how many of its seconds fall on each, in order.
pub fn day_seconds(start: i64, end: i64) -> Vec<(u16, i128)> {
    if end <= start {
        return vec![(day_of(start), 1)];
    }
    let (first, last) = (start.div_euclid(DAY), (end - 1).div_euclid(DAY));
    (first..=last)
        .map(|d| {
            let seconds = end.min((d + 1) * DAY) - start.max(d * DAY);
            (clamp_day(d), i128::from(seconds))
        })
        .collect()
}

fn day_of(ts: i64) -> u16 {
    clamp_day(ts.div_euclid(DAY))
}

fn clamp_day(day: i64) -> u16 {
    day.clamp(0, i64::from(u16::MAX)) as u16
}

fn period_text(start: i64, end: i64) -> String {
    let text = |ts: i64| {
        let t = chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default();
        if ts % DAY == 0 {
            t.format("%Y-%m-%d").to_string()
        } else {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        }
    };
    format!("{}/{}", text(start), text(end))
}

impl SpanningCost {
    /// The days of the charge period that fall in `keep`, each with its exact share. The row
    /// count goes to the residue day, so the shares' counts add up to the rows once.
    pub fn spread(&self, keep: Range<u16>) -> Vec<CostGroup> {
        let (start, end) = (i64::from(self.charge_start), i64::from(self.charge_end));
        let days = day_seconds(start, end);
        let weights: Vec<i128> = days.iter().map(|(_, s)| *s).collect();
        let billed = split_exact(self.billed.0, &weights);
        let effective = split_exact(self.effective.0, &weights);
        let owner = residue_owner(&weights);
        let period = period_text(start, end);
        days.iter()
            .enumerate()
            .filter(|(_, (day, _))| keep.contains(day))
            .map(|(i, (day, _))| CostGroup {
                day: *day,
                provider: self.provider.clone(),
                service_name: self.service_name.clone(),
                service_category: self.service_category.clone(),
                sub_account_id: self.sub_account_id.clone(),
                sub_account_name: self.sub_account_name.clone(),
                resource_id: self.resource_id.clone(),
                charge_category: self.charge_category.clone(),
                currency: self.currency.clone(),
                tag_keys: self.tag_keys.clone(),
                tag_values: self.tag_values.clone(),
                billed: Dec18(billed[i]),
                effective: Dec18(effective[i]),
                rows: if i == owner { self.rows } else { 0 },
                k8s_namespace: String::new(),
                charge_period: period.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: i128 = 1_000_000_000_000_000_000;
    /// 2026-09-01 00:00:00 UTC.
    const SEP_1: u32 = 1_788_220_800;

    fn monthly(amount: i128) -> SpanningCost {
        SpanningCost {
            charge_start: SEP_1,
            charge_end: SEP_1 + 30 * 86_400,
            currency: "USD".into(),
            charge_category: "Tax".into(),
            billed: Dec18(amount),
            effective: Dec18(amount),
            rows: 1,
            ..SpanningCost::default()
        }
    }

    #[test]
    fn a_month_spreads_evenly_with_the_residue_on_its_first_day() {
        let tax = monthly(100 * ONE);
        let days = tax.spread(0..u16::MAX);
        assert_eq!(days.len(), 30);
        assert_eq!(days[0].day, (SEP_1 / 86_400) as u16);
        // 100 / 30 = 3.333333333333333333 and 10 units of 10^-18 left over: on the first day.
        assert_eq!(days[0].effective.to_string(), "3.333333333333333343");
        assert!(days[1..]
            .iter()
            .all(|d| d.effective.to_string() == "3.333333333333333333"));
        assert_eq!(days.iter().map(|d| d.billed.0).sum::<i128>(), 100 * ONE);
        assert_eq!(days.iter().map(|d| d.rows).sum::<u64>(), 1);
        assert!(days
            .iter()
            .all(|d| d.charge_period == "2026-09-01/2026-10-01"));
        // A credit (negative) is truncated toward zero the same way.
        let credit = monthly(-100 * ONE).spread(0..u16::MAX);
        assert_eq!(credit[0].effective.to_string(), "-3.333333333333333343");
    }

    #[test]
    fn a_days_share_does_not_depend_on_the_window() {
        let tax = monthly(12_345_678_901_234_567_890_123);
        let whole = tax.spread(0..u16::MAX);
        let first = (SEP_1 / 86_400) as u16;
        for (from, to) in [
            (first + 3, first + 10),
            (first, first + 1),
            (first + 29, first + 40),
        ] {
            let part = tax.spread(from..to);
            let expected: Vec<_> = whole
                .iter()
                .filter(|d| (from..to).contains(&d.day))
                .cloned()
                .collect();
            assert_eq!(part, expected);
        }
    }

    #[test]
    fn partial_days_get_their_seconds() {
        // 18:00 on one day to 06:00 two days later: 6 h, 24 h, 6 h.
        let start = i64::from(SEP_1) + 18 * 3600;
        let days = day_seconds(start, start + 36 * 3600);
        assert_eq!(
            days.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
            [6 * 3600, 24 * 3600, 6 * 3600]
        );
        let mut support = monthly(36 * ONE);
        support.charge_start = start as u32;
        support.charge_end = (start + 36 * 3600) as u32;
        let parts: Vec<String> = support
            .spread(0..u16::MAX)
            .iter()
            .map(|d| d.effective.to_string())
            .collect();
        assert_eq!(parts, ["6", "24", "6"]);
    }
}
