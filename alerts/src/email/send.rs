//! Building the MIME message and sending it over SMTP, one delivery record per recipient and
//! report (`email:<address>`, `report:<team|finops>:<week_start>`), following the protocol of
//! [`crate::delivery`]: a report already `sent` is not sent again; one that may have been delivered
//! (`unknown`, or `sending` left by a process that stopped mid-send) is not sent again either and
//! is reported instead; a refused or unreachable send is `failed` with the time of its next
//! attempt, and [`retry_due`] sends the stored message (the very same bytes) again.
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use lettre::address::{Address, Envelope};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use queries::Store;

use super::format::slug;
use super::{check_monday, render, report_item, weekly_report, RenderedEmail};
use crate::config::EmailConfig;
use crate::delivery::{self, Delivery, DeliveryState};
use crate::AlertError;

/// Pause before the second attempt within one send, doubled per attempt.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Wait before the next round of attempts of a failed delivery, doubled per round, at most
/// [`NEXT_ROUND_MAX`].
const NEXT_ROUND: chrono::Duration = chrono::Duration::minutes(5);
const NEXT_ROUND_MAX: chrono::Duration = chrono::Duration::hours(6);

/// What happened to one report for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Sent before: not sent again.
    AlreadySent,
    /// A previous attempt may have been delivered (`unknown`, or `sending` left by a stopped
    /// process): not sent again, so a person should check.
    MaybeDelivered {
        error: String,
    },
    /// Not delivered; retried at `next_attempt_at` by [`retry_due`] (`None`: never, e.g. an
    /// address that does not parse).
    Failed {
        error: String,
        next_attempt_at: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub recipient: String,
    /// `report:<team|finops>:<week_start>`.
    pub item: String,
    pub outcome: Outcome,
}

/// What one [`send_weekly`] or [`retry_due`] did, per recipient and report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailReport {
    pub deliveries: Vec<DeliveryOutcome>,
}

impl EmailReport {
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.deliveries.iter().filter(|d| pred(&d.outcome)).count()
    }
    pub fn sent(&self) -> usize {
        self.count(|o| *o == Outcome::Sent)
    }
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed { .. }))
    }
    fn push(&mut self, recipient: &str, item: &str, outcome: Outcome) {
        self.deliveries.push(DeliveryOutcome {
            recipient: recipient.to_string(),
            item: item.to_string(),
            outcome,
        });
    }
}

fn from_mailbox(cfg: &EmailConfig) -> Result<Mailbox, AlertError> {
    cfg.from.parse().map_err(|e| AlertError::Config {
        key: "email.from".into(),
        message: format!("`{}` is not an address: {e}", cfg.from),
    })
}

/// Problems of `[email]` for `costmill config check`: `(key, message)` per address that does not
/// parse (the From header, and every recipient).
pub fn validate(cfg: &EmailConfig) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if let Err(AlertError::Config { key, message }) = from_mailbox(cfg) {
        problems.push((key, message));
    }
    let recipients = cfg
        .finops
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("email.finops[{i}]"), a))
        .chain(cfg.teams.iter().flat_map(|(team, list)| {
            list.iter()
                .enumerate()
                .map(move |(i, a)| (format!("email.teams.{team}[{i}]"), a))
        }));
    for (key, address) in recipients {
        if let Err(e) = address.parse::<Mailbox>() {
            problems.push((key, format!("`{address}` is not an address: {e}")));
        }
    }
    problems
}

/// The Message-ID of a report: the same for the same team (or the FinOps summary) and week, so a
/// duplicate is recognisable: `<costmill.report.payments.2026-10-12.1a2b3c4d@example.com>`.
pub fn message_id(cfg: &EmailConfig, team: Option<&str>, week_start: NaiveDate) -> String {
    let domain = cfg
        .from
        .parse::<Mailbox>()
        .map(|m| m.email.domain().to_string())
        .unwrap_or_else(|_| "costmill.localhost".into());
    let key = report_item(team, week_start);
    let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as u32;
    format!(
        "<costmill.report.{}.{week_start}.{hash:08x}@{domain}>",
        slug(team.unwrap_or("finops"))
    )
}

/// The message: multipart/mixed [multipart/alternative [text, multipart/related [html, chart
/// PNG by Content-ID]], CSV attachment].
pub fn message(
    cfg: &EmailConfig,
    to: &[String],
    rendered: &RenderedEmail,
    message_id: &str,
) -> Result<Message, AlertError> {
    let mut builder = Message::builder()
        .from(from_mailbox(cfg)?)
        .subject(&rendered.subject)
        .message_id(Some(message_id.to_string()))
        .user_agent("costmill".into());
    for recipient in to {
        let mailbox: Mailbox = recipient.parse().map_err(|e| AlertError::Email {
            recipient: recipient.clone(),
            message: format!("not an address: {e}"),
        })?;
        builder = builder.to(mailbox);
    }
    let png = ContentType::parse("image/png").expect("static content type");
    let csv = ContentType::parse("text/csv; charset=utf-8").expect("static content type");
    let body = MultiPart::mixed()
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(rendered.text.clone()))
                .multipart(
                    MultiPart::related()
                        .singlepart(SinglePart::html(rendered.html.clone()))
                        .singlepart(
                            Attachment::new_inline(rendered.chart_cid.clone())
                                .body(rendered.chart_png.clone(), png),
                        ),
                ),
        )
        .singlepart(Attachment::new(rendered.csv_filename.clone()).body(rendered.csv.clone(), csv));
    builder.multipart(body).map_err(|e| AlertError::Email {
        recipient: to.join(", "),
        message: format!("building the message: {e}"),
    })
}

/// The SMTP transport of `[email.smtp]`.
fn transport(cfg: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, AlertError> {
    let smtp = &cfg.smtp;
    let tls_err = |e: lettre::transport::smtp::Error| AlertError::Config {
        key: "email.smtp.host".into(),
        message: format!("`{}`: {e}", smtp.host),
    };
    let builder = match smtp.security.as_str() {
        "starttls" => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(tls_err)?
        }
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(tls_err)?,
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        other => {
            return Err(AlertError::Config {
                key: "email.smtp.security".into(),
                message: format!("`{other}`: expected starttls, tls or none"),
            })
        }
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// Whether a failed send may still have delivered the message: the connection broke or timed out
/// mid-session (possibly after the message was sent). Refusals (4xx/5xx replies), failures to
/// connect or to secure the connection, and client-side refusals happen before delivery.
fn may_have_been_delivered(e: &lettre::transport::smtp::Error) -> bool {
    !(e.is_transient() || e.is_permanent() || e.is_client() || e.is_tls() || is_connect(e))
}

fn is_connect(e: &lettre::transport::smtp::Error) -> bool {
    // lettre's Connection kind (connect, resolve, TLS handshake) has no predicate of its own.
    e.to_string().starts_with("Connection error")
}

/// Send the stored message of `d` to its recipient, recording each state.
async fn deliver(
    store: &Store,
    cfg: &EmailConfig,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mut d: Delivery,
) -> Result<Outcome, AlertError> {
    let recipient = d.channel.trim_start_matches("email:").to_string();
    let to: Address = match recipient.parse() {
        Ok(a) => a,
        Err(e) => {
            return Ok(Outcome::Failed {
                error: format!("`{recipient}` is not an address: {e}"),
                next_attempt_at: None,
            })
        }
    };
    let envelope =
        Envelope::new(Some(from_mailbox(cfg)?.email), vec![to]).map_err(|e| AlertError::Email {
            recipient: recipient.clone(),
            message: e.to_string(),
        })?;
    d.state = DeliveryState::Sending;
    delivery::record(store, &d).await?;
    let max = cfg.smtp.max_attempts.max(1);
    let mut pause = RETRY_INITIAL;
    for attempt in 1..=max {
        d.attempts += 1;
        match transport.send_raw(&envelope, d.payload.as_bytes()).await {
            Ok(_) => {
                d.state = DeliveryState::Sent;
                d.last_error.clear();
                delivery::record(store, &d).await?;
                tracing::info!(%recipient, item = %d.item, "weekly email sent");
                return Ok(Outcome::Sent);
            }
            Err(e) => {
                d.last_error = e.to_string();
                if may_have_been_delivered(&e) {
                    d.state = DeliveryState::Unknown;
                    delivery::record(store, &d).await?;
                    tracing::warn!(%recipient, item = %d.item, error = %e,
                        "weekly email may have been delivered; not retried");
                    return Ok(Outcome::MaybeDelivered {
                        error: d.last_error,
                    });
                }
                tracing::warn!(%recipient, item = %d.item, attempt, error = %e, "weekly email not sent");
                if e.is_permanent() || attempt == max {
                    break;
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    let rounds = d.attempts.div_ceil(max).clamp(1, 16);
    let wait = (NEXT_ROUND * 2i32.pow(rounds - 1)).min(NEXT_ROUND_MAX);
    d.state = DeliveryState::Failed;
    d.next_attempt_at = Utc::now() + wait;
    delivery::record(store, &d).await?;
    Ok(Outcome::Failed {
        error: d.last_error,
        next_attempt_at: Some(d.next_attempt_at),
    })
}

/// Send the week's report to each team of `[email.teams]` and the FinOps summary to
/// `[email].finops`. Recipients who already have it are skipped; failed deliveries are tried again.
pub async fn send_weekly(
    store: &Store,
    cfg: &EmailConfig,
    week_start: NaiveDate,
    dashboard_url: &str,
) -> Result<EmailReport, AlertError> {
    check_monday(week_start)?;
    let transport = transport(cfg)?;
    let mut out = EmailReport::default();
    let mut audiences: Vec<(Option<&str>, &[String])> = cfg
        .teams
        .iter()
        .map(|(team, to)| (Some(team.as_str()), to.as_slice()))
        .collect();
    audiences.push((None, cfg.finops.as_slice()));
    for (team, recipients) in audiences {
        let item = report_item(team, week_start);
        let mut pending = Vec::new();
        for recipient in recipients {
            let channel = format!("email:{recipient}");
            match delivery::get(store, &channel, &item).await? {
                Some(d) if d.state == DeliveryState::Sent => {
                    out.push(recipient, &item, Outcome::AlreadySent)
                }
                Some(d) if matches!(d.state, DeliveryState::Unknown | DeliveryState::Sending) => {
                    out.push(
                        recipient,
                        &item,
                        Outcome::MaybeDelivered {
                            error: d.last_error,
                        },
                    )
                }
                existing => pending.push((recipient, channel, existing)),
            }
        }
        if pending.is_empty() {
            continue;
        }
        let report = weekly_report(store, team, week_start, dashboard_url).await?;
        let rendered = render(&report)?;
        let id = message_id(cfg, team, week_start);
        for (recipient, channel, existing) in pending {
            let mut d = match existing {
                // A failed delivery sends the message it stored, byte for byte.
                Some(d) if !d.payload.is_empty() => d,
                _ => {
                    let message =
                        match message(cfg, std::slice::from_ref(recipient), &rendered, &id) {
                            Ok(m) => m,
                            Err(e) => {
                                let error = e.to_string();
                                out.push(
                                    recipient,
                                    &item,
                                    Outcome::Failed {
                                        error,
                                        next_attempt_at: None,
                                    },
                                );
                                continue;
                            }
                        };
                    Delivery::new(channel, item.clone(), formatted(&message))
                }
            };
            d.next_attempt_at = Utc::now();
            let outcome = deliver(store, cfg, &transport, d).await?;
            out.push(recipient, &item, outcome);
        }
    }
    Ok(out)
}

/// The message as sent (lettre encodes every part in 7-bit safe transfer encodings).
fn formatted(message: &Message) -> String {
    String::from_utf8_lossy(&message.formatted()).into_owned()
}

/// Send again the failed weekly emails whose next attempt is due now.
pub async fn retry_due(store: &Store, cfg: &EmailConfig) -> Result<EmailReport, AlertError> {
    retry_due_at(store, cfg, Utc::now()).await
}

/// [`retry_due`] as of `now`.
pub async fn retry_due_at(
    store: &Store,
    cfg: &EmailConfig,
    now: DateTime<Utc>,
) -> Result<EmailReport, AlertError> {
    let due: Vec<Delivery> = delivery::due(store, "email:", now)
        .await?
        .into_iter()
        .filter(|d| d.item.starts_with("report:") && !d.payload.is_empty())
        .collect();
    let mut out = EmailReport::default();
    if due.is_empty() {
        return Ok(out);
    }
    let transport = transport(cfg)?;
    for d in due {
        let (recipient, item) = (
            d.channel.trim_start_matches("email:").to_string(),
            d.item.clone(),
        );
        let outcome = deliver(store, cfg, &transport, d).await?;
        out.push(&recipient, &item, outcome);
    }
    Ok(out)
}

/// Write the email to `dir` as `<name>.eml` (the message as sent), `<name>.html` (with the chart
/// beside it as `<name>.png` instead of `cid:`), and `<name>.csv`; returns the paths written.
pub fn write_files(
    dir: &Path,
    rendered: &RenderedEmail,
    message: &Message,
) -> Result<Vec<PathBuf>, AlertError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AlertError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stem = rendered
        .csv_filename
        .strip_suffix(".csv")
        .unwrap_or(&rendered.csv_filename);
    let png_name = format!("{stem}.png");
    let html = rendered
        .html
        .replace(&format!("cid:{}", rendered.chart_cid), &png_name);
    let files: [(String, &[u8]); 4] = [
        (format!("{stem}.eml"), &message.formatted()),
        (format!("{stem}.html"), html.as_bytes()),
        (png_name.clone(), &rendered.chart_png),
        (format!("{stem}.csv"), rendered.csv.as_bytes()),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}
