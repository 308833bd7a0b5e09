//! The alerting jobs of `costmill serve`: the alert check and Slack posts on `[alerts] schedule`,
//! the weekly email on `[email] schedule`, and every five minutes the retry of deliveries that
//! failed (a Slack or SMTP outage loses nothing: it is sent when the peer is back).
//!
//! Each tick takes the lease `job/<name>` first, so two `serve` processes never run the same job
//! at once (a second one skips the tick), and a message is not sent twice by two processes.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use queries::Store;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Every five minutes, at second 0.
const RETRY_SCHEDULE: &str = "0 */5 * * * *";

/// Spawn the jobs; returns their handles and a line per job for the start-up banner.
pub fn spawn(
    store: &Store,
    config: &Arc<Config>,
    shutdown: &CancellationToken,
) -> Result<(Vec<tokio::task::JoinHandle<()>>, Vec<String>)> {
    let mut handles = Vec::new();
    let mut lines = Vec::new();
    let alerts_schedule: cron::Schedule = config.alerts.schedule.parse()?;
    lines.push(format!(
        "alerts: {} (spikes, month over month, budgets, Slack)",
        config.alerts.schedule
    ));
    handles.push(tokio::spawn(job_loop(
        "alerts",
        alerts_schedule,
        store.clone(),
        shutdown.clone(),
        {
            let config = config.clone();
            move |store| {
                let config = config.clone();
                async move {
                    let today = Utc::now().date_naive();
                    crate::alerts_cmd::check_and_notify(&store, &config, today, true, false).await
                }
            }
        },
    )));
    if !config.email.teams.is_empty() || !config.email.finops.is_empty() {
        let schedule: cron::Schedule = config.email.schedule.parse()?;
        lines.push(format!("weekly email: {}", config.email.schedule));
        handles.push(tokio::spawn(job_loop(
            "email",
            schedule,
            store.clone(),
            shutdown.clone(),
            {
                let config = config.clone();
                move |store| {
                    let config = config.clone();
                    async move {
                        let week = alerts::email::last_complete_week(Utc::now());
                        let sent = alerts::email::send_weekly(
                            &store,
                            &config.email,
                            week,
                            &config.alerts.dashboard_url,
                        )
                        .await?;
                        tracing::info!(sent = sent.sent(), failed = sent.failed(), "weekly email");
                        Ok(())
                    }
                }
            },
        )));
    }
    handles.push(tokio::spawn(job_loop(
        "deliveries",
        RETRY_SCHEDULE.parse()?,
        store.clone(),
        shutdown.clone(),
        {
            let config = config.clone();
            move |store| {
                let config = config.clone();
                async move {
                    alerts::slack::retry_due(&store, &config.alerts.slack).await?;
                    alerts::email::retry_due(&store, &config.email).await?;
                    Ok(())
                }
            }
        },
    )));
    lines.push("failed Slack and email deliveries: retried every 5 minutes".into());
    Ok((handles, lines))
}

async fn job_loop<F, Fut>(
    name: &'static str,
    schedule: cron::Schedule,
    store: Store,
    shutdown: CancellationToken,
    job: F,
) where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = Result<()>>,
{
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
        if let Err(e) = run_once(name, &store, &shutdown, &job).await {
            tracing::error!(job = name, error = %format!("{e:#}"), "job failed; it runs again at its next time");
        }
    }
}

async fn run_once<F, Fut>(
    name: &'static str,
    store: &Store,
    shutdown: &CancellationToken,
    job: &F,
) -> Result<()>
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let lease_name = format!("job/{name}");
    let owner = queries::commit::new_batch_id();
    let info = queries::lease::process_info(&format!("costmill serve, job `{name}`"));
    let lease = match store
        .acquire_lease(
            &lease_name,
            &owner,
            &info,
            queries::lease::DEFAULT_TTL,
            Duration::ZERO,
            shutdown,
        )
        .await
    {
        Ok(lease) => lease,
        Err(queries::StoreError::LeaseHeld { holder, .. }) => {
            tracing::info!(job = name, %holder, "skipped: another process runs this job");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let result = job(store.clone()).await;
    lease.release().await?;
    result
}
