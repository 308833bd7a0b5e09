//! The budget forecast rule (alerts/src/budget/forecast.rs) computed independently for the tests:
//! from what each seeded row is (support/budget_seed.rs), not from the code's classification.
use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use crate::budget_seed::{dec, Alloc, Bill, What, World};

fn month_bounds(as_of: NaiveDate) -> (NaiveDate, NaiveDate, NaiveDate) {
    let month = as_of.with_day(1).unwrap();
    let previous = (month - Duration::days(1)).with_day(1).unwrap();
    (previous, month, month + chrono::Months::new(1))
}

fn pick(metric: &str, billed: Decimal, effective: Decimal) -> Decimal {
    if metric == "billed" {
        billed
    } else {
        effective
    }
}

const MONTHLY: [What; 5] = [
    What::Commitment,
    What::Support,
    What::License,
    What::Tax,
    What::Subscription,
];

/// The documented rule on allocations, by what each seeded row is: actual = the month up to
/// as_of; usage (and the every-day reservation fee) extrapolated at the mean of the last 7 days;
/// tax (a pool's split, not final after as_of) at the scope's mean daily share of those 7 days for
/// each remaining day; the subscription's own shares of the remaining days; last month's monthly
/// charges not seen this month, once.
pub fn expected_allocated(
    w: &World,
    scope: impl Fn(&Alloc) -> bool,
    currency: &str,
    metric: &str,
    as_of: NaiveDate,
) -> (Decimal, Decimal) {
    let (previous, month, end) = month_bounds(as_of);
    let rows: Vec<&Alloc> = w
        .allocations
        .iter()
        .filter(|a| a.currency == currency && scope(a))
        .collect();
    let amount = |a: &&Alloc| pick(metric, a.billed, a.effective);
    let window = |a: &&&Alloc| a.day > as_of - Duration::days(7) && a.day <= as_of;
    let remaining = Decimal::from((end - as_of).num_days() - 1);
    let actual: Decimal = rows
        .iter()
        .filter(|a| a.day >= month && a.day <= as_of)
        .map(amount)
        .sum();
    let usage: Decimal = rows
        .iter()
        .filter(window)
        .filter(|a| matches!(a.what, What::Usage | What::ReservationFee))
        .map(amount)
        .sum();
    let tax: Decimal = rows
        .iter()
        .filter(window)
        .filter(|a| a.what == What::Tax)
        .map(amount)
        .sum();
    let subscription_ahead: Decimal = rows
        .iter()
        .filter(|a| a.what == What::Subscription && a.day > as_of && a.day < end)
        .map(amount)
        .sum();
    let mut expected = Decimal::ZERO;
    for what in MONTHLY {
        let seen = rows
            .iter()
            .any(|a| a.what == what && a.day >= month && a.day < end);
        if !seen {
            expected += rows
                .iter()
                .filter(|a| a.what == what && a.day >= previous && a.day < month)
                .map(amount)
                .sum::<Decimal>();
        }
    }
    let forecast = actual
        + usage * remaining / dec("7")
        + tax * remaining / dec("7")
        + subscription_ahead
        + expected;
    (actual, forecast)
}

/// The documented rule on billing rows of one tag value: charges count whole on their first day,
/// multi-day ones as monthly charges.
pub fn expected_tagged(
    w: &World,
    team: &str,
    currency: &str,
    metric: &str,
    as_of: NaiveDate,
) -> (Decimal, Decimal) {
    let (previous, month, end) = month_bounds(as_of);
    let rows: Vec<&Bill> = w
        .bills
        .iter()
        .filter(|b| b.team == team && b.currency == currency)
        .collect();
    let amount = |b: &&Bill| pick(metric, b.billed, b.effective);
    let remaining = Decimal::from((end - as_of).num_days() - 1);
    let actual: Decimal = rows
        .iter()
        .filter(|b| b.day >= month && b.day <= as_of)
        .map(amount)
        .sum();
    let usage: Decimal = rows
        .iter()
        .filter(|b| {
            b.day > as_of - Duration::days(7)
                && b.day <= as_of
                && matches!(b.what, What::Usage | What::ReservationFee)
        })
        .map(amount)
        .sum();
    let mut expected = Decimal::ZERO;
    for what in MONTHLY {
        if !rows
            .iter()
            .any(|b| b.what == what && b.day >= month && b.day < end)
        {
            expected += rows
                .iter()
                .filter(|b| b.what == what && b.day >= previous && b.day < month)
                .map(amount)
                .sum::<Decimal>();
        }
    }
    (actual, actual + usage * remaining / dec("7") + expected)
}
