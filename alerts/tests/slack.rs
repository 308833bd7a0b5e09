//! Slack delivery against a real local HTTP receiver (tests/support/slack_receiver.rs) and a real
//! ClickHouse for the delivery records.
/// When Slack fails: rate limits, server errors, an outage, dropped connections, refusals.
#[path = "support/slack_failures.rs"]
mod failures;
#[path = "support/slack_fixtures.rs"]
mod fixtures;
#[path = "support/slack_receiver.rs"]
mod slack_receiver;

use std::collections::BTreeSet;

use alerts::delivery::{self, DeliveryState};
use alerts::slack;
use alerts::{AlertKind, AlertState, Cause, Secret, SlackConfig};
use chrono::{Duration, NaiveDate, Utc};
use fixtures::*;
use queries::testing::test_store;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use slack_receiver::Receiver;

#[tokio::test]
async fn alerts_go_to_their_team_channel_or_the_default_one() {
    let store = test_store("slack_routing").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let pay1 = spike(&mut rng, "service", "payments-api");
    let pay2 = spike(&mut rng, "service", "ledger");
    let pay_team = spike(&mut rng, "team", "payments");
    let search = spike(&mut rng, "service", "search-api");
    let search_team = spike(&mut rng, "team", "search");
    let data = spike(&mut rng, "service", "spark-etl"); // team data: no webhook of its own
    let ml_team = spike(&mut rng, "team", "ml");
    let orphan = spike(&mut rng, "service", "legacy-batch"); // no owner
    let account = spike(&mut rng, "sub-account", "acme-prod");
    let mom = alert(&mut rng, AlertKind::MonthOverMonth, "service", "kafka");
    let budget = alert(&mut rng, AlertKind::Budget, "budget", "payments-monthly");
    // A budget the caller maps to its team (`budget:<name>`) goes to that team's channel.
    let search_budget = alert(&mut rng, AlertKind::Budget, "budget", "search-monthly");
    let mut routes = owners();
    routes.insert("budget:search-monthly".into(), "search".into());
    let alerts = vec![
        search_budget.clone(),
        pay1.clone(),
        pay2.clone(),
        pay_team.clone(),
        search.clone(),
        search_team.clone(),
        data.clone(),
        ml_team.clone(),
        orphan.clone(),
        account.clone(),
        mom.clone(),
        budget.clone(),
    ];
    let report = slack::notify(&store, &cfg, DASHBOARD, &alerts, &routes)
        .await
        .unwrap();
    assert_eq!(
        (report.sent, report.failed, report.skipped),
        (12, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        ids(&rx.posted_to(PAYMENTS)),
        sorted_ids(&[&pay1, &pay2, &pay_team])
    );
    assert_eq!(
        ids(&rx.posted_to(SEARCH)),
        sorted_ids(&[&search, &search_team, &search_budget])
    );
    assert_eq!(
        ids(&rx.posted_to(DEFAULT)),
        sorted_ids(&[&data, &ml_team, &orphan, &account, &mom, &budget])
    );
    assert!(rx
        .requests()
        .iter()
        .all(|r| r.content_type == "application/json"));
    for (a, channel) in [
        (&pay1, "slack:payments"),
        (&pay_team, "slack:payments"),
        (&search_team, "slack:search"),
        (&data, "slack:default"),
        (&budget, "slack:default"),
    ] {
        let d = record(&store, channel, a).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Sent, 1));
        // The record keeps exactly what was posted.
        let posted = rx
            .posted()
            .into_iter()
            .find(|r| alert_of(r) == a.id)
            .unwrap();
        assert_eq!(d.payload, posted.body);
    }
    let channels: BTreeSet<String> = delivery::list(&store, "slack:")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.channel)
        .collect();
    assert_eq!(
        channels,
        BTreeSet::from(["slack:default", "slack:payments", "slack:search"].map(String::from))
    );
    assert_no_secret(&store, &report).await;

    // Without a default webhook, only alerts of teams with a channel are sent.
    let no_default = SlackConfig {
        webhook_url: Secret::default(),
        ..cfg.clone()
    };
    let more = vec![
        spike(&mut rng, "service", "fraud-scoring"),
        spike(&mut rng, "service", "kafka"),
        spike(&mut rng, "region", "us-east-1"),
    ];
    let report = slack::notify(&store, &no_default, DASHBOARD, &more, &owners())
        .await
        .unwrap();
    assert_eq!((report.sent, report.skipped), (1, 2), "{report:?}");
    assert_eq!(rx.posted_to(PAYMENTS).len(), 4);
    assert_eq!(rx.posted_to(DEFAULT).len(), 6);
    assert!(
        delivery::get(&store, "slack:default", &slack::item_key(&more[1]))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_message_is_valid_block_kit_with_exact_amounts() {
    let store = test_store("slack_message").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let mut a = spike(&mut rng, "service", "payments-api");
    a.first_day = NaiveDate::from_ymd_opt(2026, 10, 12).unwrap();
    a.expected = d("1234.5");
    a.actual = d("5678.912345678901234567");
    a.impact = d("13333.237037036703703701");
    a.causes = vec![
        ("usage-type", "BoxUsage:m6i.4xlarge", "9120.4"),
        ("region", "us-east-1", "2500.111"),
        ("resource", "<!channel> & i-0a4f`9c", "1000"),
        ("sub-account", "acme-prod", "512.726037036703703701"),
        ("cloud-service", "AWS Lambda", "150"),
        ("usage-type", "Requests-Tier1", "40"),
        ("usage-type", "TimedStorage-ByteHrs", "10"),
    ]
    .into_iter()
    .map(|(dim, v, amount)| Cause {
        dimension: dim.into(),
        value: v.into(),
        amount: d(amount),
    })
    .collect();
    // A huge key must not break Slack's limits.
    let mut long = spike(&mut rng, "team", &"payments".repeat(60));
    long.summary = "x".repeat(5000);
    long.causes[0].value = "v".repeat(3000);
    let mut mom = alert(&mut rng, AlertKind::MonthOverMonth, "service", "ledger");
    mom.revision = 3;
    let report = slack::notify(
        &store,
        &cfg,
        DASHBOARD,
        &[a.clone(), long.clone()],
        &owners(),
    )
    .await
    .unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    slack::notify(&store, &cfg, "", &[mom.clone()], &owners())
        .await
        .unwrap();
    let posted = rx.posted();
    let find = |id: &str| body(posted.iter().find(|r| alert_of(r) == id).unwrap());

    let v = find(&a.id);
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Cost spike: service payments-api"
    );
    let fields: Vec<&str> = blocks.iter().find(|b| b["fields"].is_array()).unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Spend on 2026-10-14*\n5,678.91 USD",
            "*Expected (same weekday)*\n1,234.50 USD",
            "*Impact over 3 days*\n+13,333.24 USD",
            "*Change on the last day*\n+360.0%",
            "*Days*\n2026-10-12 → 2026-10-14 (3 days)",
        ]
    );
    let texts = texts_of(&v).join("\n");
    assert!(
        texts.contains("• usage-type `BoxUsage:m6i.4xlarge`: +9,120.40 USD"),
        "{texts}"
    );
    assert!(
        texts.contains("• sub-account `acme-prod`: +512.73 USD"),
        "{texts}"
    );
    // Five causes shown, the rest counted; mrkdwn control characters escaped.
    assert!(
        texts.contains("AWS Lambda") && !texts.contains("Requests-Tier1"),
        "{texts}"
    );
    assert!(texts.contains("_and 2 more"), "{texts}");
    assert!(
        texts.contains("`&lt;!channel&gt; &amp; i-0a4f'9c`"),
        "{texts}"
    );
    assert!(!texts.contains("<!channel>"), "{texts}");
    assert!(
        texts.contains(&format!("`costmill alerts explain {}`", a.id)),
        "{texts}"
    );
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["elements"][0]["type"], "button");
    assert_eq!(actions["elements"][0]["url"], DASHBOARD);
    let fallback = v["text"].as_str().unwrap();
    assert!(
        fallback.contains("5,678.91 USD vs 1,234.50 USD expected"),
        "{fallback}"
    );

    // Slack's limits hold for absurd input.
    let v = find(&long.id);
    for b in v["blocks"].as_array().unwrap() {
        if b["type"] == "header" {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(t.chars().count() <= 150 && t.starts_with("Cost "), "{t}");
        }
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(t.chars().count() <= 3000);
        }
        if let Some(f) = b["fields"].as_array() {
            assert!(f.len() <= 10);
            assert!(f
                .iter()
                .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000));
        }
    }

    // Another kind, an update, no dashboard configured.
    let v = find(&mom.id);
    let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
    let days = (mom.last_day - mom.first_day).num_days() + 1;
    assert_eq!(
        header,
        format!("Month-over-month change: service ledger (still going: day {days})")
    );
    assert!(texts_of(&v)
        .iter()
        .any(|t| t.starts_with("*Projected month end*")));
    assert!(!v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["type"] == "actions"));
    assert_eq!(slack::message(&mom, ""), v, "message() is what was posted");
}

#[tokio::test]
async fn each_revision_of_an_open_alert_is_posted_once() {
    let store = test_store("slack_revisions").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut a = spike(&mut rng, "service", "payments-api");
    a.first_day = a.last_day;
    let b = spike(&mut rng, "team", "search");
    let mut acked = spike(&mut rng, "service", "ledger");
    acked.state = AlertState::Acknowledged;
    acked.acked_by = "maria@example.com".into();
    let mut resolved = spike(&mut rng, "service", "indexer");
    resolved.state = AlertState::Resolved;
    let alerts = vec![a.clone(), b.clone(), acked.clone(), resolved.clone()];
    let report = slack::notify(&store, &cfg, DASHBOARD, &alerts, &owners())
        .await
        .unwrap();
    assert_eq!((report.sent, report.skipped), (2, 2), "{report:?}");
    let again = slack::notify(&store, &cfg, DASHBOARD, &alerts, &owners())
        .await
        .unwrap();
    assert_eq!((again.sent, again.skipped), (0, 4));
    assert_eq!(ids(&rx.posted()), sorted_ids(&[&a, &b]));

    // Two more days: a new revision, posted as an update; the old one is not posted again.
    let mut grown = a.clone();
    grown.last_day = a.last_day + Duration::days(2);
    grown.revision = 2;
    grown.impact += Decimal::new(250_000, 2);
    let report = slack::notify(
        &store,
        &cfg,
        DASHBOARD,
        &[a.clone(), grown.clone()],
        &owners(),
    )
    .await
    .unwrap();
    assert_eq!((report.sent, report.skipped), (1, 1), "{report:?}");
    let posted = rx.posted_to(PAYMENTS);
    assert_eq!(posted.len(), 2);
    assert_eq!(
        body(&posted[1])["blocks"][0]["text"]["text"],
        "Cost spike: service payments-api (still going: day 3)"
    );
    for item in [slack::item_key(&a), slack::item_key(&grown)] {
        let d = delivery::get(&store, "slack:payments", &item)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.state, DeliveryState::Sent, "{item}");
    }
}

#[tokio::test]
async fn a_delivery_left_sending_is_never_posted_again() {
    let store = test_store("slack_sending").await;
    let rx = Receiver::start().await;
    let cfg = config(&rx);
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let a = spike(&mut rng, "service", "indexer");
    // A process died between writing `sending` and posting: the message may have gone out.
    let left = delivery::Delivery::new(
        "slack:search",
        slack::item_key(&a),
        slack::message(&a, DASHBOARD).to_string(),
    );
    assert_eq!(left.state, DeliveryState::Sending);
    delivery::record(&store, &left).await.unwrap();
    let report = slack::notify(&store, &cfg, DASHBOARD, &[a.clone()], &owners())
        .await
        .unwrap();
    assert_eq!((report.sent, report.skipped), (0, 1), "{report:?}");
    let far = Utc::now() + Duration::days(30);
    let report = slack::retry_due_at(&store, &cfg, far).await.unwrap();
    assert_eq!(report.sent, 0);
    assert!(rx.requests().is_empty());
    let d = delivery::get(&store, "slack:search", &slack::item_key(&a))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.state, DeliveryState::Sending);
}
