//! Detection quality on seeded synthetic spend with known anomalies (the same data as
//! bench/anomaly, which prints the figures): anomalies above the thresholds are found, and false
//! alerts stay under one per 90 days per 100 series.
#[path = "support/synthetic.rs"]
mod synthetic;

use alerts::config::SpikeConfig;
use alerts::detect::baseline::{evaluate, runs};
use alerts::detect::spike::thresholds;
use chrono::Duration;
use rust_decimal::prelude::ToPrimitive;
use synthetic::{generate, score, Quality, Sizing};

fn round(seed: u64) -> Quality {
    let cfg = SpikeConfig::default();
    let sizing = Sizing {
        min_impact: cfg.min_impact.to_f64().unwrap(),
        min_percent: cfg.min_percent.to_f64().unwrap(),
        min_deviations: cfg.min_deviations.to_f64().unwrap(),
    };
    let t = thresholds(&cfg);
    let warmup = cfg.baseline_days as i64;
    let data = generate(seed, 100, 180, warmup, &sizing);
    let from = data.start + Duration::days(warmup);
    let to = data.start + Duration::days(data.days - 1);
    let mut found = Vec::new();
    for (i, series) in data.series.iter().enumerate() {
        for run in runs(&evaluate(series, from, to, &t)) {
            found.push((i, run.first_day, run.last_day));
        }
    }
    score(&data, &found, data.days - warmup)
}

#[test]
fn anomalies_above_the_thresholds_are_found_with_few_false_alerts() {
    let rounds: Vec<Quality> = (1..=3).map(round).collect();
    let above: usize = rounds.iter().map(|q| q.above).sum();
    let found: usize = rounds.iter().map(|q| q.found_above).sum();
    assert!(above > 300, "too few anomalies injected: {rounds:?}");
    // 1.5× the thresholds is close to them on noisy series: at most 1 % may be missed.
    assert!(
        found * 100 >= above * 99,
        "found {found} of {above}: {rounds:?}"
    );
    // Far below the thresholds (0.4× and 0.7×) is mostly quiet.
    let below: usize = rounds.iter().map(|q| q.below).sum();
    let found_below: usize = rounds.iter().map(|q| q.found_below).sum();
    assert!(
        found_below * 5 < below,
        "{found_below} of {below} below the thresholds alerted"
    );
    // The target: at most one false alert per 90 days per 100 series (median of the rounds).
    let mut rates: Vec<f64> = rounds.iter().map(|q| q.false_rate()).collect();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(
        rates[1] <= 1.0,
        "false alerts per 90 days per 100 series: {rates:?}"
    );
}
