//! Seeded allocations shaped like a real company's: five teams, fourteen services, prod and
//! staging, shared pools split four ways (kafka by bytes with a few fallback days, observability
//! evenly, k8s-core weighted, cdc by fixed shares), one team partly billed in EUR, weekday/weekend
//! rhythm, a gentle trend, noise, a spike in the report week, and amounts with 18 decimals — plus
//! open and acknowledged alerts and two computations of recommendations.
#![allow(dead_code)]

use alerts::{Alert, AlertKind, AlertState, Cause};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use queries::{Dec18, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

pub use queries::rows::AllocationRow;

/// What the tests read off a seeded row.
pub trait Seeded {
    fn date(&self) -> NaiveDate;
    fn amount(&self) -> Decimal;
}

impl Seeded for AllocationRow {
    fn date(&self) -> NaiveDate {
        epoch() + Duration::days(self.day as i64)
    }
    fn amount(&self) -> Decimal {
        self.effective.to_decimal().unwrap()
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
}

/// (service, team, currency, level per weekday, has staging)
pub const SERVICES: &[(&str, &str, &str, u32, bool)] = &[
    ("payments-api", "payments", "USD", 1_900, true),
    ("checkout", "payments", "USD", 950, true),
    ("fraud-detector", "payments", "USD", 620, false),
    ("payments-eu", "payments", "EUR", 780, false),
    ("search-api", "search", "USD", 1_400, true),
    ("indexer", "search", "USD", 1_100, false),
    ("ranking", "search", "USD", 450, false),
    ("warehouse", "data", "USD", 2_600, false),
    ("events-pipeline", "data", "USD", 1_300, true),
    ("etl-jobs", "data", "USD", 700, false),
    ("dashboards", "data", "USD", 240, false),
    ("ci-runners", "platform", "USD", 880, false),
    ("dev-portal", "platform", "USD", 120, true),
    ("unallocated", "unallocated", "USD", 210, false),
];

fn team_of(service: &str) -> (&'static str, &'static str) {
    SERVICES
        .iter()
        .find(|s| s.0 == service)
        .map(|s| (s.1, s.2))
        .unwrap()
}

/// An amount with all 18 decimals: `approx` rounded to micro-units, plus random sub-micro digits.
fn units(rng: &mut ChaCha8Rng, approx: f64) -> i128 {
    let micros = (approx * 1e6).round() as i128;
    micros * 1_000_000_000_000 + rng.gen_range(0..1_000_000_000_000i128)
}

fn row(
    day: NaiveDate,
    service: &str,
    env: &str,
    kind: &str,
    pool: &str,
    method: &str,
    amount: i128,
) -> AllocationRow {
    let (team, currency) = team_of(service);
    AllocationRow {
        day: (day - epoch()).num_days() as u16,
        service: service.into(),
        team: team.into(),
        env: env.into(),
        currency: currency.into(),
        kind: kind.into(),
        pool: pool.into(),
        method: method.into(),
        cost_source: "AWS / Amazon Elastic Compute Cloud".into(),
        input_ref: if pool.is_empty() {
            format!("i-{service}")
        } else {
            pool.split(" > ").next().unwrap().into()
        },
        share: Dec18(1_000_000_000_000_000_000),
        billed: Dec18(amount),
        effective: Dec18(amount),
        input_rows: 3,
        run_id: "seed".into(),
        computed_at: 1_790_000_000,
    }
}

/// Rows for every day of `first ..= last`. Services spike ×2.6 on `spike` days.
pub fn allocations(
    seed: u64,
    first: NaiveDate,
    last: NaiveDate,
    spike: (&str, NaiveDate, NaiveDate),
) -> Vec<AllocationRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::new();
    let mut day = first;
    let mut n = 0f64;
    while day <= last {
        let weekend = day.weekday().num_days_from_monday() >= 5;
        let rhythm = if weekend { 0.62 } else { 1.0 };
        let trend = 1.0 + 0.0025 * n;
        for (service, _, _, level, staging) in SERVICES {
            let mut base = *level as f64 * rhythm * trend * (1.0 + rng.gen_range(-0.06..0.06));
            if *service == spike.0 && spike.1 <= day && day <= spike.2 {
                base *= 2.6;
            }
            let kind = if *service == "unallocated" {
                "unallocated"
            } else {
                "direct"
            };
            let method = if kind == "direct" { "rule:tagged" } else { "" };
            rows.push(row(
                day,
                service,
                "prod",
                kind,
                "",
                method,
                units(&mut rng, base),
            ));
            if *staging {
                let amount = units(&mut rng, base * 0.16);
                rows.push(row(day, service, "staging", kind, "", method, amount));
            }
        }
        // kafka: by bytes; on every ninth day no metric arrived and the split fell back to even.
        let kafka_users = [
            "payments-api",
            "events-pipeline",
            "search-api",
            "fraud-detector",
        ];
        let fallback = (day - first).num_days() % 9 == 4;
        let kafka_total = 420.0 * trend * (1.0 + rng.gen_range(-0.04..0.04));
        for (i, service) in kafka_users.iter().enumerate() {
            let (weight, method) = if fallback {
                (0.25, "even (fallback: no kafka_bytes values)")
            } else {
                ([0.38, 0.34, 0.18, 0.10][i], "proportional:kafka_bytes")
            };
            let amount = units(&mut rng, kafka_total * weight);
            rows.push(row(day, service, "prod", "pool", "kafka", method, amount));
        }
        // observability: evenly over every owned service (the EUR service gets its EUR share).
        let owned: Vec<&str> = SERVICES
            .iter()
            .map(|s| s.0)
            .filter(|s| *s != "unallocated")
            .collect();
        for service in &owned {
            let approx = 310.0 / owned.len() as f64;
            let amount = units(&mut rng, approx);
            rows.push(row(
                day,
                service,
                "prod",
                "pool",
                "observability",
                "even",
                amount,
            ));
        }
        // k8s-core, then the commitments it went through: weighted by direct cost.
        for (service, _, currency, level, _) in SERVICES.iter().filter(|s| s.2 == "USD") {
            if *service == "unallocated" || *currency != "USD" {
                continue;
            }
            let amount = units(&mut rng, *level as f64 * 0.07 * rhythm);
            rows.push(row(
                day, service, "prod", "pool", "k8s-core", "weighted", amount,
            ));
            let amount = units(&mut rng, *level as f64 * -0.02 * rhythm);
            let path = "k8s-core > commitments";
            rows.push(row(day, service, "prod", "pool", path, "weighted", amount));
        }
        // cdc: fixed 70/30.
        for (service, share) in [("warehouse", 0.7), ("events-pipeline", 0.3)] {
            let amount = units(&mut rng, 180.0 * share);
            rows.push(row(day, service, "prod", "pool", "cdc", "fixed", amount));
        }
        day += Duration::days(1);
        n += 1.0;
    }
    rows
}

pub async fn insert_allocations(store: &Store, rows: &[AllocationRow]) {
    let mut insert = store.insert::<AllocationRow>("allocations").await.unwrap();
    for r in rows {
        insert.write(r).await.unwrap();
    }
    insert.end().await.unwrap();
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn alert(id: &str, kind: AlertKind, dimension: &str, key: &str, state: AlertState) -> Alert {
    let first_day = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
    Alert {
        id: id.into(),
        kind,
        dimension: dimension.into(),
        key: key.into(),
        currency: "USD".into(),
        state,
        first_day,
        last_day: first_day + Duration::days(2),
        actual: dec("1612.40"),
        expected: dec("620.15"),
        impact: dec("2976.75"),
        causes: vec![Cause {
            dimension: "usage-type".into(),
            value: "BoxUsage:c6i.4xlarge".into(),
            amount: dec("2801.10"),
        }],
        summary: format!("{key}: {id} summary"),
        acked_by: String::new(),
        revision: 1,
        updated_at: Utc::now(),
    }
}

/// Two computations: the older must not be shown.
pub async fn insert_recommendations(store: &Store) {
    let rec = |at: u32, id: &str, team: &str, service: &str, saving: i128, summary: &str| {
        queries::rows::RecommendationRow {
            computed_at: at,
            id: id.into(),
            kind: "rightsizing".into(),
            workload: format!("{service}/deployment"),
            team: team.into(),
            service: service.into(),
            currency: "USD".into(),
            current_monthly: Dec18(4_200 * 10i128.pow(18)),
            proposed_monthly: Dec18((4_200 - saving) * 10i128.pow(18)),
            saving_monthly: Dec18(saving * 10i128.pow(18)),
            summary: summary.into(),
            evidence: "{}".into(),
        }
    };
    let rows = [
        rec(
            1_790_000_000,
            "r-old",
            "payments",
            "checkout",
            900,
            "OLD: shrink checkout",
        ),
        rec(
            1_790_600_000,
            "r-1",
            "payments",
            "payments-api",
            1_310,
            "Rightsize payments-api from c6i.4xlarge to c6i.2xlarge",
        ),
        rec(
            1_790_600_000,
            "r-2",
            "payments",
            "fraud-detector",
            240,
            "Move fraud-detector batch scoring to spot",
        ),
        rec(
            1_790_600_000,
            "r-3",
            "data",
            "etl-jobs",
            2_050,
            "Run etl-jobs on spot with checkpoints",
        ),
    ];
    let mut insert = store
        .insert::<queries::rows::RecommendationRow>("recommendations")
        .await
        .unwrap();
    for r in &rows {
        insert.write(r).await.unwrap();
    }
    insert.end().await.unwrap();
}
