//! Slack failing in every way it can, and what is (not) posted afterwards.
use alerts::delivery::{self, DeliveryState};
use alerts::slack::{self, SlackReport};
use alerts::{Alert, AlertState, Secret};
use chrono::{Datelike, Duration, Utc};
use queries::testing::test_store;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fixtures::*;
use crate::slack_receiver::{Receiver, Reply};

#[tokio::test]
async fn rate_limits_are_waited_out_and_post_once() {
    let store = test_store("slack_rate_limit").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let a = spike(&mut rng, "service", "payments-api");
    let b = spike(&mut rng, "service", "search-api");
    rx.script(PAYMENTS, [Reply::RateLimited(1)]);
    // A Retry-After longer than a run waits is left to the next serve tick.
    rx.script(SEARCH, [Reply::RateLimited(7200)]);
    let before = Utc::now();
    let report = slack::notify(&store, &cfg, DASHBOARD, &[a.clone(), b.clone()], &owners())
        .await
        .unwrap();
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");

    let to_payments: Vec<Reply> = rx
        .requests()
        .into_iter()
        .filter(|r| r.path == PAYMENTS)
        .map(|r| r.reply)
        .collect();
    assert_eq!(to_payments, [Reply::RateLimited(1), Reply::Ok]);
    assert_eq!(ids(&rx.posted_to(PAYMENTS)), std::slice::from_ref(&a.id));
    let d = record(&store, "slack:payments", &a).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Sent, 2));
    assert!(d.last_error.is_empty());

    assert_eq!(rx.requests().iter().filter(|r| r.path == SEARCH).count(), 1);
    let d = record(&store, "slack:search", &b).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 1));
    assert!(
        d.next_attempt_at >= before + Duration::seconds(7200),
        "{d:?}"
    );
    assert!(d.last_error.contains("HTTP 429"), "{}", d.last_error);
    // Not due yet; due once Retry-After has passed.
    let report = slack::retry_due_at(&store, &cfg, Utc::now()).await.unwrap();
    assert_eq!(report, SlackReport::default());
    let report = slack::retry_due_at(&store, &cfg, d.next_attempt_at)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(ids(&rx.posted_to(SEARCH)), std::slice::from_ref(&b.id));
    assert_eq!(rx.posted_to(SEARCH)[0].body, d.payload);
    assert_eq!(record(&store, "slack:search", &b).await.attempts, 2);
    assert_no_secret(&store, &report).await;
}

#[tokio::test]
async fn server_errors_fail_one_channel_and_retry_due_posts_each_once() {
    let store = test_store("slack_server_errors").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let pay: Vec<Alert> = ["payments-api", "ledger", "fraud-scoring"]
        .iter()
        .map(|s| spike(&mut rng, "service", s))
        .collect();
    let search: Vec<Alert> = ["search-api", "indexer"]
        .iter()
        .map(|s| spike(&mut rng, "service", s))
        .collect();
    rx.always(PAYMENTS, Reply::Status(500, "rollup_error"));
    let all: Vec<Alert> = pay.iter().chain(&search).cloned().collect();
    let report = slack::notify(&store, &cfg, DASHBOARD, &all, &owners())
        .await
        .unwrap();
    assert_eq!(
        (report.sent, report.failed, report.unknown),
        (2, 3, 0),
        "{report:?}"
    );
    assert_eq!(report.errors.len(), 3);
    assert!(report
        .errors
        .iter()
        .all(|e| e.starts_with("slack:payments: alert:")));
    // The other channel went on.
    assert_eq!(
        ids(&rx.posted_to(SEARCH)),
        sorted_ids(&[&search[0], &search[1]])
    );
    // max_attempts requests for the first message; the channel is then known down.
    assert_eq!(
        rx.requests().iter().filter(|r| r.path == PAYMENTS).count(),
        3
    );
    let first = record(&store, "slack:payments", &pay[0]).await;
    assert_eq!((first.state, first.attempts), (DeliveryState::Failed, 3));
    assert!(
        first.last_error.contains("HTTP 500 rollup_error"),
        "{}",
        first.last_error
    );
    for a in &pay[1..] {
        let d = record(&store, "slack:payments", a).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 0));
        assert!(d.last_error.starts_with("not tried"), "{}", d.last_error);
    }
    assert_no_secret(&store, &report).await;

    rx.heal();
    let later = Utc::now() + Duration::hours(2);
    let report = slack::retry_due_at(&store, &cfg, later).await.unwrap();
    assert_eq!((report.sent, report.failed), (3, 0), "{report:?}");
    let posted = rx.posted_to(PAYMENTS);
    assert_eq!(ids(&posted), sorted_ids(&pay.iter().collect::<Vec<_>>()));
    for a in &pay {
        let d = record(&store, "slack:payments", a).await;
        assert_eq!(d.state, DeliveryState::Sent);
        let sent = posted.iter().find(|r| alert_of(r) == a.id).unwrap();
        assert_eq!(sent.body, slack::message(a, DASHBOARD).to_string());
    }
    // Nothing left to do, by either entry point.
    let again = slack::retry_due_at(&store, &cfg, later).await.unwrap();
    assert_eq!(again, SlackReport::default());
    let again = slack::notify(&store, &cfg, DASHBOARD, &all, &owners())
        .await
        .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 5));
    assert_eq!(rx.posted().len(), 5);
}

#[tokio::test]
async fn an_outage_loses_nothing_and_posts_exactly_once_after() {
    let store = test_store("slack_outage").await;
    let mut rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let alerts: Vec<Alert> = [
        ("service", "payments-api"),
        ("team", "payments"),
        ("service", "indexer"),
        ("service", "kafka"),
        ("provider", "aws"),
        ("cloud-service", "Amazon Simple Storage Service"),
    ]
    .iter()
    .map(|(d, k)| spike(&mut rng, d, k))
    .collect();
    rx.stop().await;
    let report = slack::notify(&store, &cfg, DASHBOARD, &alerts, &owners())
        .await
        .unwrap();
    assert_eq!((report.sent, report.failed), (0, 6), "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("cannot connect to Slack")),
        "{report:?}"
    );
    let records = delivery::list(&store, "slack:").await.unwrap();
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(|d| d.state == DeliveryState::Failed));
    assert_no_secret(&store, &report).await;
    assert!(rx.requests().is_empty());

    rx.restart().await;
    let later = Utc::now() + Duration::hours(2);
    let report = slack::retry_due_at(&store, &cfg, later).await.unwrap();
    assert_eq!((report.sent, report.failed), (6, 0), "{report:?}");
    assert_eq!(
        ids(&rx.posted()),
        sorted_ids(&alerts.iter().collect::<Vec<_>>())
    );
    assert_eq!(
        rx.requests().len(),
        6,
        "each message posted once, nothing refused"
    );
    let report = slack::retry_due_at(&store, &cfg, later).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(rx.requests().len(), 6);
}

#[tokio::test]
async fn a_dropped_connection_is_unknown_and_never_posted_again() {
    let store = test_store("slack_dropped").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let a = spike(&mut rng, "service", "ledger");
    let b = spike(&mut rng, "service", "fraud-scoring");
    rx.script(PAYMENTS, [Reply::Drop]);
    let report = slack::notify(&store, &cfg, DASHBOARD, &[a.clone(), b.clone()], &owners())
        .await
        .unwrap();
    // The drop is not a channel failure: the next message is posted.
    assert_eq!(
        (report.sent, report.unknown, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let d = record(&store, "slack:payments", &a).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Unknown, 1));
    assert!(
        d.last_error.contains("may have been posted"),
        "{}",
        d.last_error
    );
    // The receiver did get the message: a retry would have posted it twice.
    assert_eq!(rx.requests()[0].body, d.payload);
    let far = Utc::now() + Duration::days(30);
    assert_eq!(
        slack::retry_due_at(&store, &cfg, far).await.unwrap(),
        SlackReport::default()
    );
    let again = slack::notify(&store, &cfg, DASHBOARD, &[a, b], &owners())
        .await
        .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 2));
    assert_eq!(rx.requests().len(), 2);
    assert_no_secret(&store, &report).await;
}

#[tokio::test]
async fn a_refused_webhook_waits_for_a_new_one() {
    let store = test_store("slack_refused").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let pay: Vec<Alert> = ["payments-api", "ledger"]
        .iter()
        .map(|s| spike(&mut rng, "service", s))
        .collect();
    rx.always(PAYMENTS, Reply::Status(404, "no_service"));
    let report = slack::notify(&store, &cfg, DASHBOARD, &pay, &owners())
        .await
        .unwrap();
    assert_eq!(report.failed, 2, "{report:?}");
    // Not retried within the run, and the second message is not tried against a dead webhook.
    assert_eq!(rx.requests().len(), 1);
    let d = record(&store, "slack:payments", &pay[0]).await;
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 1));
    assert!(
        d.last_error.contains("HTTP 404 no_service"),
        "{}",
        d.last_error
    );
    assert!(
        d.last_error.contains("alerts.slack.teams.payments"),
        "{}",
        d.last_error
    );
    assert!(
        d.next_attempt_at.year() >= 2100,
        "no scheduled retry: {d:?}"
    );
    assert_no_secret(&store, &report).await;
    // No schedule retries it.
    let far = Utc::now() + Duration::days(365);
    assert_eq!(
        slack::retry_due_at(&store, &cfg, far).await.unwrap().sent,
        0
    );
    assert_eq!(rx.requests().len(), 1);

    // The team creates a new webhook: both messages go there, once.
    let new_hook = "/services/T0C05TM1L/B0PAY2/xoxPaymentsSecret9f2c-new";
    let mut fixed = cfg.clone();
    fixed
        .teams
        .insert("payments".into(), Secret(rx.url(new_hook)));
    let report = slack::retry_due(&store, &fixed).await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(
        ids(&rx.posted_to(new_hook)),
        sorted_ids(&[&pay[0], &pay[1]])
    );
    assert_eq!(slack::retry_due(&store, &fixed).await.unwrap().sent, 0);
    assert_eq!(rx.posted_to(new_hook).len(), 2);
}

#[tokio::test]
async fn retries_skip_replaced_revisions_and_acknowledged_alerts() {
    let store = test_store("slack_retry_skips").await;
    let mut rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let a = spike(&mut rng, "service", "payments-api");
    let b = spike(&mut rng, "service", "search-api");
    let c = spike(&mut rng, "service", "indexer");
    rx.stop().await;
    let report = slack::notify(
        &store,
        &cfg,
        DASHBOARD,
        &[a.clone(), b.clone(), c.clone()],
        &owners(),
    )
    .await
    .unwrap();
    assert_eq!(report.failed, 3);
    rx.restart().await;
    // a grew meanwhile and its update was posted; b was acknowledged.
    let mut a2 = a.clone();
    a2.revision = 2;
    a2.last_day += Duration::days(1);
    assert_eq!(
        slack::notify(&store, &cfg, DASHBOARD, &[a2.clone()], &owners())
            .await
            .unwrap()
            .sent,
        1
    );
    let mut b_acked = b.clone();
    b_acked.state = AlertState::Acknowledged;
    alerts::store::save(&store, &[b_acked, c.clone()])
        .await
        .unwrap();

    let later = Utc::now() + Duration::hours(2);
    let report = slack::retry_due_at(&store, &cfg, later).await.unwrap();
    assert_eq!((report.sent, report.skipped), (1, 2), "{report:?}");
    assert_eq!(ids(&rx.posted()), sorted_ids(&[&a2, &c]));
    let old = record(&store, "slack:payments", &a).await;
    assert!(old.last_error.contains("revision 2"), "{}", old.last_error);
    let acked = record(&store, "slack:search", &b).await;
    assert!(
        acked.last_error.contains("acknowledged"),
        "{}",
        acked.last_error
    );
    assert_eq!(
        slack::retry_due_at(&store, &cfg, later + Duration::days(30))
            .await
            .unwrap(),
        SlackReport::default()
    );
    assert_eq!(rx.requests().len(), 2);
}
