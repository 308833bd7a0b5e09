//! Spike and month-over-month alerts on a real ClickHouse: seeded allocated spend of six services
//! of three teams over four and a half months, with a known spike (one GPU instance of `search`)
//! and a known level change (`warehouse` doubles from October 1st).
use std::fmt::Write;

use alerts::{AlertKind, AlertState, AlertsConfig};
use chrono::{Datelike, Duration, NaiveDate};
use queries::Store;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

const SERVICES: &[(&str, &str, &[&str])] = &[
    (
        "payments-api",
        "payments",
        &["i-pay-1", "i-pay-2", "rds-pay"],
    ),
    ("checkout", "payments", &["i-co-1", "i-co-2"]),
    (
        "search",
        "discovery",
        &["i-search-1", "i-search-2", "i-search-gpu-7"],
    ),
    ("recs", "discovery", &["i-recs-1", "s3-recs"]),
    ("etl", "data", &["emr-etl", "s3-etl"]),
    ("warehouse", "data", &["redshift-1", "s3-wh"]),
];

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The seeded spend of one resource on one day.
fn amount(rng: &mut ChaCha8Rng, base: f64, d: NaiveDate) -> Decimal {
    let rhythm = match d.weekday().num_days_from_monday() {
        5 | 6 => 0.6,
        _ => 1.0,
    };
    let noisy = base * rhythm * (1.0 + rng.gen_range(-0.04..0.04));
    Decimal::new((noisy * 100.0).round() as i64, 2)
}

/// Insert allocations for `from..=to`; `extra(service, resource, day)` adds to a resource's day.
async fn seed(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    extra: &dyn Fn(&str, &str, NaiveDate) -> i64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut values = String::new();
    let mut d = from;
    while d <= to {
        for (si, (service, team, resources)) in SERVICES.iter().enumerate() {
            for (ri, resource) in resources.iter().enumerate() {
                // The GPU instance of search is idle-cheap until the spike.
                let base = if *resource == "i-search-gpu-7" {
                    40.0
                } else {
                    300.0 + 170.0 * (si * 3 + ri) as f64
                };
                let a = amount(&mut rng, base, d) + Decimal::from(extra(service, resource, d));
                let env = if ri == 0 { "staging" } else { "prod" };
                write!(
                    values,
                    "('{d}', '{service}', '{team}', '{env}', 'rule', '', 'rule', 'AWS / Amazon EC2', '{resource}', 1, {a}, {a}, 'USD', 1, 'seed', now()),"
                )
                .unwrap();
            }
        }
        d += Duration::days(1);
    }
    let sql = format!(
        "INSERT INTO allocations (day, service, team, env, kind, pool, method, cost_source, input_ref, share, billed, effective, currency, input_rows, run_id, computed_at) VALUES {}",
        values.trim_end_matches(',')
    );
    store.client().query(&sql).execute().await.unwrap();
}

fn spike(service: &str, resource: &str, d: NaiveDate, days: &[NaiveDate]) -> i64 {
    if service == "search" && resource == "i-search-gpu-7" && days.contains(&d) {
        3000
    } else if service == "warehouse" && d >= day("2026-10-01") {
        // Doubles: resource bases are 2,000 and 2,170 a weekday.
        if resource == "redshift-1" {
            2000
        } else {
            2170
        }
    } else {
        0
    }
}

#[tokio::test]
async fn a_spike_is_one_alert_with_its_cause_updated_while_it_lasts_then_resolved() {
    let store = queries::testing::test_store("alerts_detect").await;
    // The seeded days are complete: none needs to settle.
    let mut cfg = AlertsConfig::default();
    cfg.spike.settle_days = 0;
    let spike_days = [day("2026-10-13"), day("2026-10-14")];
    seed(&store, day("2026-06-01"), day("2026-10-14"), &|s, r, d| {
        spike(s, r, d, &spike_days)
    })
    .await;

    let report = alerts::run::check(&store, &cfg, &[], day("2026-10-15"))
        .await
        .unwrap();
    assert_eq!(report.owners_as_of, Some(day("2026-10-14")));
    let search: Vec<_> = report
        .open
        .iter()
        .filter(|a| a.kind == AlertKind::Spike && a.key == "search")
        .collect();
    assert_eq!(search.len(), 1, "{:#?}", report.open);
    let a = search[0];
    assert_eq!(
        (a.first_day, a.last_day, a.revision),
        (spike_days[0], spike_days[1], 2)
    );
    assert_eq!(a.dimension, "service");
    // Two days of +3,000 (the weekday noise of search is ±4 % of about 2,000 a day).
    assert!(
        a.impact > Decimal::from(5600) && a.impact < Decimal::from(6400),
        "{a:?}"
    );
    assert_eq!(
        (a.causes[0].dimension.as_str(), a.causes[0].value.as_str()),
        ("resource", "i-search-gpu-7"),
        "{:?}",
        a.causes
    );
    assert!(a.causes[0].amount > Decimal::from(5800), "{:?}", a.causes);
    // The owning team sees it too; no other service or team alerts on spikes, but warehouse,
    // whose doubling is also a (long) spike.
    let teams: Vec<_> = report
        .open
        .iter()
        .filter(|a| a.kind == AlertKind::Spike && a.dimension == "team")
        .map(|a| a.key.as_str())
        .collect();
    assert!(teams.contains(&"discovery"), "{teams:?}");
    for a in report
        .open
        .iter()
        .filter(|a| a.kind == AlertKind::Spike && a.dimension == "service")
    {
        assert!(
            ["search", "warehouse"].contains(&a.key.as_str()),
            "unexpected alert {a:?}"
        );
    }
    // Month over month: warehouse heads for about twice September.
    let mom: Vec<_> = report
        .open
        .iter()
        .filter(|a| a.kind == AlertKind::MonthOverMonth)
        .collect();
    let wh = mom
        .iter()
        .find(|a| a.key == "warehouse")
        .unwrap_or_else(|| panic!("{mom:#?}"));
    assert!(
        wh.actual > wh.expected * Decimal::from(18) / Decimal::from(10),
        "{wh:?}"
    );
    assert!(
        !mom.iter()
            .any(|a| a.key == "payments-api" || a.key == "checkout"),
        "{mom:#?}"
    );

    // The same data again: nothing changes, no duplicate.
    let again = alerts::run::check(&store, &cfg, &[], day("2026-10-15"))
        .await
        .unwrap();
    assert!(
        again.written.iter().all(|a| a.kind != AlertKind::Spike),
        "{:#?}",
        again.written
    );
    assert_eq!(again.open.len(), report.open.len());

    // One more day of it: the same alert, longer.
    let more = [spike_days[0], spike_days[1], day("2026-10-15")];
    seed(&store, day("2026-10-15"), day("2026-10-15"), &|s, r, d| {
        spike(s, r, d, &more)
    })
    .await;
    let longer = alerts::run::check(&store, &cfg, &[], day("2026-10-16"))
        .await
        .unwrap();
    let b = longer.open.iter().find(|x| x.id == a.id).expect("same id");
    assert_eq!(
        (b.first_day, b.last_day),
        (spike_days[0], day("2026-10-15"))
    );
    assert!(b.impact > a.impact + Decimal::from(2800));

    // Acknowledged, then over: resolved, and who acknowledged it is kept.
    alerts::store::acknowledge(&store, &a.id, "alice")
        .await
        .unwrap();
    seed(&store, day("2026-10-16"), day("2026-10-16"), &|s, r, d| {
        spike(s, r, d, &more)
    })
    .await;
    alerts::run::check(&store, &cfg, &[], day("2026-10-17"))
        .await
        .unwrap();
    let done = alerts::store::get(&store, &a.id).await.unwrap();
    assert_eq!(done.state, AlertState::Resolved);
    assert_eq!(done.acked_by, "alice");
    let all: Vec<_> = alerts::store::list(&store, &[])
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.key == "search" && x.dimension == "service" && x.kind == AlertKind::Spike)
        .collect();
    assert_eq!(all.len(), 1, "{all:#?}");

    // A series no longer watched: its open spike alerts resolve.
    let mut no_teams = cfg.clone();
    no_teams.spike.dimensions = vec!["service".into()];
    let before = alerts::store::list(&store, &[AlertState::Open])
        .await
        .unwrap();
    assert!(
        before
            .iter()
            .any(|a| a.kind == AlertKind::Spike && a.dimension == "team"),
        "{before:#?}"
    );
    alerts::run::check(&store, &no_teams, &[], day("2026-10-17"))
        .await
        .unwrap();
    let after = alerts::store::list(&store, &[AlertState::Open])
        .await
        .unwrap();
    assert!(
        !after
            .iter()
            .any(|a| a.kind == AlertKind::Spike && a.dimension == "team"),
        "{after:#?}"
    );
}
