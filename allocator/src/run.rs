//! `costmill allocate`: allocate a window of days into a staged batch, check conservation on the
//! staging table, and only then swap the window's day partitions of `allocations` in (one staged
//! commit, see `queries::commit`).
//!
//! Memory is bounded by a chunk of days, not by the window: the window is read in chunks of
//! [`AllocateOptions::chunk_days`] days (cost groups, the multi-day charges overlapping the chunk,
//! metrics with their 31-day look-back, Kubernetes node and pod days, Slurm job days); each day
//! of a chunk is expanded (Kubernetes, Slurm) and allocated on its own and its rows are streamed
//! into the staging table before the next day is computed. A day's rows depend only on that day's
//! inputs (and the metric look-back), never on the window: see `engine` and `spread`.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::{Row, RowOwned, RowRead};
use queries::commit::{Batch, BatchSpec, BatchTotals, Swap};
use queries::rows::AllocationRow;
use queries::{q, Dec18, Param, Query, Store, StoreError};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::kubernetes::{self, NodeDay, PodDay};
use crate::slurm::{self, JobDay};
use crate::spread::SpanningCost;
use crate::{allocate, Allocation, AllocationConfig, CostGroup, MetricValue};

const SECONDS_PER_DAY: i64 = 86_400;

/// Days read and allocated together. A year of 12M cost rows, 24M pod windows and 1.2M Slurm
/// jobs keeps under 1 GiB with this (see bench/allocate).
pub const DEFAULT_CHUNK_DAYS: u16 = 7;

#[derive(Debug, thiserror::Error)]
pub enum AllocateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing allocations failed: {0}; the previous allocations are unchanged")]
    Insert(#[source] clickhouse::error::Error),
    #[error(
        "conservation check failed on {day} in {currency}: input billed {input_billed} / effective \
         {input_effective}, allocated billed {allocated_billed} / effective {allocated_effective}; \
         nothing was written (the previous allocations are unchanged). Cost rows may have been \
         ingested meanwhile: run `costmill allocate` again for that window"
    )]
    Conservation {
        day: String,
        currency: String,
        input_billed: Dec18,
        input_effective: Dec18,
        allocated_billed: Dec18,
        allocated_effective: Dec18,
    },
    #[error("allocation stopped by a signal; the previous allocations are unchanged")]
    Cancelled,
    #[error("the allocation engine failed: {0}; the previous allocations are unchanged")]
    Engine(String),
}

#[derive(Debug, Clone, Row, Deserialize)]
struct DayRange {
    first_day: u16,
    last_day: u16,
    rows: u64,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct Seconds {
    seconds: u64,
}

/// sql/allocations_staged_balance.sql
#[derive(Debug, Clone, Row, Deserialize)]
struct DayBalance {
    day: u16,
    currency: String,
    input_billed: Dec18,
    input_effective: Dec18,
    allocated_billed: Dec18,
    allocated_effective: Dec18,
}

#[derive(Debug, Clone)]
pub struct AllocateOptions {
    /// Ctrl-C / SIGTERM: the run stops between days, aborts its batch and returns
    /// [`AllocateError::Cancelled`]; the live table is untouched.
    pub cancel: CancellationToken,
    /// Days read and allocated together (at least 1).
    pub chunk_days: u16,
}

impl Default for AllocateOptions {
    fn default() -> Self {
        AllocateOptions {
            cancel: CancellationToken::new(),
            chunk_days: DEFAULT_CHUNK_DAYS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AllocateReport {
    pub run_id: String,
    /// First and one-past-last day of the window (days since 1970-01-01).
    pub window: (u16, u16),
    /// Cost groups allocated: single-day groups plus the daily shares of multi-day charges.
    pub input_groups: usize,
    /// Daily shares of charges spanning several days (spread over their charge period).
    pub spread_shares: usize,
    pub allocations: usize,
    /// Effective cost by kind (direct, pool, unallocated, idle) and currency over the window.
    pub by_kind: Vec<(String, String, Dec18)>,
    /// Kubernetes node-days that had neither billing rows nor a configured price.
    pub unpriced_node_days: usize,
    /// Slurm job-days in partitions without rates or node cost.
    pub unpriced_job_days: usize,
    /// Days of the window whose partition was replaced, and days without cost (dropped).
    pub days_written: usize,
    pub days_dropped: usize,
    pub elapsed: Duration,
}

pub fn day_string(day: u16) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Days::new(u64::from(day)))
    .to_string()
}

fn day_date(day: u16) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(u64::from(day))
}

fn day_param(day: u16) -> Param {
    Param::DateTime(i64::from(day) * SECONDS_PER_DAY)
}

/// The `allocations` partition id of a day (a `Date` partition key: `YYYYMMDD`).
fn partition_id(day: u16) -> String {
    day_date(day).format("%Y%m%d").to_string()
}

/// A query over `[from, to)` (its `{from:DateTime}` and `{to:DateTime}`).
fn window_query(query: Query, (from, to): (u16, u16)) -> Query {
    query
        .bind("from", day_param(from))
        .bind("to", day_param(to))
}

async fn fetch<T: RowOwned + RowRead>(store: &Store, query: Query) -> Result<Vec<T>, StoreError> {
    store.fetch_all(&query).await
}

/// Allocate `[from, to)` (days since 1970-01-01); without a window, every day with cost data.
pub async fn run(
    store: &Store,
    config: &AllocationConfig,
    window: Option<(u16, u16)>,
) -> Result<AllocateReport, AllocateError> {
    run_with(store, config, window, &AllocateOptions::default()).await
}

/// [`run`] with a cancellation token and a chunk size.
pub async fn run_with(
    store: &Store,
    config: &AllocationConfig,
    window: Option<(u16, u16)>,
    options: &AllocateOptions,
) -> Result<AllocateReport, AllocateError> {
    let started = Instant::now();
    let (from, to) = match window {
        Some(w) => w,
        None => {
            let range: Vec<DayRange> = store.fetch_all(&q::cost_day_range()).await?;
            match range.first() {
                Some(r) if r.rows > 0 => (r.first_day, r.last_day + 1),
                _ => (0, 0),
            }
        }
    };
    let mut report = AllocateReport {
        run_id: String::new(),
        window: (from, to),
        input_groups: 0,
        spread_shares: 0,
        allocations: 0,
        by_kind: vec![],
        unpriced_node_days: 0,
        unpriced_job_days: 0,
        days_written: 0,
        days_dropped: 0,
        elapsed: Duration::ZERO,
    };
    if from >= to {
        return Ok(report);
    }
    if options.cancel.is_cancelled() {
        return Err(AllocateError::Cancelled);
    }
    let mut batch = store
        .begin_batch(
            BatchSpec::new("allocate", "", "allocations", Swap::Replace)
                .with_cancel(options.cancel.clone()),
        )
        .await
        .map_err(cancelled_or_store)?;
    report.run_id = batch.id().to_string();
    let staged = stage(store, &batch, config, (from, to), options, &mut report).await;
    let staged = match staged {
        Ok(staged) => staged,
        Err(error) => {
            if let Err(e) = batch.abort(&error.to_string()).await {
                tracing::warn!(error = %e, "could not log the aborted allocation");
            }
            return Err(error);
        }
    };
    let empty_days: Vec<u16> = (from..to)
        .filter(|d| !staged.days_with_rows.contains(d))
        .collect();
    report.days_written = staged.days_with_rows.len();
    report.days_dropped = empty_days.len();
    batch.drop_partitions(empty_days.into_iter().map(partition_id));
    batch
        .commit(staged.totals)
        .await
        .map_err(cancelled_or_store)?;
    report.elapsed = started.elapsed();
    tracing::info!(run = %report.run_id, days = to - from, rows = report.allocations, "allocation committed");
    Ok(report)
}

fn cancelled_or_store(e: StoreError) -> AllocateError {
    match e {
        StoreError::Cancelled => AllocateError::Cancelled,
        e => AllocateError::Store(e),
    }
}

/// What was staged.
struct Staged {
    days_with_rows: BTreeSet<u16>,
    totals: BatchTotals,
}

/// One day's inputs, expanded and allocated together.
#[derive(Default)]
struct DayInputs {
    groups: Vec<CostGroup>,
    nodes: Vec<NodeDay>,
    pods: Vec<PodDay>,
    jobs: Vec<JobDay>,
}

struct DayOutput {
    allocations: Vec<Allocation>,
    unpriced_node_days: usize,
    unpriced_job_days: usize,
}

/// Spans (seconds) bounding how early an input overlapping the window can start.
#[derive(Clone, Copy)]
struct Spans {
    charges: i64,
    jobs: i64,
}

/// Every chunk of the window into the staging table, then conservation on staging.
async fn stage(
    store: &Store,
    batch: &Batch,
    config: &AllocationConfig,
    (from, to): (u16, u16),
    options: &AllocateOptions,
    report: &mut AllocateReport,
) -> Result<Staged, AllocateError> {
    let cancel = batch.cancelled().clone();
    let config = Arc::new(config.clone());
    let run_id = batch.id().to_string();
    let computed_at = chrono::Utc::now().timestamp() as u32;
    let span = |rows: Vec<Seconds>| rows.first().map(|s| s.seconds as i64).unwrap_or(0);
    let spans = Spans {
        charges: span(fetch(store, window_query(q::allocation_spread_span(), (from, to))).await?),
        jobs: span(fetch(store, window_query(q::slurm_job_span(), (from, to))).await?),
    };
    let mut staged = Staged {
        days_with_rows: BTreeSet::new(),
        totals: BatchTotals::default(),
    };
    // Each day's share of multi-day charges, per currency: the input side of conservation that
    // ClickHouse cannot sum (costmill spread it).
    let mut spread_input: BTreeMap<(u16, String), (i128, i128)> = BTreeMap::new();
    let mut by_kind: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut totals: BTreeMap<String, (i128, i128)> = BTreeMap::new();
    let chunk_days = options.chunk_days.max(1);
    let chunks: Vec<(u16, u16)> = (from..to)
        .step_by(usize::from(chunk_days))
        .map(|f| (f, f.saturating_add(chunk_days).min(to)))
        .collect();
    // The next chunk is read while the current one is allocated: ClickHouse and the engine work
    // at the same time, and at most two chunks are in memory.
    let load = |chunk: (u16, u16)| {
        let store = store.clone();
        AbortOnDrop(tokio::spawn(async move {
            load_chunk(&store, chunk, spans).await
        }))
    };
    let mut next = chunks.first().map(|c| load(*c));
    for i in 0..chunks.len() {
        let loading = next.take().expect("the chunk is being read");
        let (days, metrics) = tokio::select! {
            _ = cancel.cancelled() => return Err(AllocateError::Cancelled),
            loaded = loading.join() => loaded?,
        };
        next = chunks.get(i + 1).map(|c| load(*c));
        for g in days.values().flat_map(|d| d.groups.iter()) {
            report.input_groups += 1;
            if !g.charge_period.is_empty() {
                report.spread_shares += 1;
                let slot = spread_input.entry((g.day, g.currency.clone())).or_default();
                slot.0 += g.billed.0;
                slot.1 += g.effective.0;
            }
        }
        let metrics = Arc::new(metrics);
        let engine = |(day, inputs): (u16, DayInputs)| {
            let (config, metrics) = (config.clone(), metrics.clone());
            let task = tokio::task::spawn_blocking(move || allocate_day(&config, inputs, &metrics));
            (day, task)
        };
        let mut days = days.into_iter();
        let mut pending = days.next().map(engine);
        let mut insert = store.insert::<AllocationRow>(batch.staging()).await?;
        while let Some((day, task)) = pending.take() {
            if cancel.is_cancelled() {
                return Err(AllocateError::Cancelled);
            }
            let out = task
                .await
                .map_err(|e| AllocateError::Engine(e.to_string()))?;
            // The next day is computed while this one is written.
            pending = days.next().map(engine);
            report.unpriced_node_days += out.unpriced_node_days;
            report.unpriced_job_days += out.unpriced_job_days;
            report.allocations += out.allocations.len();
            if !out.allocations.is_empty() {
                staged.days_with_rows.insert(day);
            }
            for a in out.allocations {
                *by_kind
                    .entry((a.kind.clone(), a.currency.clone()))
                    .or_default() += a.effective.0;
                let total = totals.entry(a.currency.clone()).or_default();
                total.0 += a.billed.0;
                total.1 += a.effective.0;
                let row = AllocationRow {
                    day: a.day,
                    service: a.service,
                    team: a.team,
                    env: a.env,
                    currency: a.currency,
                    kind: a.kind,
                    pool: a.pool,
                    method: a.method,
                    cost_source: a.cost_source,
                    input_ref: a.input_ref,
                    share: a.share,
                    billed: a.billed,
                    effective: a.effective,
                    input_rows: a.input_rows,
                    run_id: run_id.clone(),
                    computed_at,
                };
                insert.write(&row).await.map_err(AllocateError::Insert)?;
            }
        }
        insert.end().await.map_err(AllocateError::Insert)?;
    }
    if report.unpriced_node_days > 0 {
        tracing::warn!(
            node_days = report.unpriced_node_days,
            "Kubernetes nodes without billing rows or [allocation.kubernetes] instance_prices: their workloads get no cost"
        );
    }
    if report.unpriced_job_days > 0 {
        tracing::warn!(job_days = report.unpriced_job_days, "Slurm jobs in partitions without [allocation.slurm.partitions] rates or node cost: they get no cost");
    }
    report.by_kind = by_kind
        .into_iter()
        .map(|((kind, currency), v)| (kind, currency, Dec18(v)))
        .collect();
    check_staged(store, batch.staging(), (from, to), &spread_input).await?;
    staged.totals = BatchTotals {
        rows: report.allocations as u64,
        by_currency: totals
            .into_iter()
            .map(|(c, (b, e))| (c, (Dec18(b), Dec18(e))))
            .collect(),
    };
    Ok(staged)
}

/// A chunk being read; dropping it (an error, a signal) stops the reading.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> T {
        match (&mut self.0).await {
            Ok(value) => value,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("chunk reader stopped: {e}"),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type ChunkInputs = (BTreeMap<u16, DayInputs>, Vec<MetricValue>);

/// The chunk's inputs by day, and the metric values its days may use (31 days back).
async fn load_chunk(
    store: &Store,
    (from, to): (u16, u16),
    spans: Spans,
) -> Result<ChunkInputs, StoreError> {
    let chunk = (from, to);
    let first_second = i64::from(from) * SECONDS_PER_DAY;
    let earliest = |span: i64| Param::DateTime((first_second - span).max(0));
    let (groups, spanning, metrics, nodes, pods, jobs) = tokio::try_join!(
        fetch::<CostGroup>(store, window_query(q::allocation_inputs(), chunk)),
        fetch::<SpanningCost>(
            store,
            window_query(q::allocation_spread_inputs(), chunk)
                .bind("earliest", earliest(spans.charges)),
        ),
        fetch::<MetricValue>(
            store,
            q::allocation_metrics()
                .bind("from", Param::Date(day_date(from.saturating_sub(31))))
                .bind("to", Param::Date(day_date(to))),
        ),
        fetch::<NodeDay>(store, window_query(q::k8s_node_days(), chunk)),
        fetch::<PodDay>(store, window_query(q::k8s_pod_days(), chunk)),
        fetch::<JobDay>(
            store,
            window_query(q::slurm_job_days(), chunk).bind("earliest", earliest(spans.jobs)),
        ),
    )?;
    let mut days: BTreeMap<u16, DayInputs> = BTreeMap::new();
    for g in groups {
        days.entry(g.day).or_default().groups.push(g);
    }
    for charge in spanning {
        for g in charge.spread(from..to) {
            days.entry(g.day).or_default().groups.push(g);
        }
    }
    for n in nodes {
        days.entry(n.day).or_default().nodes.push(n);
    }
    for p in pods {
        days.entry(p.day).or_default().pods.push(p);
    }
    for j in jobs {
        days.entry(j.day).or_default().jobs.push(j);
    }
    Ok((days, metrics))
}

/// One day: node cost to workloads, partition cost to jobs, then rules and pools.
fn allocate_day(config: &AllocationConfig, day: DayInputs, metrics: &[MetricValue]) -> DayOutput {
    let k8s = kubernetes::expand(&config.kubernetes, day.groups, &day.nodes, &day.pods);
    drop(day.pods);
    let hpc = slurm::expand(&config.slurm, &config.kubernetes, k8s.groups, &day.jobs);
    let mut allocations = allocate(config, &hpc.groups, metrics);
    allocations.extend(k8s.idle);
    allocations.extend(hpc.idle);
    DayOutput {
        allocations,
        unpriced_node_days: k8s.unpriced_node_days,
        unpriced_job_days: hpc.unpriced_job_days,
    }
}

/// Conservation on the staging table, before the swap: for every day of the window and every
/// currency, staged allocations (billed and effective, to the last digit) = the day's single-day
/// charges, summed by ClickHouse from focus_costs, + the day's shares of multi-day charges, as
/// costmill spread them. Cost from configured prices is not in the bill and is left out.
async fn check_staged(
    store: &Store,
    staging: &str,
    window: (u16, u16),
    spread_input: &BTreeMap<(u16, String), (i128, i128)>,
) -> Result<(), AllocateError> {
    let balances: Vec<DayBalance> = store
        .fetch_all(
            &window_query(q::allocations_staged_balance(), window).bind_ident("staging", staging),
        )
        .await?;
    let mut sums: BTreeMap<(u16, String), [i128; 4]> = BTreeMap::new();
    for b in balances {
        let slot = sums.entry((b.day, b.currency)).or_default();
        slot[0] += b.input_billed.0;
        slot[1] += b.input_effective.0;
        slot[2] += b.allocated_billed.0;
        slot[3] += b.allocated_effective.0;
    }
    for ((day, currency), (billed, effective)) in spread_input {
        let slot = sums.entry((*day, currency.clone())).or_default();
        slot[0] += billed;
        slot[1] += effective;
    }
    for ((day, currency), [ib, ie, ab, ae]) in sums {
        if ib != ab || ie != ae {
            return Err(AllocateError::Conservation {
                day: day_string(day),
                currency,
                input_billed: Dec18(ib),
                input_effective: Dec18(ie),
                allocated_billed: Dec18(ab),
                allocated_effective: Dec18(ae),
            });
        }
    }
    Ok(())
}
