//! bench/anomaly: detection quality on seeded synthetic spend (180 days, weekly seasonality, trend,
//! steps, known anomalies of several sizes), one round per seed, printed with the medians and the
//! targets beside them. Usage: anomaly_bench [ROUNDS] [SERIES]
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use alerts::config::SpikeConfig;
use alerts::detect::baseline::{evaluate, runs};
use alerts::detect::spike::thresholds;
use chrono::Duration;
use rust_decimal::prelude::ToPrimitive;
use synthetic::{generate, score, Sizing};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let cfg = SpikeConfig::default();
    let t = thresholds(&cfg);
    let sizing = Sizing {
        min_impact: cfg.min_impact.to_f64().unwrap(),
        min_percent: cfg.min_percent.to_f64().unwrap(),
        min_deviations: cfg.min_deviations.to_f64().unwrap(),
    };
    let warmup = cfg.baseline_days as i64;
    println!(
        "{n} series × 180 days, thresholds: impact ≥ {}, ≥ {}%, ≥ {} deviations; baseline {} days",
        cfg.min_impact, cfg.min_percent, cfg.min_deviations, cfg.baseline_days
    );
    println!(
        "{:>5} {:>9} {:>9} {:>13} {:>10} {:>11} {:>9} {:>12} {:>9}",
        "seed",
        "injected",
        "recall",
        "recall ≥2.5×",
        "precision",
        "false/90d",
        "below",
        "below found",
        "ms"
    );
    let (mut recall, mut precision, mut false_rate, mut ms) = (vec![], vec![], vec![], vec![]);
    for seed in 1..=rounds {
        let data = generate(seed, n, 180, warmup, &sizing);
        let from = data.start + Duration::days(warmup);
        let to = data.start + Duration::days(data.days - 1);
        let started = Instant::now();
        let mut found = Vec::new();
        for (i, series) in data.series.iter().enumerate() {
            for run in runs(&evaluate(series, from, to, &t)) {
                found.push((i, run.first_day, run.last_day));
            }
        }
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let q = score(&data, &found, data.days - warmup);
        println!(
            "{seed:>5} {:>9} {:>8.1}% {:>12.1}% {:>9.1}% {:>11.2} {:>9} {:>12} {:>9.0}",
            q.above,
            q.recall() * 100.0,
            q.found_large as f64 * 100.0 / q.large.max(1) as f64,
            q.precision() * 100.0,
            q.false_rate(),
            q.below,
            q.found_below,
            elapsed
        );
        recall.push(q.recall() * 100.0);
        precision.push(q.precision() * 100.0);
        false_rate.push(q.false_rate());
        ms.push(elapsed);
    }
    println!(
        "median: recall {:.1}% (target 100% of anomalies above the thresholds), precision {:.1}%, \
         {:.2} false alerts per 90 days per 100 series (target ≤ 1), {:.0} ms per round",
        median(recall),
        median(precision),
        median(false_rate),
        median(ms)
    );
}
