//! `costmill allocate`: read a window of cost rows and metrics, run the engine, and replace the
//! window's day partitions of `allocations` atomically; then check conservation in the database.
use std::time::{Duration, Instant};

use clickhouse::{Row, RowOwned, RowRead};
use queries::{q, Dec18, Param, Query, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::kubernetes::{self, NodeDay, PodDay};
use crate::slurm::{self, JobDay};
use crate::{allocate, Allocation, AllocationConfig, CostGroup, MetricValue};

const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum AllocateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing allocations failed: {0}; the previous allocations are unchanged")]
    Insert(#[source] clickhouse::error::Error),
    #[error(
        "conservation check failed on {day}: input billed {input_billed} / effective {input_effective}, \
         allocated billed {allocated_billed} / effective {allocated_effective}. Cost rows may have been \
         ingested meanwhile: run `costmill allocate` again for that window"
    )]
    Conservation {
        day: String,
        input_billed: Dec18,
        input_effective: Dec18,
        allocated_billed: Dec18,
        allocated_effective: Dec18,
    },
}

/// One row of `allocations` as stored.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct StoredAllocation {
    day: u16,
    service: String,
    team: String,
    env: String,
    kind: String,
    pool: String,
    method: String,
    cost_source: String,
    input_ref: String,
    share: Dec18,
    billed: Dec18,
    effective: Dec18,
    input_rows: u64,
    run_id: String,
    computed_at: u32,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct DayRange {
    first_day: u16,
    last_day: u16,
    rows: u64,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct DayBalance {
    day: u16,
    input_billed: Dec18,
    input_effective: Dec18,
    allocated_billed: Dec18,
    allocated_effective: Dec18,
}

#[derive(Debug, Clone)]
pub struct AllocateReport {
    pub run_id: String,
    /// First and one-past-last day of the window (days since 1970-01-01).
    pub window: (u16, u16),
    pub input_groups: usize,
    pub allocations: usize,
    /// Effective cost by kind (direct, pool, unallocated, idle) over the window.
    pub by_kind: Vec<(String, Dec18)>,
    /// Kubernetes node-days that had neither billing rows nor a configured price.
    pub unpriced_node_days: usize,
    /// Slurm job-days in partitions without rates or node cost.
    pub unpriced_job_days: usize,
    pub elapsed: Duration,
}

pub fn day_string(day: u16) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Days::new(u64::from(day)))
    .to_string()
}

fn day_param(day: u16) -> Param {
    Param::DateTime(i64::from(day) * SECONDS_PER_DAY)
}

/// A query over the window `[from, to)` (its `{from:DateTime}` and `{to:DateTime}`).
async fn fetch_window<T: RowOwned + RowRead>(
    store: &Store,
    query: Query,
    (from, to): (u16, u16),
) -> Result<Vec<T>, StoreError> {
    store
        .fetch_all(
            &query
                .bind("from", day_param(from))
                .bind("to", day_param(to)),
        )
        .await
}

/// Allocate `[from, to)` (days since 1970-01-01); without a window, every day with cost data.
pub async fn run(
    store: &Store,
    config: &AllocationConfig,
    window: Option<(u16, u16)>,
) -> Result<AllocateReport, AllocateError> {
    let started = Instant::now();
    let run_id = {
        use rand::Rng;
        format!(
            "{}_{:08x}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            rand::thread_rng().gen::<u32>()
        )
    };
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
        run_id: run_id.clone(),
        window: (from, to),
        input_groups: 0,
        allocations: 0,
        by_kind: vec![],
        unpriced_node_days: 0,
        unpriced_job_days: 0,
        elapsed: Duration::ZERO,
    };
    if from >= to {
        return Ok(report);
    }
    let inputs: Vec<CostGroup> = fetch_window(store, q::allocation_inputs(), (from, to)).await?;
    let metrics_from = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Days::new(u64::from(from.saturating_sub(31)));
    let metrics_to = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Days::new(u64::from(to));
    let metrics: Vec<MetricValue> = store
        .fetch_all(
            &q::allocation_metrics()
                .bind("from", Param::Date(metrics_from))
                .bind("to", Param::Date(metrics_to)),
        )
        .await?;
    let nodes: Vec<NodeDay> = fetch_window(store, q::k8s_node_days(), (from, to)).await?;
    let pods: Vec<PodDay> = fetch_window(store, q::k8s_pod_days(), (from, to)).await?;
    let jobs: Vec<JobDay> = fetch_window(store, q::slurm_job_days(), (from, to)).await?;
    report.input_groups = inputs.len();
    let engine_config = config.clone();
    let (allocations, unpriced, unpriced_jobs) = tokio::task::spawn_blocking(move || {
        let k8s = kubernetes::expand(&engine_config.kubernetes, inputs, &nodes, &pods);
        let hpc = slurm::expand(
            &engine_config.slurm,
            &engine_config.kubernetes,
            k8s.groups,
            &jobs,
        );
        let mut allocations = allocate(&engine_config, &hpc.groups, &metrics);
        allocations.extend(k8s.idle);
        allocations.extend(hpc.idle);
        (allocations, k8s.unpriced_node_days, hpc.unpriced_job_days)
    })
    .await
    .expect("allocation engine panicked");
    if unpriced > 0 {
        tracing::warn!(
            node_days = unpriced,
            "Kubernetes nodes without billing rows or [allocation.kubernetes] instance_prices: their workloads get no cost"
        );
    }
    if unpriced_jobs > 0 {
        tracing::warn!(job_days = unpriced_jobs, "Slurm jobs in partitions without [allocation.slurm.partitions] rates or node cost: they get no cost");
    }
    report.unpriced_node_days = unpriced;
    report.unpriced_job_days = unpriced_jobs;
    report.allocations = allocations.len();
    let mut by_kind: std::collections::BTreeMap<String, i128> = Default::default();
    for a in &allocations {
        *by_kind.entry(a.kind.clone()).or_default() += a.effective.0;
    }
    report.by_kind = by_kind.into_iter().map(|(k, v)| (k, Dec18(v))).collect();

    let staging = format!("allocations_staging_{run_id}");
    store
        .execute(&q::allocations_staging_create().bind_ident("staging", &staging))
        .await?;
    let swapped = write_and_swap(store, &staging, &run_id, allocations, (from, to)).await;
    let dropped = store
        .execute(&q::allocations_staging_drop().bind_ident("staging", &staging))
        .await;
    swapped?;
    dropped?;
    check_conservation(store, (from, to)).await?;
    report.elapsed = started.elapsed();
    tracing::info!(run = %run_id, days = to - from, rows = report.allocations, "allocation committed");
    Ok(report)
}

async fn write_and_swap(
    store: &Store,
    staging: &str,
    run_id: &str,
    allocations: Vec<Allocation>,
    (from, to): (u16, u16),
) -> Result<(), AllocateError> {
    let computed_at = chrono::Utc::now().timestamp() as u32;
    let mut days_with_rows = std::collections::BTreeSet::new();
    let mut insert = store.insert::<StoredAllocation>(staging).await?;
    for a in allocations {
        days_with_rows.insert(a.day);
        let row = StoredAllocation {
            day: a.day,
            service: a.service,
            team: a.team,
            env: a.env,
            kind: a.kind,
            pool: a.pool,
            method: a.method,
            cost_source: a.cost_source,
            input_ref: a.input_ref,
            share: a.share,
            billed: a.billed,
            effective: a.effective,
            input_rows: a.input_rows,
            run_id: run_id.to_string(),
            computed_at,
        };
        insert.write(&row).await.map_err(AllocateError::Insert)?;
    }
    insert.end().await.map_err(AllocateError::Insert)?;
    for day in from..to {
        let partition = day_string(day).replace('-', "");
        let statement = if days_with_rows.contains(&day) {
            q::allocations_replace_day()
                .bind_str("partition", partition)
                .bind_ident("staging", staging)
        } else {
            q::allocations_drop_day().bind_str("partition", partition)
        };
        store.execute(&statement).await?;
    }
    Ok(())
}

/// Allocated = input for every day of the window, billed and effective, to the last digit.
pub async fn check_conservation(
    store: &Store,
    (from, to): (u16, u16),
) -> Result<(), AllocateError> {
    let balances: Vec<DayBalance> =
        fetch_window(store, q::allocation_conservation(), (from, to)).await?;
    for b in balances {
        if b.input_billed != b.allocated_billed || b.input_effective != b.allocated_effective {
            return Err(AllocateError::Conservation {
                day: day_string(b.day),
                input_billed: b.input_billed,
                input_effective: b.input_effective,
                allocated_billed: b.allocated_billed,
                allocated_effective: b.allocated_effective,
            });
        }
    }
    Ok(())
}
