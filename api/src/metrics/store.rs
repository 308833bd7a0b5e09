//! The gauges `/metrics` reads from ClickHouse at scrape time: per source when it last ran and
//! last succeeded (sql/metrics_source_runs.sql: the run log, so lag survives restarts), and the
//! allocated cost of the current UTC month per team and per service, effective and billed, per
//! currency (sql/metrics_month_costs.sql). One read serves the scrapes of the next [`Cache`] TTL.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{Datelike, Months, NaiveDate};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use queries::{q, Dec18, Param, Store};

/// A read of ClickHouse that takes longer is given up, and the scrape answers with
/// `costmill_store_up 0` (Prometheus' default scrape timeout is 10 s).
pub(super) const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// sql/metrics_source_runs.sql
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
pub(super) struct SourceRuns {
    pub source: String,
    /// Unix seconds; 0 when it never succeeded.
    pub last_success: u32,
    pub last_run: u32,
}

/// sql/metrics_month_costs.sql
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct OwnerCost {
    team: String,
    service: String,
    currency: String,
    billed: Dec18,
    effective: Dec18,
}

/// Exact sums of one month.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Amounts {
    pub billed: Dec18,
    pub effective: Dec18,
}

/// One read of ClickHouse.
#[derive(Debug)]
pub(super) struct Snapshot {
    fetched: Instant,
    /// The first day of the month the costs are of.
    pub month: NaiveDate,
    pub sources: Vec<SourceRuns>,
    /// `(team, currency)` → amounts.
    pub teams: BTreeMap<(String, String), Amounts>,
    /// `(service, currency)` → amounts.
    pub services: BTreeMap<(String, String), Amounts>,
}

/// The first day of the UTC month of `now`.
pub(super) fn month_of(now: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    now.date_naive()
        .with_day(1)
        .expect("every month has a day 1")
}

fn midnight(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
}

pub(super) async fn fetch(store: &Store, month: NaiveDate) -> Result<Snapshot> {
    let next = month
        .checked_add_months(Months::new(1))
        .context("month out of range")?;
    let sources: Vec<SourceRuns> = store.fetch_all(&q::metrics_source_runs()).await?;
    let costs: Vec<OwnerCost> = store
        .fetch_all(
            &q::metrics_month_costs()
                .bind("from", Param::DateTime(midnight(month)))
                .bind("to", Param::DateTime(midnight(next))),
        )
        .await?;
    let mut teams = BTreeMap::<(String, String), Amounts>::new();
    let mut services = BTreeMap::<(String, String), Amounts>::new();
    for row in costs {
        for slot in [
            teams.entry((row.team.clone(), row.currency.clone())),
            services.entry((row.service.clone(), row.currency.clone())),
        ] {
            let sum = slot.or_default();
            sum.billed = sum.billed + row.billed;
            sum.effective = sum.effective + row.effective;
        }
    }
    Ok(Snapshot {
        fetched: Instant::now(),
        month,
        sources,
        teams,
        services,
    })
}

/// The last successful read, reused for `ttl` within its month. Failures are not cached: the next
/// scrape tries again. A read holds the lock, so concurrent scrapes share it.
pub(super) struct Cache {
    ttl: Duration,
    timeout: Duration,
    last: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
}

impl Cache {
    pub fn new(ttl: Duration, timeout: Duration) -> Cache {
        Cache {
            ttl,
            timeout,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// A read of the month of `now` at most `ttl` old; `None` when ClickHouse failed.
    pub async fn get(
        &self,
        store: &Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Arc<Snapshot>> {
        let month = month_of(now);
        let mut last = self.last.lock().await;
        if let Some(snapshot) = last.as_ref() {
            if snapshot.month == month && snapshot.fetched.elapsed() < self.ttl {
                return Some(snapshot.clone());
            }
        }
        let read = match tokio::time::timeout(self.timeout, fetch(store, month)).await {
            Ok(read) => read,
            Err(_) => Err(anyhow::anyhow!(
                "ClickHouse did not answer within {:?}",
                self.timeout
            )),
        };
        match read {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                *last = Some(snapshot.clone());
                Some(snapshot)
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "/metrics: cannot read ClickHouse; answering costmill_store_up 0 without the cost and lag gauges");
                *last = None;
                None
            }
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamCost {
    team: String,
    currency: String,
    metric: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceCost {
    service: String,
    currency: String,
    metric: &'static str,
}

/// Money leaves Decimal here, and only here, at the exposition edge: Prometheus samples are f64.
/// The conversion is correctly rounded (Rust parses the exact decimal `mantissa e-18` to the
/// nearest f64, and the encoder prints the shortest text that reads back as the same f64), so a
/// value read back from Prometheus is the f64 nearest to `costmill costs`' exact figure.
pub(super) fn money_f64(amount: Dec18) -> f64 {
    format!("{}e-18", amount.0)
        .parse()
        .expect("an integer with an exponent parses as f64")
}

type CostFamily<L> = Family<L, Gauge<f64, std::sync::atomic::AtomicU64>>;

/// The gauges of one read (`None`: ClickHouse failed, only `costmill_store_up 0`), at `now`.
pub(super) fn registry(snapshot: Option<&Snapshot>, now: i64) -> Registry {
    let mut registry = Registry::with_prefix("costmill");
    let up = Gauge::<i64>::default();
    up.set(i64::from(snapshot.is_some()));
    registry.register(
        "store_up",
        "Whether this exposition could read ClickHouse (1); at 0 the lag and cost gauges are missing",
        up,
    );
    let Some(snapshot) = snapshot else {
        return registry;
    };
    let lag = Family::<SourceLabel, Gauge>::default();
    let last_success = Family::<SourceLabel, Gauge>::default();
    let last_run = Family::<SourceLabel, Gauge>::default();
    for runs in &snapshot.sources {
        let label = SourceLabel {
            source: runs.source.clone(),
        };
        last_run.get_or_create(&label).set(i64::from(runs.last_run));
        if runs.last_success > 0 {
            let success = i64::from(runs.last_success);
            last_success.get_or_create(&label).set(success);
            lag.get_or_create(&label).set((now - success).max(0));
        }
    }
    registry.register_with_unit(
        "source_lag",
        "Seconds since the source's latest successful run (from the run log; absent if none)",
        Unit::Seconds,
        lag,
    );
    registry.register_with_unit(
        "source_last_success_timestamp",
        "When the source's latest successful run ended, Unix time",
        Unit::Seconds,
        last_success,
    );
    registry.register_with_unit(
        "source_last_run_timestamp",
        "When the source's latest run ended, whatever its outcome, Unix time",
        Unit::Seconds,
        last_run,
    );
    let teams = CostFamily::<TeamCost>::default();
    for ((team, currency), amounts) in &snapshot.teams {
        for (metric, amount) in [("effective", amounts.effective), ("billed", amounts.billed)] {
            let label = TeamCost {
                team: team.clone(),
                currency: currency.clone(),
                metric,
            };
            teams.get_or_create(&label).set(money_f64(amount));
        }
    }
    registry.register(
        "team_cost_month",
        "Allocated cost of the current UTC month per team, in `currency` (metric: effective = amortized, billed = invoiced)",
        teams,
    );
    let services = CostFamily::<ServiceCost>::default();
    for ((service, currency), amounts) in &snapshot.services {
        for (metric, amount) in [("effective", amounts.effective), ("billed", amounts.billed)] {
            let label = ServiceCost {
                service: service.clone(),
                currency: currency.clone(),
                metric,
            };
            services.get_or_create(&label).set(money_f64(amount));
        }
    }
    registry.register(
        "service_cost_month",
        "Allocated cost of the current UTC month per service, in `currency` (metric: effective = amortized, billed = invoiced)",
        services,
    );
    registry
}
