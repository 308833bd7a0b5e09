//! `costmill serve`: every configured source with a `schedule` runs on its cron expression (UTC),
//! then the days it changed are allocated again. One run per source at a time, even across
//! several `serve` processes on one database (a lease in ClickHouse); a failing run is retried
//! with exponential backoff and jitter; every run is logged in `source_runs` for
//! `costmill sources status`. /healthz and /readyz answer on `[serve] listen`; SIGTERM stops
//! scheduling, lets a running job finish or abort cleanly, then exits.
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use backon::{ExponentialBuilder, Retryable};
use clap::Args;
use ingest::{IngestError, RunOptions, RunReport, SourceConfig};
use queries::Store;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::{AppState, ResponseCache};
use crate::interrupt::cancel_on_signals;
use crate::metrics::Metrics;
use crate::status::RunFailure;

pub use crate::status::print_status;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for /healthz and /readyz. Default: `[serve] listen`, else 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub async fn serve(config: Config, args: ServeArgs) -> Result<()> {
    let store = Store::open(&config.clickhouse, &config.data_dir).await?;
    let listen = match args.listen {
        Some(addr) => addr,
        None => config
            .serve
            .listen
            .parse()
            .context("[serve] listen is not an address")?,
    };
    let shutdown = cancel_on_signals();
    let config = Arc::new(config);
    let metrics = Metrics::new();
    let state = AppState::new(store.clone(), config.clone(), metrics.clone());
    let accepting = state.accepting.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let cache = state.cache.clone();
    let app = crate::http::router(state);
    // HTTP stays up while running jobs drain, /readyz answering 503, so a load balancer sees
    // the drain; it stops once the jobs have ended.
    let http_shutdown = CancellationToken::new();
    let http_stop = http_shutdown.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
    });
    println!(
        "costmill serve: listening on http://{listen} (/healthz, /readyz; REST API /v1, /metrics)"
    );

    let mut jobs = Vec::new();
    for source in config.sources.iter().filter(|s| s.schedule().is_some()) {
        let schedule: cron::Schedule = source
            .schedule()
            .expect("filtered")
            .parse()
            .with_context(|| format!("source `{}`: schedule", source.name()))?;
        println!(
            "  source `{}`: {}",
            source.name(),
            source.schedule().unwrap_or_default()
        );
        jobs.push(tokio::spawn(schedule_loop(
            store.clone(),
            metrics.clone(),
            cache.clone(),
            config.clone(),
            source.clone(),
            schedule,
            shutdown.clone(),
        )));
    }
    if jobs.is_empty() {
        println!("  no [[sources]] with a `schedule`");
    }
    let (alert_jobs, lines) = crate::jobs::spawn(&store, &config, &shutdown)?;
    for line in lines {
        println!("  {line}");
    }
    jobs.extend(alert_jobs);
    shutdown.cancelled().await;
    accepting.store(false, Ordering::SeqCst);
    tracing::info!("shutting down: waiting for running jobs to finish or abort");
    for job in jobs {
        let _ = job.await;
    }
    http_stop.cancel();
    http.await
        .context("HTTP server task")?
        .context("HTTP server")?;
    println!("costmill serve: stopped");
    Ok(())
}

async fn schedule_loop(
    store: Store,
    metrics: Metrics,
    cache: ResponseCache,
    config: Arc<Config>,
    source: SourceConfig,
    schedule: cron::Schedule,
    shutdown: CancellationToken,
) {
    loop {
        let Some(next) = schedule.upcoming(chrono::Utc).next() else {
            tracing::warn!(source = source.name(), "the schedule has no future time");
            return;
        };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if let Err(e) = scheduled_run(&store, &metrics, &config, &source, next, &shutdown).await {
            tracing::error!(source = source.name(), error = %format!("{e:#}"), "scheduled run failed");
        }
        // What the run landed is answered at once, not after the cache's next look.
        cache.invalidate().await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Whether trying again can help: not for refused input, a signal, missing permissions or a
/// bad cluster setting (those wait for a person).
fn retryable(error: &IngestError) -> bool {
    use ingest::sources::kubernetes::KubernetesError;
    !matches!(
        error,
        IngestError::Invalid { .. }
            | IngestError::Cancelled
            | IngestError::NoInput
            | IngestError::Store(queries::StoreError::Cancelled)
            | IngestError::Kubernetes(
                KubernetesError::Forbidden { .. }
                    | KubernetesError::Config { .. }
                    | KubernetesError::Kubeconfig { .. }
                    | KubernetesError::InCluster { .. }
            )
    )
}

/// One scheduled run of the tick at `tick`: take the source's lease (skip if another process
/// runs it, or already ran this tick), run with retries, allocate the days it changed, then save
/// the checkpoint, so that a run whose allocation failed or was stopped is read again next time.
pub async fn scheduled_run(
    store: &Store,
    metrics: &Metrics,
    config: &Config,
    source: &SourceConfig,
    tick: chrono::DateTime<chrono::Utc>,
    shutdown: &CancellationToken,
) -> Result<Option<RunReport>> {
    let run_id = queries::commit::new_batch_id();
    let what = format!("costmill serve, source `{}`", source.name());
    let lease_name = format!("source/{}", source.name());
    let Some(lease) =
        crate::jobs::lease_or_skip(store, "source", &lease_name, &run_id, &what, shutdown).await?
    else {
        return Ok(None);
    };
    // Another process may have run this tick and released the lease before we claimed it.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Count {
        n: u64,
    }
    let ran: Vec<Count> = store
        .fetch_all(
            &queries::q::source_runs_since()
                .bind_str("source", source.name())
                .bind("since", queries::Param::DateTime(tick.timestamp())),
        )
        .await?;
    if ran.first().is_some_and(|c| c.n > 0) {
        tracing::info!(
            source = source.name(),
            "skipped: another process already ran this tick"
        );
        lease.release().await?;
        return Ok(None);
    }
    // Losing the lease (a renewal failed and another took over) stops the run like a signal.
    let cancel = shutdown.child_token();
    let lost = lease.lost().clone();
    let on_lost = cancel.clone();
    let watcher = tokio::spawn(async move {
        lost.cancelled().await;
        on_lost.cancel();
    });
    let started = chrono::Utc::now();
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let built = source.build();
    let options = RunOptions {
        cancel: cancel.clone(),
        defer_checkpoint: true,
        ..source.run_options()
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(config.serve.retry_initial_secs))
        .with_max_delay(Duration::from_secs(config.serve.retry_max_secs))
        .with_max_times(config.serve.max_attempts.saturating_sub(1) as usize)
        .with_jitter();
    let ingested = (|| async {
        attempts.fetch_add(1, Ordering::SeqCst);
        ingest::run_source(store, built.as_ref(), &options).await
    })
    .retry(backoff)
    .sleep(tokio::time::sleep)
    .when(|e| retryable(e) && !cancel.is_cancelled())
    .notify(|e, delay| {
        tracing::warn!(source = source.name(), error = %e, retry_in = ?delay, "source run failed; retrying")
    })
    .await;
    let result = match ingested {
        Ok(report) => follow_up(store, config, source, &report, &cancel)
            .await
            .map(|()| report),
        Err(e) => Err(RunFailure::from(&e)),
    };
    let attempts = attempts.load(Ordering::SeqCst);
    crate::status::log_run(
        store,
        source.name(),
        &run_id,
        "schedule",
        started,
        attempts,
        &result,
    )
    .await?;
    let (outcome, rows) = match &result {
        Ok(report) => ("ok", report.rows()),
        Err(failure) if failure.aborted => ("aborted", 0),
        Err(_) => ("failed", 0),
    };
    let elapsed = (chrono::Utc::now() - started).to_std().unwrap_or_default();
    metrics.record_run(source.name(), outcome, rows, elapsed);
    watcher.abort();
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "could not release the source lease; it expires by itself");
    }
    match result {
        Ok(report) => Ok(Some(report)),
        Err(failure) => anyhow::bail!("{}", failure.message),
    }
}

/// After a landed run: allocate the days it changed, then save its checkpoint.
async fn follow_up(
    store: &Store,
    config: &Config,
    source: &SourceConfig,
    report: &RunReport,
    cancel: &CancellationToken,
) -> Result<(), RunFailure> {
    if let (Some(window), false) = (report.days, config.allocation.rules.is_empty()) {
        let options = allocator::run::AllocateOptions {
            cancel: cancel.clone(),
            ..allocator::run::AllocateOptions::default()
        };
        match allocator::run::run_with(store, &config.allocation, Some(window), &options).await {
            Ok(allocated) => {
                tracing::info!(source = source.name(), rows = allocated.allocations, "allocated the changed days")
            }
            Err(e) => {
                return Err(RunFailure {
                    message: format!(
                        "landed, but allocating the changed days failed: {e}; the next run lands and allocates them again"
                    ),
                    aborted: cancel.is_cancelled(),
                })
            }
        }
    }
    if let Some(checkpoint) = &report.checkpoint {
        ingest::runner::save_checkpoint(store, source.name(), checkpoint)
            .await
            .map_err(|e| RunFailure::from(&e))?;
    }
    Ok(())
}
