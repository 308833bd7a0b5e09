//! Process metrics and the HTTP middleware, without ClickHouse.
use std::time::Duration;

use queries::Dec18;

use super::{find, one, parse};
use crate::metrics::{store, track_http, Metrics, HTTP_BUCKETS};

#[test]
fn process_metrics_expose_runs_rows_durations_and_http_buckets() {
    let metrics = Metrics::new();
    metrics.record_run("aws-payer", "ok", 1200, Duration::from_millis(3_200));
    metrics.record_run("aws-payer", "ok", 0, Duration::from_millis(80));
    metrics.record_run("aws-payer", "failed", 0, Duration::from_secs(45));
    metrics.record_run("gcp", "aborted", 0, Duration::ZERO);
    metrics.observe_http("GET", "/v1/costs", 200, Duration::from_millis(30));
    metrics.observe_http("GET", "/v1/costs", 200, Duration::from_millis(700));
    metrics.observe_http("BREW", "unmatched", 404, Duration::from_millis(1));
    let text = metrics.encode(None, 0);
    let (types, samples) = parse(&text);

    let expected_types = [
        ("costmill_build_info", "gauge"),
        ("costmill_source_runs", "counter"),
        ("costmill_source_rows", "counter"),
        ("costmill_source_run_duration_seconds", "histogram"),
        ("costmill_http_request_duration_seconds", "histogram"),
        ("costmill_store_up", "gauge"),
    ];
    for (name, kind) in expected_types {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{text}");
    }
    assert_eq!(types.len(), expected_types.len(), "{types:?}");
    assert!(text.contains("# UNIT costmill_http_request_duration_seconds seconds"));
    assert_eq!(
        one(
            &samples,
            "costmill_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // ClickHouse not read: the process metrics and store_up 0, nothing of the store.
    assert_eq!(one(&samples, "costmill_store_up", &[]), 0.0);

    let runs = |source, outcome| {
        one(
            &samples,
            "costmill_source_runs_total",
            &[("source", source), ("outcome", outcome)],
        )
    };
    assert_eq!(runs("aws-payer", "ok"), 2.0);
    assert_eq!(runs("aws-payer", "failed"), 1.0);
    assert_eq!(runs("gcp", "aborted"), 1.0);
    assert_eq!(find(&samples, "costmill_source_runs_total", &[]).len(), 3);
    let rows = |source| {
        one(
            &samples,
            "costmill_source_rows_total",
            &[("source", source)],
        )
    };
    assert_eq!((rows("aws-payer"), rows("gcp")), (1200.0, 0.0));
    let run = |suffix: &str, with: &[(&str, &str)]| {
        let mut with = with.to_vec();
        with.push(("source", "aws-payer"));
        one(
            &samples,
            &format!("costmill_source_run_duration_seconds{suffix}"),
            &with,
        )
    };
    assert_eq!(run("_count", &[]), 3.0);
    assert!((run("_sum", &[]) - 48.28).abs() < 1e-9);
    assert_eq!(run("_bucket", &[("le", "0.1")]), 1.0);
    assert_eq!(run("_bucket", &[("le", "2.5")]), 1.0);
    assert_eq!(run("_bucket", &[("le", "5.0")]), 2.0);
    assert_eq!(run("_bucket", &[("le", "30.0")]), 2.0);
    assert_eq!(run("_bucket", &[("le", "60.0")]), 3.0);
    assert_eq!(run("_bucket", &[("le", "+Inf")]), 3.0);

    // 30 ms lands in le=0.05 and not below; 700 ms in le=1.0 and not below.
    let costs = [("method", "GET"), ("route", "/v1/costs"), ("status", "200")];
    let bucket = |le: &'static str| {
        let mut with = costs.to_vec();
        with.push(("le", le));
        one(
            &samples,
            "costmill_http_request_duration_seconds_bucket",
            &with,
        )
    };
    assert_eq!(bucket("0.025"), 0.0);
    assert_eq!(bucket("0.05"), 1.0);
    assert_eq!(bucket("0.5"), 1.0);
    assert_eq!(bucket("1.0"), 2.0);
    assert_eq!(bucket("+Inf"), 2.0);
    assert_eq!(
        find(
            &samples,
            "costmill_http_request_duration_seconds_bucket",
            &costs
        )
        .len(),
        HTTP_BUCKETS.len() + 1
    );
    assert_eq!(
        one(
            &samples,
            "costmill_http_request_duration_seconds_count",
            &costs
        ),
        2.0
    );
    // An extension method is `other`: a client cannot mint label values.
    assert_eq!(
        one(
            &samples,
            "costmill_http_request_duration_seconds_count",
            &[
                ("method", "other"),
                ("route", "unmatched"),
                ("status", "404")
            ]
        ),
        1.0
    );
    assert!(!text.contains("BREW"));
}

#[test]
fn money_becomes_the_nearest_f64_only_at_the_edge() {
    let amount = Dec18(12_345_678_901_234_567_890_123_456_789);
    let nearest: f64 = "12345678901.234567890123456789".parse().unwrap();
    assert_eq!(store::money_f64(amount), nearest);
    assert_eq!(nearest.to_string(), "12345678901.234568");
    assert_eq!(store::money_f64(Dec18(-1_500_000_000_000_000_000)), -1.5);
    assert_eq!(store::money_f64(Dec18::ZERO), 0.0);
    // 0.1 is not an f64: the nearest one, as parsing "0.1" gives.
    assert_eq!(
        store::money_f64(Dec18(100_000_000_000_000_000)),
        "0.1".parse::<f64>().unwrap()
    );
}

/// One HTTP/1.1 exchange with `Connection: close`: the status code.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{response}"))
}

#[tokio::test]
async fn track_http_labels_requests_by_route_template_never_by_url() {
    use axum::routing::get;
    let metrics = Metrics::new();
    let app = axum::Router::new()
        .route("/v1/teams/{team}/costs", get(|| async { "[]" }))
        .route(
            "/metrics",
            get(|| async { (axum::http::StatusCode::UNAUTHORIZED, "token needed") }),
        )
        .layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            track_http,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(request(addr, "GET", "/v1/teams/payments/costs").await, 200);
    assert_eq!(
        request(addr, "GET", "/v1/teams/search/costs?month=2026-09").await,
        200
    );
    assert_eq!(request(addr, "GET", "/metrics").await, 401);
    assert_eq!(request(addr, "GET", "/wp-admin/secret-42").await, 404);
    server.abort();

    let text = metrics.encode(None, 0);
    let (_, samples) = parse(&text);
    let count = |route: &str, status: &str| {
        one(
            &samples,
            "costmill_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("/v1/teams/{team}/costs", "200"), 2.0);
    assert_eq!(count("/metrics", "401"), 1.0);
    assert_eq!(count("unmatched", "404"), 1.0);
    assert_eq!(
        find(
            &samples,
            "costmill_http_request_duration_seconds_count",
            &[]
        )
        .len(),
        3,
        "{text}"
    );
    for raw in ["payments", "search", "month=", "wp-admin"] {
        assert!(!text.contains(raw), "{raw} in\n{text}");
    }
}
