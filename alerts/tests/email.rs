//! The weekly email end to end: seeded allocations in a real ClickHouse, sent over SMTP to a real
//! server (aiosmtpd, tests/support/smtp.rs), parsed back as a mail client would, and checked
//! against what `costmill costs --by team` reports (sql/allocations_by_group.sql) and against an
//! independent sum of the seeded rows.
#[path = "support/email_seed.rs"]
mod seed;
#[path = "support/smtp.rs"]
mod smtp;

use std::collections::BTreeMap;

use alerts::config::SmtpConfig;
use alerts::delivery::{self, DeliveryState};
use alerts::email::{self, Outcome, WeeklyReport};
use alerts::{AlertKind, AlertState, EmailConfig};
use chrono::{Duration, NaiveDate, Utc};
use queries::testing::test_store;
use queries::{q, Dec18, Param, Store};
use rust_decimal::Decimal;
use seed::{AllocationRow, Seeded};
use smtp::{Delivered, SmtpServer};

const DASHBOARD: &str = "https://grafana.example.com/d/costmill/costs";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn week() -> NaiveDate {
    day("2026-10-12")
}

/// Seeded allocations from 2026-08-03 to 2026-10-25: the report week, the eight weeks before it,
/// the previous month, and a week after it that no figure may include.
async fn seeded(name: &str) -> (Store, Vec<AllocationRow>) {
    let store = test_store(name).await;
    let spike = ("fraud-detector", day("2026-10-14"), day("2026-10-16"));
    let rows = seed::allocations(7, day("2026-08-03"), day("2026-10-25"), spike);
    seed::insert_allocations(&store, &rows).await;
    (store, rows)
}

fn config(port: u16) -> EmailConfig {
    EmailConfig {
        from: "costmill <costmill@example.com>".into(),
        smtp: SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: "none".into(),
            max_attempts: 2,
            timeout_secs: 10,
            ..SmtpConfig::default()
        },
        ..EmailConfig::default()
    }
}

/// `1,234,567.89`: how the email shows an amount (the form of `costmill costs`).
fn money(value: Decimal) -> String {
    let text = format!("{:.2}", value.round_dp(2).abs());
    let (int, frac) = text.split_once('.').unwrap();
    let digits: Vec<char> = int.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    let sign = if value.round_dp(2) < Decimal::ZERO {
        "-"
    } else {
        ""
    };
    format!("{sign}{out}.{frac}")
}

/// The seeded rows summed per currency over `from ..= to`, for one team or all.
fn expected(
    rows: &[AllocationRow],
    team: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<String, Decimal> {
    let mut out = BTreeMap::new();
    for r in rows {
        if team.is_none_or(|t| r.team == t) && from <= r.date() && r.date() <= to {
            *out.entry(r.currency.clone()).or_insert(Decimal::ZERO) += r.amount();
        }
    }
    out
}

/// sql/allocations_by_group.sql, as `costmill costs --by team --from F --to T` runs it.
#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct GroupMonthCost {
    #[allow(dead_code)]
    month: u32,
    grp: String,
    currency: String,
    #[allow(dead_code)]
    billed: Dec18,
    effective: Dec18,
    #[allow(dead_code)]
    list: Dec18,
}

/// What `costmill costs --by team` reports for `from ..= to`, per team and currency (summed over
/// the months it lists).
async fn costs_by_team(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(String, String), Decimal> {
    let secs = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    let query = q::allocations_by_group()
        .bind_str("by", "team")
        .bind("from", Param::DateTime(secs(from)))
        .bind("to", Param::DateTime(secs(to + Duration::days(1))));
    let mut out = BTreeMap::new();
    for r in store.fetch_all::<GroupMonthCost>(&query).await.unwrap() {
        *out.entry((r.grp, r.currency)).or_insert(Decimal::ZERO) +=
            r.effective.to_decimal().unwrap();
    }
    out
}

fn week_totals(report: &WeeklyReport) -> BTreeMap<String, Decimal> {
    report
        .currencies
        .iter()
        .map(|c| (c.currency.clone(), c.totals.week))
        .collect()
}

/// The CSV attachment summed per currency over `from ..= to`.
fn csv_totals(csv: &str, from: NaiveDate, to: NaiveDate) -> BTreeMap<String, Decimal> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["day", "team", "service", "currency", "effective_cost"]
    );
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let d = day(&record[0]);
        if from <= d && d <= to {
            *out.entry(record[3].to_string()).or_insert(Decimal::ZERO) +=
                record[4].parse::<Decimal>().unwrap();
        }
    }
    out
}

fn for_recipient<'a>(messages: &'a [Delivered], to: &str) -> &'a Delivered {
    let found: Vec<&Delivered> = messages.iter().filter(|m| m.to.contains(to)).collect();
    assert_eq!(found.len(), 1, "messages to {to}: {}", found.len());
    found[0]
}

/// The inline chart decodes as a PNG of the size the chart is drawn at, with a real picture in it.
fn check_chart(message: &Delivered) {
    assert_eq!(message.images.len(), 1);
    let image = &message.images[0];
    assert_eq!(image.content_type, "image/png");
    let cid = image.content_id.trim_matches(|c| c == '<' || c == '>');
    assert!(
        message.html.contains(&format!("src=\"cid:{cid}\"")),
        "the HTML refers to the chart by its Content-ID {cid}"
    );
    let bytes = image.bytes();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.width, 1152);
    assert!(info.height >= 600, "{}", info.height);
    let colours: std::collections::BTreeSet<&[u8]> = pixels.chunks(3).collect();
    assert!(
        colours.len() > 50,
        "a chart, not a blank image: {} colours",
        colours.len()
    );
}

#[tokio::test]
async fn the_weekly_email_arrives_with_the_figures_costmill_costs_reports() {
    let (store, rows) = seeded("email_weekly").await;
    let open = |id, dim, key| seed::alert(id, AlertKind::Spike, dim, key, AlertState::Open);
    let mut acked = seed::alert(
        "a-acked",
        AlertKind::Spike,
        "team",
        "payments",
        AlertState::Open,
    );
    acked.state = AlertState::Acknowledged;
    let alerts = [
        open("a-fraud", "service", "fraud-detector"),
        open("a-payments", "team", "payments"),
        open("a-search", "service", "search-api"),
        acked,
    ];
    alerts::store::save(&store, &alerts).await.unwrap();
    seed::insert_recommendations(&store).await;

    let server = SmtpServer::start(None);
    let mut cfg = config(server.port);
    cfg.teams.insert(
        "payments".into(),
        vec!["alice@example.com".into(), "bob@example.com".into()],
    );
    cfg.teams
        .insert("search".into(), vec!["carol@example.com".into()]);
    cfg.finops = vec!["finops@example.com".into()];

    let report = email::send_weekly(&store, &cfg, week(), DASHBOARD)
        .await
        .unwrap();
    assert_eq!(report.sent(), 4, "{report:?}");
    let messages = server.messages();
    assert_eq!(messages.len(), 4);

    let (first, last) = (week(), week() + Duration::days(6));
    let costs = costs_by_team(&store, first, last).await;

    // The payments team's report.
    let alice = for_recipient(&messages, "alice@example.com");
    let payments = email::weekly_report(&store, Some("payments"), week(), DASHBOARD)
        .await
        .unwrap();
    let independent = expected(&rows, Some("payments"), first, last);
    assert_eq!(independent.len(), 2, "payments is billed in USD and EUR");
    assert_eq!(week_totals(&payments), independent);
    for (currency, total) in &independent {
        assert_eq!(costs[&("payments".to_string(), currency.clone())], *total);
        let shown = format!("{} {currency}", money(*total));
        assert!(
            alice.subject.contains(&shown),
            "subject {} lacks {shown}",
            alice.subject
        );
        assert!(alice.html.contains(&money(*total)), "HTML lacks {shown}");
        assert!(alice.text.contains(&shown), "text lacks {shown}");
    }
    let month = expected(&rows, Some("payments"), day("2026-10-01"), last);
    let usd = &payments
        .currencies
        .iter()
        .find(|c| c.currency == "USD")
        .unwrap()
        .totals;
    assert_eq!(usd.month_to_date, month["USD"]);
    let previous = expected(
        &rows,
        Some("payments"),
        day("2026-09-01"),
        day("2026-09-18"),
    );
    assert_eq!(usd.previous_month_to_date, previous["USD"]);
    let previous_week = expected(
        &rows,
        Some("payments"),
        first - Duration::days(7),
        first - Duration::days(1),
    );
    assert_eq!(usd.previous_week, previous_week["USD"]);

    assert_eq!(alice.from, "costmill <costmill@example.com>");
    assert_eq!(
        alice.structure,
        "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],text/csv]"
    );
    assert_eq!(
        alice.message_id,
        email::message_id(&cfg, Some("payments"), week())
    );
    check_chart(alice);

    // The CSV: the daily rows of the chart's eight weeks; its week equals the report's.
    assert_eq!(alice.attachments.len(), 1);
    let csv = &alice.attachments[0];
    assert_eq!(csv.filename, "costmill-payments-2026-10-12.csv");
    assert_eq!(csv.content_type, "text/csv");
    assert_eq!(csv_totals(&csv.text, first, last), independent);
    let chart_first = first - Duration::days(49);
    assert_eq!(
        csv_totals(&csv.text, NaiveDate::MIN, NaiveDate::MAX),
        expected(&rows, Some("payments"), chart_first, last),
        "the CSV holds every day of the eight weeks and nothing outside them"
    );

    // The movers, the pools, the anomalies and recommendations of payments only.
    assert_eq!(
        payments.movers[0].service, "fraud-detector",
        "{:?}",
        payments.movers
    );
    assert!(alice.html.contains("fraud-detector"));
    let kafka = payments.pools.iter().find(|p| p.pool == "kafka").unwrap();
    let kafka_expected: Decimal = rows
        .iter()
        .filter(|r| {
            r.team == "payments" && r.pool == "kafka" && first <= r.date() && r.date() <= last
        })
        .map(|r| r.amount())
        .sum();
    assert_eq!(kafka.amount, kafka_expected);
    assert!(
        kafka
            .why()
            .starts_with("proportional to kafka_bytes (fallback on 1 day"),
        "{}",
        kafka.why()
    );
    assert!(alice.html.contains(&money(kafka.amount)));
    assert!(alice.html.contains("k8s-core &gt; commitments"));
    assert!(
        !alice.html.contains("fixed shares"),
        "cdc charges data, not payments"
    );
    for (id, shown) in [
        ("a-fraud", true),
        ("a-payments", true),
        ("a-search", false),
        ("a-acked", false),
    ] {
        assert_eq!(alice.html.contains(&format!("{id} summary")), shown, "{id}");
    }
    assert!(alice.html.contains("Rightsize payments-api"));
    assert!(alice.html.contains("1,310.00 USD"));
    assert!(
        !alice.html.contains("OLD: shrink checkout"),
        "only the latest computation"
    );
    assert!(
        !alice.html.contains("etl-jobs on spot"),
        "another team's recommendation"
    );
    assert!(alice.html.contains(DASHBOARD));

    // Bob gets the same message; search's report says it has no recommendations in one line.
    let bob = for_recipient(&messages, "bob@example.com");
    assert_eq!(
        (&bob.subject, &bob.message_id),
        (&alice.subject, &alice.message_id)
    );
    let carol = for_recipient(&messages, "carol@example.com");
    assert!(carol.html.contains("No recommendations this week."));
    assert!(carol.html.contains("a-search summary") && !carol.html.contains("a-fraud summary"));
    let search = expected(&rows, Some("search"), first, last)["USD"];
    assert!(
        carol.subject.contains(&format!("{} USD", money(search))),
        "{}",
        carol.subject
    );

    // The FinOps summary: every team, every currency, never added across currencies.
    let finops = for_recipient(&messages, "finops@example.com");
    let all = expected(&rows, None, first, last);
    let summary = email::weekly_report(&store, None, week(), DASHBOARD)
        .await
        .unwrap();
    assert_eq!(week_totals(&summary), all);
    for (currency, total) in &all {
        let by_costs: Decimal = costs
            .iter()
            .filter(|((_, c), _)| c == currency)
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(by_costs, *total);
        assert!(
            finops
                .subject
                .contains(&format!("{} {currency}", money(*total))),
            "{}",
            finops.subject
        );
    }
    let usd = summary
        .currencies
        .iter()
        .find(|c| c.currency == "USD")
        .unwrap();
    assert_eq!(usd.teams.len(), 5);
    for team in &usd.teams {
        assert_eq!(
            team.totals.week,
            costs[&(team.team.clone(), "USD".to_string())]
        );
        assert!(finops
            .html
            .contains(&format!("<strong>{}</strong>", team.team)));
    }
    assert_eq!(csv_totals(&finops.attachments[0].text, first, last), all);
    // Top eight services by name, the other five summed as "other", exactly.
    let chart = summary.daily.iter().find(|d| d.currency == "USD").unwrap();
    assert_eq!(chart.series.len(), 9);
    assert_eq!(chart.series[8].name, email::OTHER);
    for (i, d) in chart.days.iter().enumerate() {
        let charted: Decimal = chart.series.iter().map(|s| s.values[i]).sum();
        assert_eq!(Some(&charted), expected(&rows, None, *d, *d).get("USD"));
    }
    assert!(finops.html.contains("a-search summary") && finops.html.contains("etl-jobs on spot"));
    check_chart(finops);

    // Sending again sends nothing: every recipient already has it.
    let again = email::send_weekly(&store, &cfg, week(), DASHBOARD)
        .await
        .unwrap();
    assert_eq!(again.sent(), 0);
    assert_eq!(again.count(|o| *o == Outcome::AlreadySent), 4);
    assert_eq!(server.messages().len(), 4);

    // The demo's files: the message as sent, and the HTML with the chart beside it.
    let dir = match std::env::var_os("COSTMILL_EMAIL_PREVIEW_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => tempfile::tempdir().unwrap().keep(),
    };
    for (team, report) in [(Some("payments"), &payments), (None, &summary)] {
        let rendered = email::render(report).unwrap();
        let id = email::message_id(&cfg, team, week());
        let message = email::message(&cfg, &["alice@example.com".into()], &rendered, &id).unwrap();
        let files = email::write_files(&dir, &rendered, &message).unwrap();
        let html = std::fs::read_to_string(&files[1]).unwrap();
        assert!(html.contains(&format!(
            "src=\"{}\"",
            files[2].file_name().unwrap().to_str().unwrap()
        )));
        assert_eq!(std::fs::read(&files[2]).unwrap(), rendered.chart_png);
        assert!(std::fs::read_to_string(&files[0])
            .unwrap()
            .contains(&format!("Message-ID: {id}")));
    }
}

#[tokio::test]
async fn a_week_across_two_months_adds_both_months_exactly() {
    let (store, rows) = seeded("email_month_boundary").await;
    let (first, last) = (day("2026-09-28"), day("2026-10-04"));
    let costs = costs_by_team(&store, first, last).await;
    for team in ["payments", "data"] {
        let report = email::weekly_report(&store, Some(team), first, "")
            .await
            .unwrap();
        let independent = expected(&rows, Some(team), first, last);
        assert_eq!(week_totals(&report), independent);
        for (currency, total) in &independent {
            assert_eq!(costs[&(team.to_string(), currency.clone())], *total);
        }
        // October to date is four days, against the first four of September.
        assert_eq!(
            (report.month.first, report.month.last),
            (day("2026-10-01"), last)
        );
        let usd = &report
            .currencies
            .iter()
            .find(|c| c.currency == "USD")
            .unwrap()
            .totals;
        assert_eq!(
            usd.month_to_date,
            expected(&rows, Some(team), day("2026-10-01"), last)["USD"]
        );
        assert_eq!(
            usd.previous_month_to_date,
            expected(&rows, Some(team), day("2026-09-01"), day("2026-09-04"))["USD"]
        );
    }
    let err = email::weekly_report(&store, None, day("2026-09-29"), "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("starts on a Monday"), "{err}");
}

#[tokio::test]
async fn a_failed_send_is_retried_when_due_and_never_sent_twice() {
    let (store, rows) = seeded("email_retry").await;
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    let port = smtp::free_port();
    let mut cfg = config(port);
    cfg.teams.insert(
        "data".into(),
        vec!["dana@example.com".into(), "erin@example.com".into()],
    );
    // Erin's copy may have gone out before a crash: it is never sent again.
    let mut maybe = delivery::Delivery::new(
        "email:erin@example.com",
        "report:data:2026-10-12",
        "Subject: x\r\n\r\nx".into(),
    );
    maybe.state = DeliveryState::Unknown;
    delivery::record(&store, &maybe).await.unwrap();

    // Nobody listens: the delivery is recorded failed, with its next attempt later.
    let before = Utc::now();
    let report = email::send_weekly(&store, &cfg, week(), DASHBOARD)
        .await
        .unwrap();
    assert_eq!(report.failed(), 1, "{report:?}");
    let outcome = |recipient: &str| {
        let d = report.deliveries.iter().find(|d| d.recipient == recipient);
        d.unwrap().outcome.clone()
    };
    assert!(matches!(
        outcome("erin@example.com"),
        Outcome::MaybeDelivered { .. }
    ));
    let Outcome::Failed {
        error,
        next_attempt_at,
    } = outcome("dana@example.com")
    else {
        panic!("{report:?}")
    };
    assert!(error.contains("Connection"), "{error}");
    assert!(next_attempt_at.unwrap() >= before + Duration::minutes(5));
    let item = "report:data:2026-10-12";
    let record = delivery::get(&store, "email:dana@example.com", item)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.state, record.attempts), (DeliveryState::Failed, 2));
    assert!(record.payload.is_ascii(), "7-bit transfer encodings only");
    assert!(
        record.payload.contains("Subject:"),
        "the message is kept for the retry"
    );

    // The server comes up; the retry sends the stored message once.
    let server = SmtpServer::start_on(port, &maildir, None);
    let retried = email::retry_due_at(&store, &cfg, Utc::now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(retried.sent(), 1, "{retried:?}");
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let data = expected(&rows, Some("data"), week(), week() + Duration::days(6))["USD"];
    assert!(messages[0]
        .subject
        .contains(&format!("{} USD", money(data))));
    let record = delivery::get(&store, "email:dana@example.com", item)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.state, record.attempts), (DeliveryState::Sent, 3));

    // Nothing is due any more, and the scheduled send knows it was sent.
    let later = Utc::now() + Duration::days(2);
    assert_eq!(
        email::retry_due_at(&store, &cfg, later)
            .await
            .unwrap()
            .deliveries
            .len(),
        0
    );
    let again = email::send_weekly(&store, &cfg, week(), DASHBOARD)
        .await
        .unwrap();
    assert_eq!(again.count(|o| *o == Outcome::AlreadySent), 1);
    assert_eq!(
        again.count(|o| matches!(o, Outcome::MaybeDelivered { .. })),
        1
    );
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn starttls_is_required_and_credentials_are_used() {
    let (store, _) = seeded("email_security").await;

    // A server without STARTTLS: `starttls` refuses to send in the clear.
    let plain = SmtpServer::start(None);
    let mut cfg = config(plain.port);
    cfg.smtp.security = "starttls".into();
    cfg.teams
        .insert("search".into(), vec!["sam@example.com".into()]);
    let report = email::send_weekly(&store, &cfg, week(), "").await.unwrap();
    let Outcome::Failed { error, .. } = &report.deliveries[0].outcome else {
        panic!("{report:?}")
    };
    assert!(error.contains("STARTTLS"), "{error}");
    assert_eq!(plain.messages().len(), 0);

    // A server that requires AUTH: the wrong password is refused, the right one delivers.
    let authed = SmtpServer::start(Some(("costmill", "s3cret")));
    let mut cfg = config(authed.port);
    cfg.smtp.username = "costmill".into();
    cfg.smtp.password = alerts::Secret("wrong".into());
    cfg.teams
        .insert("platform".into(), vec!["pat@example.com".into()]);
    let report = email::send_weekly(&store, &cfg, week(), "").await.unwrap();
    assert_eq!(report.failed(), 1, "{report:?}");
    assert_eq!(authed.messages().len(), 0);
    cfg.smtp.password = alerts::Secret("s3cret".into());
    let report = email::send_weekly(&store, &cfg, week(), "").await.unwrap();
    assert_eq!(report.sent(), 1, "{report:?}");
    assert_eq!(authed.messages().len(), 1);

    cfg.smtp.security = "ssl".into();
    let err = email::send_weekly(&store, &cfg, week(), "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("email.smtp.security"), "{err}");
}
