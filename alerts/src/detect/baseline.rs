//! The statistics of spike detection, on one daily series, with no I/O.
//!
//! The expected spend of a day is a level times a weekday factor, both from the trailing weeks
//! (eight by default), because cloud spend has a strong weekly rhythm (batch jobs, weekday
//! traffic, weekend scale-down) that a plain trailing mean turns into false alerts every Monday:
//! - the level is a robust line (Siegel's repeated median) through the medians of the trailing
//!   weeks, read at the day: steady growth or decline is not an anomaly, and a one-day spike moves
//!   no week's median;
//! - the weekday factor is the median, over those weeks, of the same weekday's spend divided by its
//!   week's median.
//!
//! The spread is the series' noise relative to its level, read from second differences of
//! same-weekday points pooled over all seven weekdays, times the expected amount, widened for the
//! error of the prediction itself.
//!
//! A day is anomalous when it differs from the expected amount by all three of: an absolute
//! amount, a percentage of the expected amount, and a number of robust deviations. The first two
//! keep alerts to what matters in money; the third keeps noisy series quiet.
//!
//! Everything is exact `Decimal` arithmetic: amounts are money, and the same data always gives the
//! same verdict.
use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;

/// What makes a day anomalous.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Trailing days the same-weekday points come from (a multiple of 7 makes sense).
    pub baseline_days: u32,
    pub min_impact: Decimal,
    pub min_percent: Decimal,
    pub min_deviations: Decimal,
}

/// The verdict on one day of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct DayVerdict {
    pub day: NaiveDate,
    pub actual: Decimal,
    pub expected: Decimal,
    /// Robust standard deviation of the prediction: the series' relative noise × expected ×
    /// the prediction factor.
    pub spread: Decimal,
    pub anomalous: bool,
}

impl DayVerdict {
    pub fn difference(&self) -> Decimal {
        self.actual - self.expected
    }
}

/// Consecutive anomalous days in the same direction: one anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// Sum of actual − expected over the run's days.
    pub impact: Decimal,
    pub last_actual: Decimal,
    pub last_expected: Decimal,
}

fn median(values: &mut [Decimal]) -> Decimal {
    values.sort();
    let n = values.len();
    if n == 0 {
        return Decimal::ZERO;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / Decimal::TWO
    }
}

/// A robust line through points at week offsets −1, −2, … (`points[0]` is one week back):
/// `(value at offset 0, slope per week)`.
fn fit(points: &[Decimal]) -> (Decimal, Decimal) {
    let x = |i: usize| -Decimal::from(i as i64 + 1);
    // Siegel's repeated median: for each point the median of its slopes to the others, then the
    // median of those. Half the points can be outliers before the line moves.
    let mut per_point: Vec<Decimal> = (0..points.len())
        .map(|i| {
            let mut slopes: Vec<Decimal> = (0..points.len())
                .filter(|j| *j != i)
                .map(|j| (points[i] - points[j]) / (x(i) - x(j)))
                .collect();
            median(&mut slopes)
        })
        .collect();
    let slope = median(&mut per_point);
    let mut intercepts: Vec<Decimal> = points
        .iter()
        .enumerate()
        .map(|(i, p)| *p - slope * x(i))
        .collect();
    (median(&mut intercepts), slope)
}

/// How much wider the error of the prediction is than the noise of one day: the weekday factor
/// is a median of `weeks` ratios (standard error ≈ 1.25 σ / √8 ≈ 0.44 σ with the default eight
/// weeks) and the level a line through eight weekly medians (≈ 0.15 σ), so
/// √(1 + 0.44² + 0.15²) ≈ 1.1; 1.15 leaves room for the noise estimate's own error.
const PREDICTION_FACTOR: Decimal = Decimal::from_parts(115, 0, 0, false, 2);

/// The noise of a series relative to its level, pooled over the seven weekdays of the baseline
/// window (42 values by default rather than the 8 points of one weekday, so one quiet weekday does
/// not make the detector jumpy). It is read from second differences of consecutive same-weekday
/// points, `(pᵢ − 2pᵢ₊₁ + pᵢ₊₂) / pᵢ₊₁`, which a linear trend does not move and whose standard
/// deviation is √6 times the noise: 1.4826 × their median absolute value ÷ √6. (Residuals from a
/// fitted line would understate the noise: a robust line passes close to half of its points.)
/// Weeks the noise is read from: longer than the baseline, because a noise estimate from few
/// points is itself noisy, and an underestimate is a false alert.
pub const NOISE_WEEKS: i64 = 16;

fn relative_noise(at: &dyn Fn(NaiveDate) -> Decimal, day: NaiveDate, weeks: i64) -> Decimal {
    let mut relative = Vec::with_capacity(7 * weeks as usize);
    for anchor in 1..=7 {
        let points: Vec<Decimal> = (0..weeks)
            .map(|w| at(day - Duration::days(anchor + 7 * w)))
            .collect();
        for w in points.windows(3) {
            // Days before a series began (zero) say nothing about its noise.
            if w.iter().all(|p| *p > Decimal::ZERO) {
                relative.push((w[0] - w[1] - w[1] + w[2]).abs() / w[1]);
            }
        }
    }
    // 1.4826 / √6
    median(&mut relative) * Decimal::new(60527, 5)
}

/// Expected spend of `day` as a level times a weekday factor. The level: a line through the
/// medians of the `weeks` trailing weeks (each holds one of every weekday, so its median is free of
/// the weekly rhythm and of a one-day spike), read at the day's place. The weekday factor: the
/// median over those weeks of the same weekday's spend divided by its week's median.
fn seasonal_expected(
    at: &dyn Fn(NaiveDate) -> Decimal,
    day: NaiveDate,
    weeks: i64,
) -> Option<Decimal> {
    let mut medians = Vec::with_capacity(weeks as usize);
    let mut ratios = Vec::with_capacity(weeks as usize);
    for w in 1..=weeks {
        let first = day - Duration::days(7 * w);
        let mut week: Vec<Decimal> = (0..7).map(|k| at(first + Duration::days(k))).collect();
        let m = median(&mut week);
        if m > Decimal::ZERO {
            ratios.push(at(first) / m);
        }
        medians.push(m);
    }
    // A series with spend in fewer than half of the weeks is new (or gone): it has no baseline
    // yet, and is not judged day by day (month over month and budgets still see it).
    if (ratios.len() as i64) * 2 < weeks {
        return None;
    }
    // Week w's middle is 7w − 3 days before `day`: in weeks, x = −w + 3/7 relative to `day`.
    let (at_one_week_on, slope) = fit(&medians);
    let level = at_one_week_on - slope * Decimal::new(3, 0) / Decimal::new(7, 0);
    Some((level * median(&mut ratios)).max(Decimal::ZERO))
}

/// The verdict on every day of `from..=to`, from a daily series (missing days are zero spend).
pub fn evaluate(
    series: &BTreeMap<NaiveDate, Decimal>,
    from: NaiveDate,
    to: NaiveDate,
    t: &Thresholds,
) -> Vec<DayVerdict> {
    let weeks = (t.baseline_days / 7).max(1) as i64;
    let at = |d: NaiveDate| series.get(&d).copied().unwrap_or(Decimal::ZERO);
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let Some(expected) = seasonal_expected(&at, day, weeks) else {
            out.push(DayVerdict {
                day,
                actual: at(day),
                expected: Decimal::ZERO,
                spread: Decimal::ZERO,
                anomalous: false,
            });
            day += Duration::days(1);
            continue;
        };
        let spread =
            relative_noise(&at, day, NOISE_WEEKS.max(weeks)) * expected * PREDICTION_FACTOR;
        let actual = at(day);
        let diff = (actual - expected).abs();
        let percent_ok = if expected.is_zero() {
            !diff.is_zero()
        } else {
            diff * Decimal::from(100) >= t.min_percent * expected
        };
        let anomalous = diff >= t.min_impact
            && percent_ok
            && diff >= t.min_deviations * spread
            && !diff.is_zero();
        out.push(DayVerdict {
            day,
            actual,
            expected,
            spread,
            anomalous,
        });
        day += Duration::days(1);
    }
    out
}

/// Group anomalous days into runs: consecutive days, same direction.
pub fn runs(verdicts: &[DayVerdict]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut open = false;
    for v in verdicts {
        if !v.anomalous {
            open = false;
            continue;
        }
        let up = v.difference() > Decimal::ZERO;
        match out.last_mut() {
            Some(run)
                if open
                    && run.last_day + Duration::days(1) == v.day
                    && (run.impact > Decimal::ZERO) == up =>
            {
                run.last_day = v.day;
                run.impact += v.difference();
                run.last_actual = v.actual;
                run.last_expected = v.expected;
            }
            _ => out.push(Run {
                first_day: v.day,
                last_day: v.day,
                impact: v.difference(),
                last_actual: v.actual,
                last_expected: v.expected,
            }),
        }
        open = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_straight_line_is_extrapolated_exactly_even_with_outliers() {
        // 100, 90, 80, … one, two, three weeks back: growing 10 a week.
        let mut points: Vec<Decimal> = (1..=8).map(|w| Decimal::from(110 - 10 * w)).collect();
        assert_eq!(fit(&points), (d("110"), d("10")));
        // Three of eight points far off: the repeated median does not move.
        points[1] = d("900");
        points[4] = d("-300");
        points[6] = d("5000");
        assert_eq!(fit(&points), (d("110"), d("10")));
    }

    #[test]
    fn a_weekly_rhythm_is_expected_and_an_old_spike_changes_nothing() {
        let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let rhythm = [
            d("1000"),
            d("1100"),
            d("1000"),
            d("1000"),
            d("900"),
            d("400"),
            d("300"),
        ];
        let mut series = BTreeMap::new();
        for i in 0..70 {
            series.insert(monday + Duration::days(i), rhythm[(i % 7) as usize]);
        }
        let at = |s: &BTreeMap<NaiveDate, Decimal>, day| s.get(&day).copied().unwrap_or_default();
        let sunday = monday + Duration::days(69);
        let tuesday = monday + Duration::days(64);
        let expect =
            |s: &BTreeMap<NaiveDate, Decimal>, day| seasonal_expected(&|x| at(s, x), day, 8);
        assert_eq!(expect(&series, sunday), Some(d("300")));
        assert_eq!(expect(&series, tuesday), Some(d("1100")));
        series.insert(sunday - Duration::days(21), d("9000"));
        assert_eq!(expect(&series, sunday), Some(d("300")));
    }

    #[test]
    fn weekly_rhythm_is_not_an_anomaly_but_a_jump_is() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(); // a Monday
        let mut series = BTreeMap::new();
        for i in 0..120 {
            let day = start + Duration::days(i);
            // Weekends at 40 % of weekdays, and a little wobble.
            let base = if i % 7 >= 5 { 400 } else { 1000 };
            series.insert(day, Decimal::from(base + (i * 37 % 11) - 5));
        }
        let jump = start + Duration::days(100);
        *series.get_mut(&jump).unwrap() += Decimal::from(800);
        let t = Thresholds {
            baseline_days: 56,
            min_impact: d("100"),
            min_percent: d("25"),
            min_deviations: d("4"),
        };
        let verdicts = evaluate(
            &series,
            start + Duration::days(56),
            start + Duration::days(119),
            &t,
        );
        let flagged: Vec<NaiveDate> = verdicts
            .iter()
            .filter(|v| v.anomalous)
            .map(|v| v.day)
            .collect();
        assert_eq!(flagged, vec![jump]);
        let r = runs(&verdicts);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].impact > d("780") && r[0].impact < d("820"),
            "{:?}",
            r[0]
        );
    }

    #[test]
    fn a_new_series_is_not_judged_until_it_has_half_a_baseline() {
        let t = Thresholds {
            baseline_days: 56,
            min_impact: d("100"),
            min_percent: d("25"),
            min_deviations: d("5"),
        };
        let start = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut series = BTreeMap::new();
        // Spend begins on day 60 and then runs steadily at 1,000 a day.
        for i in 60..120 {
            series.insert(start + Duration::days(i), d("1000"));
        }
        let verdicts = evaluate(
            &series,
            start + Duration::days(56),
            start + Duration::days(119),
            &t,
        );
        let flagged: Vec<i64> = verdicts
            .iter()
            .filter(|v| v.anomalous)
            .map(|v| (v.day - start).num_days())
            .collect();
        assert!(
            flagged.is_empty(),
            "a new service is not a month of spikes: {flagged:?}"
        );
        // Four weeks in, it is judged: a tripled day is a spike.
        series.insert(start + Duration::days(100), d("3000"));
        let verdicts = evaluate(
            &series,
            start + Duration::days(100),
            start + Duration::days(100),
            &t,
        );
        assert!(verdicts[0].anomalous, "{:?}", verdicts[0]);
    }

    #[test]
    fn runs_split_on_gaps_and_direction() {
        let v = |day: u32, actual: i64, expected: i64, anomalous: bool| DayVerdict {
            day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            actual: Decimal::from(actual),
            expected: Decimal::from(expected),
            spread: Decimal::ZERO,
            anomalous,
        };
        let verdicts = vec![
            v(1, 500, 100, true),
            v(2, 600, 100, true),
            v(3, 10, 100, true), // a drop right after: a new run
            v(4, 100, 100, false),
            v(5, 400, 100, true),
        ];
        let r = runs(&verdicts);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].impact, d("900"));
        assert_eq!(r[0].last_day, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        assert_eq!(r[1].impact, d("-90"));
        assert_eq!(r[2].first_day, NaiveDate::from_ymd_opt(2026, 3, 5).unwrap());
    }
}
