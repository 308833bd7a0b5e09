//! Fixtures of the Slack tests: teams, webhooks, realistic alerts (seeded), and readers of what
//! the receiver got.
#![allow(dead_code)]

use std::collections::BTreeMap;

use alerts::delivery;
use alerts::slack::{self, SlackReport};
use alerts::{Alert, AlertKind, AlertState, Cause, Secret, SlackConfig};
use chrono::{Duration, NaiveDate, Utc};
use queries::Store;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::slack_receiver::{Receiver, Request};

pub const PAYMENTS: &str = "/services/T0C05TM1L/B0PAY/xoxPaymentsSecret9f2c";
pub const SEARCH: &str = "/services/T0C05TM1L/B0SRCH/xoxSearchSecret41ab";
pub const DEFAULT: &str = "/services/T0C05TM1L/B0FINOPS/xoxFinopsSecret77d0";
pub const SECRETS: [&str; 3] = [
    "xoxPaymentsSecret9f2c",
    "xoxSearchSecret41ab",
    "xoxFinopsSecret77d0",
];
pub const DASHBOARD: &str = "https://grafana.example.com/d/costmill-costs/costs?orgId=1";

/// Service → owning team.
pub fn owners() -> BTreeMap<String, String> {
    [
        ("payments-api", "payments"),
        ("ledger", "payments"),
        ("fraud-scoring", "payments"),
        ("search-api", "search"),
        ("indexer", "search"),
        ("spark-etl", "data"),
        ("kafka", "data"),
        ("model-serving", "ml"),
    ]
    .into_iter()
    .map(|(s, t)| (s.to_string(), t.to_string()))
    .collect()
}

/// Webhooks for payments and search (data and ml have none), and the FinOps default channel.
pub fn config(r: &Receiver) -> SlackConfig {
    let mut cfg = SlackConfig {
        webhook_url: Secret(r.url(DEFAULT)),
        max_attempts: 3,
        retry_initial_ms: 10,
        timeout_secs: 5,
        ..SlackConfig::default()
    };
    cfg.teams.insert("payments".into(), Secret(r.url(PAYMENTS)));
    cfg.teams.insert("search".into(), Secret(r.url(SEARCH)));
    cfg
}

pub fn cents(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> Decimal {
    Decimal::new(rng.gen_range(lo * 100..hi * 100), 2)
}

/// A realistic open alert on `dimension`/`key`: a baseline of a few hundred to a few thousand a
/// day, 1.5 to 4 times that on the last day, causes splitting the impact, biggest first.
pub fn alert(rng: &mut ChaCha8Rng, kind: AlertKind, dimension: &str, key: &str) -> Alert {
    let last_day = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
    let days = rng.gen_range(1..=3);
    let expected = cents(rng, 300, 6000);
    let actual = (expected * Decimal::new(rng.gen_range(150..400), 2)).round_dp(2);
    let impact = (actual - expected) * Decimal::from(days);
    // What detection reports as causes: a dimension and one of its values.
    let candidates: [(&str, &[&str]); 5] = [
        (
            "usage-type",
            &[
                "BoxUsage:m6i.4xlarge",
                "DataTransfer-Out-Bytes",
                "TimedStorage-ByteHrs",
            ],
        ),
        ("region", &["us-east-1", "eu-west-1", "europe-west4"]),
        (
            "resource",
            &[
                "i-0a4f9c2e7b1d35f60",
                "arn:aws:rds:us-east-1:1234:db:ledger",
            ],
        ),
        (
            "cloud-service",
            &["Amazon Elastic Compute Cloud", "Cloud SQL", "Amazon S3"],
        ),
        ("sub-account", &["acme-prod", "acme-data", "acme-staging"]),
    ];
    let n = rng.gen_range(3..=7);
    let mut left = impact;
    let causes = (0..n)
        .map(|i| {
            let amount = if i + 1 == n {
                left
            } else {
                (left * Decimal::new(rng.gen_range(40..70), 2)).round_dp(2)
            };
            left -= amount;
            let (dimension, values) = candidates[i % candidates.len()];
            Cause {
                dimension: dimension.into(),
                value: values[rng.gen_range(0..values.len())].into(),
                amount,
            }
        })
        .collect();
    Alert {
        id: format!("{}-{:012x}", kind.as_str(), rng.gen::<u64>() >> 16),
        kind,
        dimension: dimension.into(),
        key: key.into(),
        currency: "USD".into(),
        state: AlertState::Open,
        first_day: last_day - Duration::days(days - 1),
        last_day,
        actual,
        expected,
        impact,
        causes,
        summary: format!("{dimension} {key}: spend up on {last_day}"),
        acked_by: String::new(),
        revision: 1,
        updated_at: Utc::now(),
    }
}

pub fn spike(rng: &mut ChaCha8Rng, dimension: &str, key: &str) -> Alert {
    alert(rng, AlertKind::Spike, dimension, key)
}

pub fn body(r: &Request) -> Value {
    serde_json::from_str(&r.body).expect("the posted body is JSON")
}

/// The alert id a posted message is about (from the explain command in its context block).
pub fn alert_of(r: &Request) -> String {
    let v = body(r);
    let ctx = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "context")
        .expect("context block");
    let text = ctx["elements"][0]["text"].as_str().unwrap();
    let id = text.split("costmill alerts explain ").nth(1).unwrap();
    id.split('`').next().unwrap().to_string()
}

pub fn ids(requests: &[Request]) -> Vec<String> {
    let mut v: Vec<String> = requests.iter().map(alert_of).collect();
    v.sort();
    v
}

pub fn sorted_ids(alerts: &[&Alert]) -> Vec<String> {
    let mut v: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    v.sort();
    v
}

/// No webhook URL (nor its secret token) in any record or error.
pub async fn assert_no_secret(store: &Store, report: &SlackReport) {
    let records = delivery::list(store, "slack:").await.unwrap();
    for d in &records {
        let all = format!("{} {} {} {}", d.channel, d.item, d.last_error, d.payload);
        for s in SECRETS {
            assert!(!all.contains(s), "secret in a delivery record: {all}");
        }
        assert!(
            !all.contains("/services/"),
            "webhook path in a record: {all}"
        );
    }
    for e in &report.errors {
        for s in SECRETS {
            assert!(!e.contains(s), "secret in an error: {e}");
        }
        assert!(!e.contains("/services/"), "webhook path in an error: {e}");
    }
}

pub async fn record(store: &Store, channel: &str, a: &Alert) -> delivery::Delivery {
    delivery::get(store, channel, &slack::item_key(a))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no delivery record of {} in {channel}", a.id))
}

pub fn texts_of(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for b in v["blocks"].as_array().unwrap() {
        if let Some(t) = b["text"]["text"].as_str() {
            out.push(t.to_string());
        }
        for f in b["fields"].as_array().into_iter().flatten() {
            out.push(f["text"].as_str().unwrap().to_string());
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            if let Some(t) = e["text"].as_str() {
                out.push(t.to_string());
            }
        }
    }
    out
}
