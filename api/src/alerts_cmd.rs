//! `costmill alerts`, `costmill budgets` and `costmill report email`: the alerting library on the
//! command line, and the jobs `costmill serve` runs on their schedules.
use std::path::PathBuf;

use alerts::budget::BudgetStatus;
use alerts::{Alert, AlertState};
use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use clap::Subcommand;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use queries::Store;

use crate::config::Config;
use crate::showback::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Look for spikes and month-over-month changes, check budgets, store what changed and post
    /// new alerts to Slack (what `costmill serve` does on [alerts] schedule).
    Check {
        /// Treat this day as today (YYYY-MM-DD, UTC); detection looks at the days before it.
        #[arg(long)]
        today: Option<NaiveDate>,
        /// Do not post to Slack.
        #[arg(long)]
        no_notify: bool,
    },
    /// Alerts, newest first: open and acknowledged ones, or every one with --all.
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Mark an alert as seen: it is still tracked and resolved when it ends, but not posted again.
    Ack {
        id: String,
        /// Who acknowledged it. Default: $USER.
        #[arg(long)]
        by: Option<String>,
    },
    /// What an alert is about: the series day by day against its baseline, and the causes.
    Explain { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The weekly report: write it as .eml and .html files, or send it to the configured
    /// recipients ([email] in costmill.toml).
    Email {
        /// Monday of the week (YYYY-MM-DD). Default: the last complete week.
        #[arg(long)]
        week: Option<NaiveDate>,
        /// One team's report (default: the FinOps summary of all teams when writing files).
        #[arg(long)]
        team: Option<String>,
        /// Write the message and its HTML to this directory instead of sending.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

pub async fn alerts(store: &Store, config: &Config, command: AlertsCommand) -> Result<()> {
    match command {
        AlertsCommand::Check { today, no_notify } => {
            let today = today.unwrap_or_else(|| Utc::now().date_naive());
            let lease = crate::jobs::send_lease(
                store,
                &queries::commit::new_batch_id(),
                "costmill alerts check",
                &crate::interrupt::cancel_on_signals(),
            )
            .await?;
            let result = check_and_notify(store, config, today, !no_notify, true).await;
            lease.release().await?;
            result
        }
        AlertsCommand::List { all, format } => {
            let states = if all {
                vec![]
            } else {
                vec![AlertState::Open, AlertState::Acknowledged]
            };
            let list = alerts::store::list(store, &states).await?;
            print_alerts(&list, format)?;
            if matches!(format, OutputFormat::Table) {
                print_stuck_deliveries(store).await?;
            }
            Ok(())
        }
        AlertsCommand::Ack { id, by } => {
            let by = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into());
            let alert = alerts::store::acknowledge(store, &id, &by).await?;
            println!(
                "{} is {} ({})",
                alert.id,
                alert.state.as_str(),
                alert.summary
            );
            Ok(())
        }
        AlertsCommand::Explain { id } => explain(store, config, &id).await,
    }
}

/// One alerting pass: detection, budgets, then Slack. `print` writes a summary to stdout.
pub async fn check_and_notify(
    store: &Store,
    config: &Config,
    today: NaiveDate,
    notify: bool,
    print: bool,
) -> Result<()> {
    let report = alerts::run::check(store, &config.alerts, &config.budgets, today).await?;
    if print {
        let day =
            |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "no data".into());
        println!(
            "checked allocated spend up to {}, billing up to {}: {} alert(s) changed, {} open",
            day(report.owners_as_of),
            day(report.billing_as_of),
            report.written.len(),
            report.open.len()
        );
        for a in &report.open {
            println!("  {}  {}", a.id, a.summary);
        }
        if !report.budgets.is_empty() {
            print_budgets(&report.budgets, OutputFormat::Table)?;
        }
    }
    if notify {
        let mut owners = alerts::store::service_owners(store, today - Duration::days(35)).await?;
        // Budget alerts go to the team the budget is about (a service's budget: its owner's).
        for b in &config.budgets {
            let team = b
                .team
                .clone()
                .or_else(|| b.service.as_ref().and_then(|s| owners.get(s).cloned()));
            if let Some(team) = team {
                owners.insert(format!("budget:{}", b.name), team);
            }
        }
        let retried = alerts::slack::retry_due(store, &config.alerts.slack).await?;
        let sent = alerts::slack::notify(
            store,
            &config.alerts.slack,
            &config.alerts.dashboard_url,
            &report.open,
            &owners,
        )
        .await?;
        if print && (sent.sent + sent.failed + retried.sent + retried.failed) > 0 {
            println!(
                "slack: {} posted, {} failed (retried later), {} unknown",
                sent.sent + retried.sent,
                sent.failed + retried.failed,
                sent.unknown + retried.unknown
            );
        }
    }
    Ok(())
}

/// Deliveries that need a person: failed ones (with when they are tried again) and unknown ones
/// (the peer may have received them; they are never sent again automatically).
async fn print_stuck_deliveries(store: &Store) -> Result<()> {
    use alerts::delivery::DeliveryState;
    let mut stuck = Vec::new();
    for prefix in ["slack:", "email:"] {
        stuck.extend(
            alerts::delivery::list(store, prefix)
                .await?
                .into_iter()
                .filter(|d| matches!(d.state, DeliveryState::Failed | DeliveryState::Unknown)),
        );
    }
    if stuck.is_empty() {
        return Ok(());
    }
    println!("\ndeliveries that did not go through:");
    for d in stuck {
        let when = match d.state {
            DeliveryState::Failed if d.next_attempt_at.year() < 2100 => {
                format!(
                    "next attempt {}",
                    d.next_attempt_at.format("%Y-%m-%d %H:%M UTC")
                )
            }
            DeliveryState::Failed => "not retried until the configuration changes".into(),
            _ => "outcome unknown: not sent again; check the channel".into(),
        };
        println!(
            "  {} {} ({} attempt(s), {when}): {}",
            d.channel, d.item, d.attempts, d.last_error
        );
    }
    Ok(())
}

fn print_alerts(list: &[Alert], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(list)?);
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "id",
                "kind",
                "state",
                "dimension",
                "key",
                "currency",
                "first_day",
                "last_day",
                "actual",
                "expected",
                "impact",
                "summary",
            ])?;
            for a in list {
                w.write_record([
                    a.id.as_str(),
                    a.kind.as_str(),
                    a.state.as_str(),
                    &a.dimension,
                    &a.key,
                    &a.currency,
                    &a.first_day.to_string(),
                    &a.last_day.to_string(),
                    &a.actual.to_string(),
                    &a.expected.to_string(),
                    &a.impact.to_string(),
                    &a.summary,
                ])?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            if list.is_empty() {
                println!("no alerts");
                return Ok(());
            }
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header(["id", "state", "kind", "series", "days", "impact", "summary"]);
            for a in list {
                table.add_row(vec![
                    Cell::new(&a.id),
                    Cell::new(a.state.as_str()),
                    Cell::new(a.kind.as_str()),
                    Cell::new(format!("{} {}", a.dimension, a.key)),
                    Cell::new(if a.first_day == a.last_day {
                        a.last_day.to_string()
                    } else {
                        format!("{}..{}", a.first_day, a.last_day)
                    }),
                    Cell::new(alerts::detect::money(a.impact, &a.currency))
                        .set_alignment(CellAlignment::Right),
                    Cell::new(&a.summary),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(())
}

async fn explain(store: &Store, config: &Config, id: &str) -> Result<()> {
    let alert = alerts::store::get(store, id).await?;
    println!(
        "{}  [{} {}, revision {}]",
        alert.id,
        alert.kind.as_str(),
        alert.state.as_str(),
        alert.revision
    );
    println!("{}", alert.summary);
    if !alert.acked_by.is_empty() {
        println!("acknowledged by {}", alert.acked_by);
    }
    let days = alerts::detect::explain_days(store, &config.alerts, &alert).await?;
    if !days.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(["day", "actual", "expected", "difference", ""]);
        for v in &days {
            table.add_row(vec![
                Cell::new(format!("{} {}", v.day, v.day.format("%a"))),
                Cell::new(alerts::detect::money(v.actual, &alert.currency))
                    .set_alignment(CellAlignment::Right),
                Cell::new(alerts::detect::money(v.expected, &alert.currency))
                    .set_alignment(CellAlignment::Right),
                Cell::new(alerts::detect::money(v.difference(), &alert.currency))
                    .set_alignment(CellAlignment::Right),
                Cell::new(if v.anomalous { "anomalous" } else { "" }),
            ]);
        }
        println!("{table}");
    }
    if !alert.causes.is_empty() {
        println!("what changed most:");
        for c in &alert.causes {
            println!(
                "  {:<14} {:<40} {:>20}",
                c.dimension,
                c.value,
                alerts::detect::money(c.amount, &alert.currency)
            );
        }
    }
    if alert.dimension == "service" {
        println!(
            "where its money comes from: costmill explain --service {} --month {}",
            alert.key,
            alert.last_day.format("%Y-%m")
        );
    }
    Ok(())
}

pub async fn budgets(store: &Store, config: &Config, format: OutputFormat) -> Result<()> {
    if config.budgets.is_empty() {
        bail!("no [[budgets]] in the configuration; see the README's Budgets section");
    }
    let statuses = alerts::budget::check(store, &config.budgets, Utc::now().date_naive()).await?;
    print_budgets(&statuses, format)
}

pub fn print_budgets(statuses: &[BudgetStatus], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(statuses)?),
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "budget", "scope", "month", "currency", "amount", "actual", "forecast",
            ])?;
            for s in statuses {
                w.write_record([
                    s.name.as_str(),
                    &s.scope,
                    &s.month.format("%Y-%m").to_string(),
                    &s.currency,
                    &s.amount.to_string(),
                    &s.actual.to_string(),
                    &s.forecast.to_string(),
                ])?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED);
            table.set_header([
                "budget", "scope", "month", "budget", "actual", "", "forecast", "",
            ]);
            for s in statuses {
                let money = |d| alerts::detect::money(d, &s.currency);
                table.add_row(vec![
                    Cell::new(&s.name),
                    Cell::new(&s.scope),
                    Cell::new(s.month.format("%Y-%m")),
                    Cell::new(money(s.amount)).set_alignment(CellAlignment::Right),
                    Cell::new(money(s.actual)).set_alignment(CellAlignment::Right),
                    Cell::new(format!("{}%", s.actual_percent.round_dp(0)))
                        .set_alignment(CellAlignment::Right),
                    Cell::new(money(s.forecast)).set_alignment(CellAlignment::Right),
                    Cell::new(format!("{}%", s.forecast_percent.round_dp(0)))
                        .set_alignment(CellAlignment::Right),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(())
}

pub async fn report(store: &Store, config: &Config, command: ReportCommand) -> Result<()> {
    let ReportCommand::Email { week, team, out } = command;
    let week = week.unwrap_or_else(|| alerts::email::last_complete_week(Utc::now()));
    if week.weekday() != chrono::Weekday::Mon {
        bail!(
            "--week {week} is a {}: give the Monday the week starts on",
            week.format("%A")
        );
    }
    match out {
        Some(dir) => {
            let files = write_email(store, config, week, team.as_deref(), &dir).await?;
            for f in files {
                println!("wrote {}", f.display());
            }
        }
        None => {
            if team.is_some() {
                bail!(
                    "--team only applies with --out; sending goes to every team of [email.teams]"
                );
            }
            let lease = crate::jobs::send_lease(
                store,
                &queries::commit::new_batch_id(),
                "costmill report email",
                &crate::interrupt::cancel_on_signals(),
            )
            .await?;
            let sent = alerts::email::send_weekly(
                store,
                &config.email,
                week,
                &config.alerts.dashboard_url,
            )
            .await;
            lease.release().await?;
            let sent = sent?;
            println!(
                "weekly email of {week}: {} sent, {} failed (retried by `costmill serve`)",
                sent.sent(),
                sent.failed()
            );
        }
    }
    Ok(())
}

/// Render the week's report (one team's, or the FinOps summary) to `dir` as .eml and .html.
pub async fn write_email(
    store: &Store,
    config: &Config,
    week: NaiveDate,
    team: Option<&str>,
    dir: &std::path::Path,
) -> Result<Vec<PathBuf>> {
    let report =
        alerts::email::weekly_report(store, team, week, &config.alerts.dashboard_url).await?;
    let rendered = alerts::email::render(&report)?;
    let to: Vec<String> = match team {
        Some(t) => config.email.teams.get(t).cloned().unwrap_or_default(),
        None => config.email.finops.clone(),
    };
    let to = if to.is_empty() {
        vec!["finops@example.com".to_string()]
    } else {
        to
    };
    let message_id = alerts::email::message_id(&config.email, team, week);
    let message = alerts::email::message(&config.email, &to, &rendered, &message_id)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(alerts::email::write_files(dir, &rendered, &message)?)
}
