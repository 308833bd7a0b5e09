//! Prometheus `/metrics` of `costmill serve`: costmill's own health and the current month's cost
//! per team and per service.
//!
//! What the process observes (source runs, rows, run durations, HTTP requests) is counted in
//! memory from the start of the process, as Prometheus counters are. What must survive a restart
//! (when each source last succeeded, hence its lag) and the cost gauges are read from ClickHouse at
//! scrape time, cached for a short time (see [`store`]). A ClickHouse failure never fails the
//! scrape: the exposition then carries the process metrics and `costmill_store_up 0`.
//!
//! Label sets are bounded: `source` by the sources configured or in the run log, `outcome` by the
//! run outcomes, `route` by the router's route templates (never the raw URL), `method` by the
//! standard methods (anything else is `other`), `status` by the status codes the routes answer,
//! `team`, `service` and `currency` by the allocations of one month.
mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use queries::Store;

/// How long a read of ClickHouse serves later scrapes.
const CACHE_TTL: Duration = Duration::from_secs(30);

/// Source run durations: from a quick check of unchanged files to an hour-long backfill.
const RUN_BUCKETS: [f64; 13] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// HTTP request durations: Prometheus client defaults, plus 30 s for heavy reports.
const HTTP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    source: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

fn run_histogram() -> Histogram {
    Histogram::new(RUN_BUCKETS)
}

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

/// The metrics of one `costmill serve` process; clones share them.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    rows: Family<SourceLabel, Counter>,
    run_duration: Family<SourceLabel, Histogram, fn() -> Histogram>,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    cache: store::Cache,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::with_cache(CACHE_TTL, store::STORE_TIMEOUT)
    }

    /// Reads of ClickHouse serve scrapes for `ttl`, and are given up after `timeout`.
    fn with_cache(ttl: Duration, timeout: Duration) -> Metrics {
        let mut registry = Registry::with_prefix("costmill");
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "The costmill version of this process (always 1)",
            build,
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "source_runs",
            "Source runs of this process, by outcome (as in the run log: ok, failed, aborted)",
            runs.clone(),
        );
        let rows = Family::<SourceLabel, Counter>::default();
        registry.register(
            "source_rows",
            "Rows written by the source runs of this process",
            rows.clone(),
        );
        let run_duration: Family<SourceLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(run_histogram);
        registry.register_with_unit(
            "source_run_duration",
            "Wall time of the source runs of this process, retries and allocation included",
            Unit::Seconds,
            run_duration.clone(),
        );
        let http: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(http_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer HTTP requests, by method, route template and status",
            Unit::Seconds,
            http.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                runs,
                rows,
                run_duration,
                http,
                cache: store::Cache::new(ttl, timeout),
            }),
        }
    }

    /// One finished source run: `outcome` as the run log writes it (`ok`, `failed`, `aborted`),
    /// `rows` the rows it wrote, `duration` its wall time (retries and allocation included).
    pub fn record_run(&self, source: &str, outcome: &str, rows: u64, duration: Duration) {
        let inner = &self.inner;
        inner
            .runs
            .get_or_create(&RunLabels {
                source: source.into(),
                outcome: outcome.into(),
            })
            .inc();
        let source = SourceLabel {
            source: source.into(),
        };
        inner.rows.get_or_create(&source).inc_by(rows);
        inner
            .run_duration
            .get_or_create(&source)
            .observe(duration.as_secs_f64());
    }

    /// One answered HTTP request; `route` is the matched route template (e.g. `/v1/costs`), never
    /// the raw URL, so that the label stays bounded.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, duration: Duration) {
        self.inner
            .http
            .get_or_create(&HttpLabels {
                method: method_label(method),
                route: route.into(),
                status,
            })
            .observe(duration.as_secs_f64());
    }

    /// The text exposition, OpenMetrics 1.0 (serve it as `application/openmetrics-text;
    /// version=1.0.0; charset=utf-8`): the process metrics, then the gauges read from ClickHouse
    /// (lag per source, cost per team and service of the current UTC month), or
    /// `costmill_store_up 0` without them when ClickHouse fails or takes over 5 s. Never an error.
    pub async fn render(&self, store: &queries::Store) -> String {
        self.render_at(store, chrono::Utc::now()).await
    }

    async fn render_at(&self, store: &Store, now: chrono::DateTime<chrono::Utc>) -> String {
        let snapshot = self.inner.cache.get(store, now).await;
        self.encode(snapshot.as_deref(), now.timestamp())
    }

    /// The exposition of the process metrics and of one read of ClickHouse (`None`: it failed).
    fn encode(&self, snapshot: Option<&store::Snapshot>, now: i64) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the encoder's own errors are formatting bugs.
        encode_registry(&mut out, &self.inner.registry).expect("process metrics encode");
        encode_registry(&mut out, &store::registry(snapshot, now)).expect("store gauges encode");
        encode_eof(&mut out).expect("EOF encodes");
        out
    }
}

/// The standard methods as themselves, anything else (extension methods) as `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// Middleware recording every answered request in [`Metrics::observe_http`] under its matched
/// route template, or `unmatched` (the router's fallback). Mount it with `Router::layer` (not
/// `route_layer`, which skips the fallback) outside the authentication layer, so that refused
/// requests count too:
/// `router.layer(axum::middleware::from_fn_with_state(metrics.clone(), track_http))`.
/// The time is until the response head is ready (a streamed body may take longer).
pub async fn track_http(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string());
    let response = next.run(request).await;
    metrics.observe_http(
        method.as_str(),
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
