//! The alerting jobs of `costmill serve`: the alert check and Slack posts on `[alerts] schedule`,
//! the weekly email on `[email] schedule`, and every five minutes the retry of deliveries that
//! failed (a Slack or SMTP outage loses nothing: it is sent when the peer is back).
//!
//! Every one of those sends messages, so each tick first takes the one lease [`SEND_LEASE`]
//! (waiting up to ten minutes for another job, or another process, to finish): two senders never
//! read the same delivery records at once, so no message is sent twice. `costmill alerts check`
//! and `costmill report email` take it too.
//!
//! With a migration executor configured, the executor run (`costmill migrations execute`) runs
//! on `[migrations] schedule` too; it takes its own lease, not the senders'.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use queries::Store;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The lease every sender holds.
pub const SEND_LEASE: &str = "job/send";
/// How long a sender waits for the lease before it gives up on the tick.
pub const SEND_WAIT: Duration = Duration::from_secs(600);

/// Every five minutes, at second 0.
const RETRY_SCHEDULE: &str = "0 */5 * * * *";

/// One tick of a job.
type Tick = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
/// What a job does on one tick.
type Job = fn(Store, Arc<Config>) -> Tick;

fn alert_check(store: Store, config: Arc<Config>) -> Tick {
    Box::pin(async move {
        let today = Utc::now().date_naive();
        crate::alerts_cmd::check_and_notify(&store, &config, today, true, false).await
    })
}

fn migrations_run(store: Store, config: Arc<Config>) -> Tick {
    Box::pin(async move {
        let items =
            crate::migrations_exec::execute(&store, &config.migrations, false, None).await?;
        for i in &items {
            tracing::info!(migration = %i.id, workload = %i.workload, step = i.step, result = i.result, message = %i.message, "migration");
        }
        Ok(())
    })
}

fn weekly_email(store: Store, config: Arc<Config>) -> Tick {
    Box::pin(async move {
        let week = alerts::email::last_complete_week(Utc::now());
        let sent =
            alerts::email::send_weekly(&store, &config.email, week, &config.alerts.dashboard_url)
                .await?;
        tracing::info!(sent = sent.sent(), failed = sent.failed(), "weekly email");
        Ok(())
    })
}

fn retry_deliveries(store: Store, config: Arc<Config>) -> Tick {
    Box::pin(async move {
        alerts::slack::retry_due(&store, &config.alerts.slack).await?;
        alerts::email::retry_due(&store, &config.email).await?;
        Ok(())
    })
}

/// Spawn the jobs; returns their handles and a line per job for the start-up banner.
pub fn spawn(
    store: &Store,
    config: &Arc<Config>,
    shutdown: &CancellationToken,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Vec<String>)> {
    let mut jobs: Vec<(&'static str, &str, Job, String)> = vec![(
        "alerts",
        config.alerts.schedule.as_str(),
        alert_check,
        format!(
            "alerts: {} (spikes, month over month, budgets, Slack)",
            config.alerts.schedule
        ),
    )];
    if config.migrations.any_executor() {
        jobs.push((
            "migrations",
            config.migrations.schedule.as_str(),
            migrations_run,
            format!(
                "migrations: {} (approved moves and rollbacks{})",
                config.migrations.schedule,
                if config.migrations.policy.dry_run {
                    ", dry run"
                } else {
                    ""
                }
            ),
        ));
    }
    if !config.email.teams.is_empty() || !config.email.finops.is_empty() {
        jobs.push((
            "email",
            config.email.schedule.as_str(),
            weekly_email,
            format!("weekly email: {}", config.email.schedule),
        ));
    }
    jobs.push((
        "deliveries",
        RETRY_SCHEDULE,
        retry_deliveries,
        "failed Slack and email deliveries: retried every 5 minutes".into(),
    ));
    let mut handles = Vec::new();
    let mut lines = Vec::new();
    for (name, schedule, job, line) in jobs {
        let schedule: cron::Schedule = schedule.parse()?;
        handles.push(tokio::spawn(job_loop(
            name,
            schedule,
            store.clone(),
            config.clone(),
            shutdown.clone(),
            job,
        )));
        lines.push(line);
    }
    Ok((handles, lines))
}

async fn job_loop(
    name: &'static str,
    schedule: cron::Schedule,
    store: Store,
    config: Arc<Config>,
    shutdown: CancellationToken,
    job: Job,
) {
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            tracing::warn!(job = name, "the schedule has no future time");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let run = async {
            let owner = queries::commit::new_batch_id();
            let what = format!("costmill serve, job `{name}`");
            if name == "migrations" {
                return job(store.clone(), config.clone()).await;
            }
            let lease = send_lease(&store, &owner, &what, &shutdown).await?;
            let result = job(store.clone(), config.clone()).await;
            lease.release().await?;
            result
        };
        if let Err(e) = run.await {
            tracing::error!(job = name, error = %format!("{e:#}"), "job failed; it runs again at its next time");
        }
    }
}

/// The senders' lease, waiting up to [`SEND_WAIT`] for the holder to finish.
pub async fn send_lease(
    store: &Store,
    owner: &str,
    what: &str,
    shutdown: &CancellationToken,
) -> Result<queries::lease::Lease> {
    let info = queries::lease::process_info(what);
    Ok(store
        .acquire_lease(
            SEND_LEASE,
            owner,
            &info,
            queries::lease::DEFAULT_TTL,
            SEND_WAIT,
            shutdown,
        )
        .await?)
}

/// Take the lease `name` now or not at all: `None` (logged) when another process holds it.
/// `kind` (`source`, `job`) words the log line.
pub async fn lease_or_skip(
    store: &Store,
    kind: &str,
    name: &str,
    owner: &str,
    what: &str,
    shutdown: &CancellationToken,
) -> Result<Option<queries::lease::Lease>> {
    let info = queries::lease::process_info(what);
    match store
        .acquire_lease(
            name,
            owner,
            &info,
            queries::lease::DEFAULT_TTL,
            Duration::ZERO,
            shutdown,
        )
        .await
    {
        Ok(lease) => Ok(Some(lease)),
        Err(queries::StoreError::LeaseHeld { holder, .. }) => {
            tracing::info!(lease = name, %holder, "skipped: another process is running this {kind}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
