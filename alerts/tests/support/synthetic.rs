//! Seeded daily cost series shaped like real cloud spend, with known anomalies injected: the data
//! of the detection-quality test and of bench/anomaly.
//!
//! Each series has a level (100 to 20,000 a day, log-uniform), a weekly rhythm (weekends at 35 to
//! 100 % of weekdays, and a busier Monday for batch-heavy series), a trend (−0.15 % to +0.4 % a
//! day, compounding), multiplicative noise (2 to 8 % standard deviation) and, in a quarter of the
//! series, a permanent step of ±10 % somewhere (a deploy, a price change: real life, not news).
//! Anomalies last one to three days and are sized in multiples of the detection thresholds for
//! that day, so recall can be measured above and below them.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

pub struct Injected {
    pub series: usize,
    pub first_day: NaiveDate,
    pub days: i64,
    /// Size in multiples of the largest threshold on those days (below 1: should not alert).
    pub multiple: f64,
    pub up: bool,
}

pub struct Synthetic {
    pub start: NaiveDate,
    pub days: i64,
    pub series: Vec<BTreeMap<NaiveDate, Decimal>>,
    pub injected: Vec<Injected>,
}

/// Thresholds the anomalies are sized against (the defaults of `[alerts.spike]`).
pub struct Sizing {
    pub min_impact: f64,
    pub min_percent: f64,
    pub min_deviations: f64,
}

/// The detector's deviations are of its prediction, whose error it takes as 1.15 times the noise
/// of one day (alerts::detect::baseline): an anomaly "at the thresholds" is sized by that same rule
/// with the series' true noise.
const PREDICTION_FACTOR: f64 = 1.15;

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` series of `days` days from `start`; anomalies only after the first `warmup` days (the
/// baseline needs them) and at most one per series per four weeks.
pub fn generate(seed: u64, n: usize, days: i64, warmup: i64, sizing: &Sizing) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(); // a Monday
    let multiples = [0.4, 0.7, 1.5, 2.5, 5.0];
    let mut series = Vec::with_capacity(n);
    let mut injected = Vec::new();
    for s in 0..n {
        let level = 10f64.powf(rng.gen_range(2.0..4.3));
        let weekend = rng.gen_range(0.35..1.0);
        let monday = if rng.gen_bool(0.3) {
            rng.gen_range(1.1..1.4)
        } else {
            1.0
        };
        let trend: f64 = rng.gen_range(-0.0015..0.004);
        let noise = rng.gen_range(0.02..0.08);
        let step_day = if rng.gen_bool(0.25) {
            Some(rng.gen_range(warmup..days))
        } else {
            None
        };
        let step = if rng.gen_bool(0.5) { 1.1 } else { 0.9 };
        let expected = |i: i64| {
            let weekday = i % 7;
            let rhythm = match weekday {
                0 => monday,
                5 | 6 => weekend,
                _ => 1.0,
            };
            let stepped = match step_day {
                Some(d) if i >= d => step,
                _ => 1.0,
            };
            level * (1.0 + trend).powi(i as i32) * rhythm * stepped
        };
        let mut values: Vec<f64> = (0..days)
            .map(|i| expected(i) * (1.0 + noise * normal(&mut rng)).max(0.0))
            .collect();
        // Anomalies: every ~28 days a chance of one.
        let mut day = warmup + rng.gen_range(0..28);
        while day < days - 3 {
            if rng.gen_bool(0.6) {
                let len = rng.gen_range(1..=3i64);
                let multiple = multiples[rng.gen_range(0..multiples.len())];
                // A drop cannot take more than there is: a drop bigger than 80 % of the day's
                // spend is injected as a rise instead.
                let mut up = rng.gen_bool(0.8);
                for k in 0..len {
                    let e = expected(day + k);
                    // The largest of the three thresholds for that day, in money.
                    let threshold = sizing
                        .min_impact
                        .max(sizing.min_percent / 100.0 * e)
                        .max(sizing.min_deviations * PREDICTION_FACTOR * noise * e);
                    let delta = multiple * threshold;
                    if k == 0 && delta > 0.8 * e {
                        up = true;
                    }
                    let v = &mut values[(day + k) as usize];
                    *v = if up {
                        *v + delta
                    } else {
                        (*v - delta).max(0.0)
                    };
                }
                injected.push(Injected {
                    series: s,
                    first_day: start + Duration::days(day),
                    days: len,
                    multiple,
                    up,
                });
            }
            day += 28 + rng.gen_range(0..14);
        }
        series.push(
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let cents = (v * 100.0).round() as i64;
                    (start + Duration::days(i as i64), Decimal::new(cents, 2))
                })
                .collect(),
        );
    }
    Synthetic {
        start,
        days,
        series,
        injected,
    }
}

/// Detection quality over a synthetic set.
#[derive(Debug, Default, Clone)]
pub struct Quality {
    /// Injected anomalies at or above the thresholds, and how many of them were found.
    pub above: usize,
    pub found_above: usize,
    /// Of those, the ones at 2.5× the thresholds or more, and how many were found.
    pub large: usize,
    pub found_large: usize,
    /// Injected below the thresholds, and how many were found anyway.
    pub below: usize,
    pub found_below: usize,
    /// Alerts (runs) that overlap no injected anomaly.
    pub false_alerts: usize,
    pub alerts: usize,
    /// Series × days evaluated.
    pub series_days: usize,
}

impl Quality {
    pub fn recall(&self) -> f64 {
        self.found_above as f64 / self.above.max(1) as f64
    }
    pub fn precision(&self) -> f64 {
        (self.alerts - self.false_alerts) as f64 / self.alerts.max(1) as f64
    }
    /// False alerts per 90 days per 100 series.
    pub fn false_rate(&self) -> f64 {
        self.false_alerts as f64 * 9000.0 / self.series_days.max(1) as f64
    }
}

/// Score alert runs (`(series, first_day, last_day)`) against what was injected.
pub fn score(
    data: &Synthetic,
    runs: &[(usize, NaiveDate, NaiveDate)],
    evaluated_days: i64,
) -> Quality {
    let mut q = Quality {
        alerts: runs.len(),
        series_days: data.series.len() * evaluated_days as usize,
        ..Quality::default()
    };
    let overlaps = |i: &Injected, r: &(usize, NaiveDate, NaiveDate)| {
        let last = i.first_day + Duration::days(i.days - 1);
        r.0 == i.series && r.1 <= last && r.2 >= i.first_day
    };
    for i in &data.injected {
        let found = runs.iter().any(|r| overlaps(i, r));
        if i.multiple >= 1.0 {
            q.above += 1;
            q.found_above += found as usize;
            if i.multiple >= 2.5 {
                q.large += 1;
                q.found_large += found as usize;
            }
        } else {
            q.below += 1;
            q.found_below += found as usize;
        }
    }
    q.false_alerts = runs
        .iter()
        .filter(|r| !data.injected.iter().any(|i| overlaps(i, r)))
        .count();
    q
}
