//! The month-end forecast of one budget from its daily amounts, each tagged with its charge class
//! (see the [module documentation](super) for how the class is found). Pure: no I/O.
//!
//! For month M as of day D (the last day with usage):
//!
//! - **actual** = everything of M up to and including D: usage and known charges alike (what
//!   `costmill costs` reports for those days).
//! - **usage ahead** = the usage run rate × the days of M after D. The run rate is the **mean**
//!   daily usage of the last up to 7 days ending on D (fewer when the data starts later; a day
//!   without spend counts as zero). Seven days hold each weekday once, so a weekly rhythm (quiet
//!   weekends) averages out whatever weekday D is; a median of those days would be robust to a
//!   one-day spike but biased by that rhythm (with five busy weekdays it picks a weekday level and
//!   overshoots every month). A spike weighs 1/7 in the mean, and it is real spend; the spike
//!   detector reports it separately. Computed as `usage × remaining days / run-rate days` (one
//!   division).
//! - **spread ahead** = for each remaining day of M and each billing source whose multi-day
//!   charges cover that day (it has allocations that day, whoever owns them): the budget's own
//!   share from a rule when it has one, else its mean daily share of that source over the run-rate
//!   days. A pool's split of a day without usage is not final (a usage-weighted pool keeps the
//!   amount with its source, or gives it all to whoever has direct cost that day), so pooled
//!   amounts after D never count as they are.
//! - **known ahead** = monthly and one-time charges dated after D within M (counted once).
//! - **expected monthly** = each monthly or spread charge that last month had and this month has
//!   not seen yet (support billed at month end, a commitment fee that is late), at last month's
//!   amount, counted once. One-time charges are never expected again. A spread charge whose
//!   source already covers one of the remaining days is counted under spread ahead instead.
//!
//! forecast = actual + usage ahead + spread ahead + known ahead + expected monthly.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

/// How a charge behaves over a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChargeClass {
    /// Daily usage: extrapolated at the run rate.
    Usage,
    /// A charge that lands once a month (a commitment fee, support): counted once.
    Monthly,
    /// A one-time purchase: counted once, never expected again.
    OneTime,
    /// A day's share of a charge spanning several days (allocations only).
    Spread,
}

impl ChargeClass {
    /// The class codes of the budget_*.sql files.
    pub fn from_code(code: u8) -> ChargeClass {
        match code {
            1 => ChargeClass::Monthly,
            2 => ChargeClass::OneTime,
            3 => ChargeClass::Spread,
            _ => ChargeClass::Usage,
        }
    }
}

/// One day's amount of a budget's scope for one service, billing source and charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayAmount {
    pub day: NaiveDate,
    /// The allocated service (team and service budgets) or the cloud service (tag budgets).
    pub service: String,
    /// `Provider / ServiceName`.
    pub cost_source: String,
    pub class: ChargeClass,
    /// Names a monthly or spread charge across months (empty otherwise).
    pub charge: String,
    /// A pool's split (allocations): not final on a day without usage yet.
    pub pooled: bool,
    pub amount: Decimal,
}

/// How a forecast was made, for `costmill budgets` and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForecastParts {
    /// Mean daily usage over the run-rate days.
    #[serde(with = "rust_decimal::serde::str")]
    pub run_rate: Decimal,
    /// How many days the run rate is the mean of (up to 7, ending on `as_of`).
    pub run_rate_days: u32,
    /// Days of the month after `as_of`.
    pub remaining_days: u32,
    /// Usage over the remaining days.
    #[serde(with = "rust_decimal::serde::str")]
    pub usage_ahead: Decimal,
    /// Shares of multi-day charges over the remaining days.
    #[serde(with = "rust_decimal::serde::str")]
    pub spread_ahead: Decimal,
    /// Monthly and one-time charges dated after `as_of` in the month.
    #[serde(with = "rust_decimal::serde::str")]
    pub known_ahead: Decimal,
    /// Last month's monthly charges this month has not seen yet.
    #[serde(with = "rust_decimal::serde::str")]
    pub expected_monthly: Decimal,
}

/// Month-to-date spend and the month-end forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    pub actual: Decimal,
    pub forecast: Decimal,
    pub parts: ForecastParts,
}

/// Days of the run-rate window, at most.
pub const RUN_RATE_DAYS: i64 = 7;

/// The first day of `day`'s month.
pub fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("day 1 exists")
}

/// The first day of the month after `month`'s.
pub fn next_month(month: NaiveDate) -> NaiveDate {
    let m = month_start(month);
    if m.month() == 12 {
        NaiveDate::from_ymd_opt(m.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(m.year(), m.month() + 1, 1)
    }
    .expect("valid month")
}

/// The first day of the month before `month`'s.
pub fn previous_month(month: NaiveDate) -> NaiveDate {
    month_start(month_start(month) - Duration::days(1))
}

/// The forecast of `month` (its first day) as of `as_of`, from the scope's rows of the previous
/// and this month. `first_data_day` is the first day with usage data at all (the run rate does not
/// count days before it as zero); `future_sources` holds `(day, cost_source)` of every allocation
/// after `as_of` in the month, whoever owns it.
pub fn forecast(
    rows: &[DayAmount],
    month: NaiveDate,
    as_of: NaiveDate,
    first_data_day: Option<NaiveDate>,
    future_sources: &BTreeSet<(NaiveDate, String)>,
) -> Forecast {
    let month = month_start(month);
    let end = next_month(month);
    let previous = previous_month(month);
    let in_month = |d: NaiveDate| d >= month && d < end;

    let actual: Decimal = rows
        .iter()
        .filter(|r| in_month(r.day) && r.day <= as_of)
        .map(|r| r.amount)
        .sum();

    // The run-rate window: the last up to 7 days ending on as_of, not before the data starts.
    let window_start = match first_data_day {
        Some(first) => (as_of - Duration::days(RUN_RATE_DAYS - 1)).max(first),
        None => as_of + Duration::days(1),
    };
    let window_days = ((as_of - window_start).num_days() + 1).max(0);
    let in_window = |d: NaiveDate| d >= window_start && d <= as_of;
    let remaining_from = (as_of + Duration::days(1)).max(month);
    let remaining_days = (end - remaining_from).num_days().max(0);

    let usage_in_window: Decimal = rows
        .iter()
        .filter(|r| r.class == ChargeClass::Usage && in_window(r.day))
        .map(|r| r.amount)
        .sum();
    let (run_rate, usage_ahead) = if window_days > 0 {
        let n = Decimal::from(window_days);
        (
            usage_in_window / n,
            usage_in_window * Decimal::from(remaining_days) / n,
        )
    } else {
        (Decimal::ZERO, Decimal::ZERO)
    };

    // Spread charges over the remaining days: the scope's own share where it has one, else its
    // mean share of the source over the run-rate window, on the days the source covers.
    let mut own: BTreeMap<(NaiveDate, &str), Decimal> = BTreeMap::new();
    let mut window_share: BTreeMap<&str, Decimal> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.class == ChargeClass::Spread) {
        if r.day > as_of && in_month(r.day) && !r.pooled {
            *own.entry((r.day, r.cost_source.as_str())).or_default() += r.amount;
        }
        if in_window(r.day) {
            *window_share.entry(r.cost_source.as_str()).or_default() += r.amount;
        }
    }
    let mut spread_ahead: Decimal = own.values().copied().sum();
    // Per source, the remaining days it covers without a share of the scope's own.
    let mut missing_days: BTreeMap<&str, i64> = BTreeMap::new();
    for (day, source) in future_sources {
        if *day > as_of && in_month(*day) && !own.contains_key(&(*day, source.as_str())) {
            *missing_days.entry(source.as_str()).or_default() += 1;
        }
    }
    if window_days > 0 {
        for (source, days) in &missing_days {
            if let Some(share) = window_share.get(source) {
                spread_ahead += *share * Decimal::from(*days) / Decimal::from(window_days);
            }
        }
    }

    let known_ahead: Decimal = rows
        .iter()
        .filter(|r| {
            matches!(r.class, ChargeClass::Monthly | ChargeClass::OneTime)
                && r.day > as_of
                && in_month(r.day)
        })
        .map(|r| r.amount)
        .sum();

    // Last month's monthly charges this month has not seen.
    let seen: BTreeSet<&str> = rows
        .iter()
        .filter(|r| in_month(r.day) && !r.charge.is_empty())
        .map(|r| r.charge.as_str())
        .collect();
    let covered: BTreeSet<&str> = future_sources
        .iter()
        .filter(|(day, _)| *day > as_of && in_month(*day))
        .map(|(_, source)| source.as_str())
        .collect();
    let expected_monthly: Decimal = rows
        .iter()
        .filter(|r| {
            r.day >= previous
                && r.day < month
                && matches!(r.class, ChargeClass::Monthly | ChargeClass::Spread)
                && !r.charge.is_empty()
                && !seen.contains(r.charge.as_str())
                && !(r.class == ChargeClass::Spread && covered.contains(r.cost_source.as_str()))
        })
        .map(|r| r.amount)
        .sum();

    let forecast = actual + usage_ahead + spread_ahead + known_ahead + expected_monthly;
    Forecast {
        actual,
        forecast,
        parts: ForecastParts {
            run_rate,
            run_rate_days: window_days as u32,
            remaining_days: remaining_days as u32,
            usage_ahead,
            spread_ahead,
            known_ahead,
            expected_monthly,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn row(day: &str, class: ChargeClass, source: &str, charge: &str, amount: &str) -> DayAmount {
        DayAmount {
            day: d(day),
            service: "api".into(),
            cost_source: source.into(),
            class,
            charge: charge.into(),
            pooled: false,
            amount: dec(amount),
        }
    }

    #[test]
    fn monthly_fees_count_once_and_usage_is_extrapolated() {
        let mut rows = Vec::new();
        for day in 1..=10 {
            rows.push(row(
                &format!("2026-10-{day:02}"),
                ChargeClass::Usage,
                "AWS / EC2",
                "",
                "100",
            ));
        }
        rows.push(row(
            "2026-10-01",
            ChargeClass::Monthly,
            "AWS / SP",
            "fee",
            "3000",
        ));
        rows.push(row(
            "2026-09-30",
            ChargeClass::Monthly,
            "AWS / Support",
            "support",
            "500",
        ));
        rows.push(row(
            "2026-09-01",
            ChargeClass::Monthly,
            "AWS / SP",
            "fee",
            "2900",
        ));
        let f = forecast(
            &rows,
            d("2026-10-01"),
            d("2026-10-10"),
            Some(d("2026-09-01")),
            &BTreeSet::new(),
        );
        assert_eq!(f.actual, dec("4000"));
        assert_eq!(f.parts.run_rate, dec("100"));
        assert_eq!(f.parts.remaining_days, 21);
        // 4000 + 21 × 100 + September's support, which October has not seen yet.
        assert_eq!(f.forecast, dec("6600"));
        assert_eq!(f.parts.expected_monthly, dec("500"));
    }

    #[test]
    fn the_run_rate_does_not_count_days_before_the_data() {
        let rows = vec![
            row("2026-10-01", ChargeClass::Usage, "AWS / EC2", "", "70"),
            row("2026-10-02", ChargeClass::Usage, "AWS / EC2", "", "140"),
        ];
        let f = forecast(
            &rows,
            d("2026-10-01"),
            d("2026-10-02"),
            Some(d("2026-10-01")),
            &BTreeSet::new(),
        );
        assert_eq!(f.parts.run_rate_days, 2);
        assert_eq!(f.parts.run_rate, dec("105"));
        assert_eq!(f.forecast, dec("210") + dec("105") * Decimal::from(29));
    }

    #[test]
    fn spread_shares_are_taken_as_allocated_or_estimated_on_covered_days() {
        let mut rows = Vec::new();
        for day in 1..=5 {
            rows.push(row(
                &format!("2026-11-{day:02}"),
                ChargeClass::Spread,
                "AWS / Tax",
                "tax",
                "10",
            ));
        }
        // Days 6–30 are covered by the tax; day 6 is the scope's own (a direct rule); day 7 is a
        // pool's split of a day without usage, which does not count as it is.
        rows.push(row(
            "2026-11-06",
            ChargeClass::Spread,
            "AWS / Tax",
            "tax",
            "10",
        ));
        let mut kept = row("2026-11-07", ChargeClass::Spread, "AWS / Tax", "tax", "99");
        kept.pooled = true;
        rows.push(kept);
        let future: BTreeSet<_> = (6..=30)
            .map(|day| (d(&format!("2026-11-{day:02}")), "AWS / Tax".to_string()))
            .collect();
        let f = forecast(
            &rows,
            d("2026-11-01"),
            d("2026-11-05"),
            Some(d("2026-11-01")),
            &future,
        );
        assert_eq!(f.actual, dec("50"));
        assert_eq!(f.parts.spread_ahead, dec("250"));
        assert_eq!(f.forecast, dec("300"));
    }
}
