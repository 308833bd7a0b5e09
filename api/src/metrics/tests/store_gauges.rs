//! The gauges read from ClickHouse: a generated bill in two currencies, ingested and allocated
//! with the demo rules, against `costmill costs`; lag from the run log; the cache; failures.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use ingest::generate::{self, GenerateOptions};
use queries::testing::test_store;
use queries::{Query, Store};

use super::{find, one, parse};
use crate::metrics::{store, Metrics};
use crate::showback::{self, CostsArgs, Metric, OutputFormat};
use crate::status::RunRow;

/// A generated bill rewritten into another billing currency.
fn in_currency(from: &Path, to: &Path, currency: &str) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "BillingCurrency").unwrap();
    let mut writer = csv::Writer::from_path(to).unwrap();
    writer.write_record(&headers).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let fields: Vec<&str> = record
            .iter()
            .enumerate()
            .map(|(i, f)| if i == column { currency } else { f })
            .collect();
        writer.write_record(fields).unwrap();
    }
    writer.flush().unwrap();
}

async fn log_runs(store: &Store, runs: &[(&str, &str, u32)]) {
    let mut insert = store.insert::<RunRow>("source_runs").await.unwrap();
    for (i, (source, outcome, ended)) in runs.iter().enumerate() {
        let row = RunRow {
            source: source.to_string(),
            run_id: format!("run-{i}"),
            trigger: "schedule".into(),
            started_at: ended - 30,
            ended_at: *ended,
            outcome: outcome.to_string(),
            attempts: 1,
            rows: 0,
            currencies: vec![],
            billed: vec![],
            effective: vec![],
            error: String::new(),
        };
        insert.write(&row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// Exact costs of 2026-09 per group and currency, as `costmill costs --by <by>` computes them.
async fn costs_of_september(store: &Store, by: &str) -> BTreeMap<(String, String), store::Amounts> {
    let args = CostsArgs {
        by: by.into(),
        from: Some("2026-09".into()),
        to: Some("2026-10".into()),
        metric: Metric::Effective,
        format: OutputFormat::Json,
    };
    showback::fetch(store, &args)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.month, 202609);
            let amounts = store::Amounts {
                billed: r.billed,
                effective: r.effective,
            };
            ((r.grp, r.currency), amounts)
        })
        .collect()
}

#[tokio::test]
async fn cost_gauges_are_the_months_costs_by_team_and_service_and_lag_comes_from_the_run_log() {
    let store = test_store("metrics_costs").await;
    let dir = tempfile::tempdir().unwrap();
    // 2026-08..2026-10 in USD, and a second bill of the same months in EUR.
    let options = GenerateOptions {
        rows: 8_000,
        seed: 23,
        ..GenerateOptions::default()
    };
    let usd = dir.path().join("usd.csv");
    let metrics_csv = dir.path().join("metrics.csv");
    generate::write_csv(&options, std::fs::File::create(&usd).unwrap()).unwrap();
    generate::write_metrics_csv(&options, std::fs::File::create(&metrics_csv).unwrap()).unwrap();
    let generated = dir.path().join("generated.csv");
    let other = GenerateOptions {
        rows: 3_000,
        seed: 24,
        ..GenerateOptions::default()
    };
    generate::write_csv(&other, std::fs::File::create(&generated).unwrap()).unwrap();
    let eur = dir.path().join("eur.csv");
    in_currency(&generated, &eur, "EUR");
    let run = ingest::RunOptions::default();
    ingest::ingest_focus(&store, &[usd], "aws-payer", &run)
        .await
        .unwrap();
    ingest::ingest_focus(&store, &[eur], "azure-eu", &run)
        .await
        .unwrap();
    ingest::ingest_metrics(&store, &[metrics_csv], "metrics", &run)
        .await
        .unwrap();
    let allocation = crate::demo::demo_allocation().unwrap();
    allocator::run::run(&store, &allocation, None)
        .await
        .unwrap();

    let now = chrono::Utc.with_ymd_and_hms(2026, 9, 15, 12, 0, 0).unwrap();
    let t = now.timestamp() as u32;
    log_runs(
        &store,
        &[
            ("aws-payer", "ok", t - 7_200),
            ("aws-payer", "ok", t - 3_600),
            ("aws-payer", "failed", t - 60),
            ("gcp", "failed", t - 600),
        ],
    )
    .await;

    let metrics = Metrics::new();
    let text = metrics.render_at(&store, now).await;
    let (types, samples) = parse(&text);
    assert_eq!(one(&samples, "costmill_store_up", &[]), 1.0, "{text}");
    for family in ["costmill_team_cost_month", "costmill_service_cost_month"] {
        assert_eq!(types.get(family).map(String::as_str), Some("gauge"));
    }

    for by in ["team", "service"] {
        let expected = costs_of_september(&store, by).await;
        let currencies: std::collections::BTreeSet<&str> =
            expected.keys().map(|(_, c)| c.as_str()).collect();
        assert_eq!(currencies, ["EUR", "USD"].into(), "{expected:?}");
        assert!(expected.len() >= 8, "a realistic spread: {expected:?}");
        // Exact before the edge: the Decimal sums are `costmill costs`' own.
        let snapshot = store::fetch(&store, store::month_of(now)).await.unwrap();
        let exact = if by == "team" {
            &snapshot.teams
        } else {
            &snapshot.services
        };
        assert_eq!(exact, &expected, "--by {by}");
        // Each gauge is the nearest f64 of the exact figure, and there is no other.
        let family = format!("costmill_{by}_cost_month");
        for ((group, currency), amounts) in &expected {
            for (metric, amount) in [("effective", amounts.effective), ("billed", amounts.billed)] {
                let exact = amount.to_decimal().unwrap().to_string();
                let value = one(
                    &samples,
                    &family,
                    &[
                        (by, group.as_str()),
                        ("currency", currency.as_str()),
                        ("metric", metric),
                    ],
                );
                assert_eq!(
                    value,
                    exact.parse::<f64>().unwrap(),
                    "{by} {group} {metric} {exact} {currency}"
                );
            }
        }
        assert_eq!(find(&samples, &family, &[]).len(), 2 * expected.len());
    }
    // Every dollar of the month is some team's and some service's.
    let total = |family: &str| -> f64 {
        find(
            &samples,
            family,
            &[("metric", "effective"), ("currency", "USD")],
        )
        .iter()
        .map(|s| s.value)
        .sum()
    };
    let (teams, services) = (
        total("costmill_team_cost_month"),
        total("costmill_service_cost_month"),
    );
    assert!(teams > 1_000.0, "{teams}");
    assert!(
        (teams - services).abs() < teams * 1e-9,
        "{teams} {services}"
    );

    // Lag from the run log: the latest success, not the latest run.
    let source = |name: &str, source: &str| one(&samples, name, &[("source", source)]);
    assert_eq!(source("costmill_source_lag_seconds", "aws-payer"), 3_600.0);
    assert_eq!(
        source(
            "costmill_source_last_success_timestamp_seconds",
            "aws-payer"
        ),
        f64::from(t - 3_600)
    );
    assert_eq!(
        source("costmill_source_last_run_timestamp_seconds", "aws-payer"),
        f64::from(t - 60)
    );
    assert_eq!(
        source("costmill_source_last_run_timestamp_seconds", "gcp"),
        f64::from(t - 600)
    );
    // Never succeeded: no lag to report (the failures are in the run log and the run counters).
    assert!(find(
        &samples,
        "costmill_source_lag_seconds",
        &[("source", "gcp")]
    )
    .is_empty());
    assert!(find(
        &samples,
        "costmill_source_last_success_timestamp_seconds",
        &[("source", "gcp")]
    )
    .is_empty());

    // Another month has other figures: October's are not September's.
    let october = chrono::Utc.with_ymd_and_hms(2026, 10, 2, 0, 0, 0).unwrap();
    let (_, later) = parse(&metrics.render_at(&store, october).await);
    let october_total = find(
        &later,
        "costmill_team_cost_month",
        &[("metric", "effective"), ("currency", "USD")],
    )
    .iter()
    .map(|s| s.value)
    .sum::<f64>();
    assert!(
        october_total > 1_000.0 && (october_total - teams).abs() > 1.0,
        "{october_total} {teams}"
    );
}

#[tokio::test]
async fn scrapes_within_the_ttl_reuse_one_read_and_a_failing_clickhouse_still_answers() {
    let config = queries::testing::test_config("metrics_cache");
    let data_dir = queries::testing::test_data_dir();
    let drop_database = Query::new(
        "drop test database",
        "DROP DATABASE IF EXISTS {db:Identifier}",
    )
    .bind_ident("db", &config.database);
    let server = Store::connect(&config, &data_dir).await.unwrap();
    server.execute(&drop_database).await.unwrap();
    let store = Store::open(&config, &data_dir).await.unwrap();
    let now = chrono::Utc::now();
    let t = now.timestamp() as u32;
    log_runs(&store, &[("aws-payer", "ok", t - 100)]).await;
    let cached = Metrics::with_cache(Duration::from_secs(3_600), store::STORE_TIMEOUT);
    let fresh = Metrics::with_cache(Duration::ZERO, store::STORE_TIMEOUT);
    let sources = |text: String| {
        let (_, samples) = parse(&text);
        let up = one(&samples, "costmill_store_up", &[]);
        let sources = find(&samples, "costmill_source_last_run_timestamp_seconds", &[]).len();
        (up, sources)
    };
    assert_eq!(sources(cached.render_at(&store, now).await), (1.0, 1));
    assert_eq!(sources(fresh.render_at(&store, now).await), (1.0, 1));
    log_runs(&store, &[("gcp", "ok", t - 50)]).await;
    assert_eq!(
        sources(cached.render_at(&store, now).await),
        (1.0, 1),
        "cached"
    );
    assert_eq!(
        sources(fresh.render_at(&store, now).await),
        (1.0, 2),
        "read again"
    );
    // Lag is computed at each scrape, also from a cached read.
    let later = now + chrono::Duration::seconds(40);
    let (_, samples) = parse(&cached.render_at(&store, later).await);
    assert_eq!(
        one(
            &samples,
            "costmill_source_lag_seconds",
            &[("source", "aws-payer")]
        ),
        140.0
    );
    // A new month is read again at once.
    let next_month = store::month_of(now)
        .checked_add_months(chrono::Months::new(1))
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(
        sources(cached.render_at(&store, next_month).await),
        (1.0, 2),
        "new month"
    );

    // ClickHouse failing (here: the database is gone): still an exposition, with store_up 0
    // and the process metrics.
    server.execute(&drop_database).await.unwrap();
    let failing = Metrics::with_cache(Duration::from_secs(3_600), store::STORE_TIMEOUT);
    failing.record_run("aws-payer", "ok", 10, Duration::from_secs(1));
    let text = failing.render(&store).await;
    let (types, samples) = parse(&text);
    assert_eq!(one(&samples, "costmill_store_up", &[]), 0.0, "{text}");
    assert_eq!(
        one(
            &samples,
            "costmill_source_runs_total",
            &[("source", "aws-payer"), ("outcome", "ok")]
        ),
        1.0
    );
    for family in [
        "costmill_team_cost_month",
        "costmill_service_cost_month",
        "costmill_source_lag_seconds",
    ] {
        assert!(!types.contains_key(family), "{family} in\n{text}");
    }
    // A failure is not cached: once ClickHouse answers again, so does the next scrape.
    let store = Store::open(&config, &data_dir).await.unwrap();
    assert_eq!(sources(failing.render(&store).await), (1.0, 0));
    server.execute(&drop_database).await.unwrap();
}

/// Copy `from` to `to` until either ends, or forever nothing once `hang` is set (not even the end
/// of the connection).
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    hang: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 64 * 1024];
    loop {
        let read = from.read(&mut buf).await;
        if hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A TCP proxy to `upstream` that, once `hang` is set, takes requests and never answers them.
async fn proxy(upstream: String, hang: Arc<AtomicBool>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let (from_client, to_client) = client.into_split();
            let (from_server, to_server) = server.into_split();
            tokio::spawn(relay(from_server, to_client, hang.clone()));
            tokio::spawn(relay(from_client, to_server, hang.clone()));
        }
    });
    addr
}

#[tokio::test]
async fn a_clickhouse_that_does_not_answer_is_given_up_with_store_up_0() {
    let direct = test_store("metrics_hang").await;
    let hang = Arc::new(AtomicBool::new(false));
    let upstream = direct.url().trim_start_matches("http://").to_string();
    let addr = proxy(upstream, hang.clone()).await;
    let config = queries::ClickHouseConfig {
        url: Some(format!("http://{addr}")),
        database: direct.database().to_string(),
        ..queries::ClickHouseConfig::default()
    };
    let store = Store::connect(&config, &queries::testing::test_data_dir())
        .await
        .unwrap();
    let t = chrono::Utc::now().timestamp() as u32;
    log_runs(&direct, &[("aws-payer", "ok", t - 10)]).await;
    let metrics = Metrics::with_cache(Duration::ZERO, Duration::from_secs(1));
    let (_, samples) = parse(&metrics.render(&store).await);
    assert_eq!(
        one(&samples, "costmill_store_up", &[]),
        1.0,
        "through the proxy"
    );
    assert_eq!(find(&samples, "costmill_source_lag_seconds", &[]).len(), 1);

    hang.store(true, Ordering::SeqCst);
    metrics.observe_http("GET", "/metrics", 200, Duration::from_millis(3));
    let (_, samples) = parse(&metrics.render(&store).await);
    assert_eq!(one(&samples, "costmill_store_up", &[]), 0.0);
    assert!(find(&samples, "costmill_source_lag_seconds", &[]).is_empty());
    assert_eq!(
        one(
            &samples,
            "costmill_http_request_duration_seconds_count",
            &[("route", "/metrics")]
        ),
        1.0
    );
}
