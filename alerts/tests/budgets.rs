//! Budgets against a real ClickHouse, on 2.5 months of seeded billing and allocations
//! (support/budget_seed.rs): actual spend, the month-end forecast by the documented rule (computed
//! here from what each seeded row is, not by the code's classification), thresholds and alerts.
#[path = "support/budget_rule.rs"]
mod budget_rule;
#[path = "support/budget_seed.rs"]
mod budget_seed;

use alerts::budget::{alert_id, alerts_for, check, validate, Basis, BudgetStatus, Threshold};
use alerts::{AlertState, BudgetConfig};
use budget_rule::{expected_allocated, expected_tagged};
use budget_seed::{d, dec, seed, seed_bills, usage_row, world, Alloc, AllocationRow, What, World};
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use queries::Store;
use rust_decimal::Decimal;

const SEED: u64 = 20261017;

fn budget(name: &str, scope: &str, value: &str, amount: Decimal) -> BudgetConfig {
    BudgetConfig {
        name: name.into(),
        team: (scope == "team").then(|| value.into()),
        service: (scope == "service").then(|| value.into()),
        tag: (scope == "tag").then(|| value.into()),
        amount,
        currency: "USD".into(),
        thresholds: vec![dec("80"), dec("100")],
        metric: "effective".into(),
    }
}

fn status<'a>(statuses: &'a [BudgetStatus], name: &str) -> &'a BudgetStatus {
    statuses
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no status for {name}"))
}

fn team(name: &'static str) -> impl Fn(&Alloc) -> bool {
    move |a: &Alloc| a.team == name
}

async fn seeded(name: &str, last_day: NaiveDate) -> (Store, World) {
    let store = queries::testing::test_store(name).await;
    let w = world(SEED, last_day);
    seed(&store, &w).await;
    (store, w)
}

#[tokio::test]
async fn actual_and_forecast_follow_the_documented_rule() {
    let as_of = d("2026-10-17");
    let (store, w) = seeded("budget_rule", as_of).await;
    let mut eur = budget("payments-eur", "team", "payments", dec("10000"));
    eur.currency = "EUR".into();
    let mut tagged = budget("search-tag", "tag", "team=search", dec("30000"));
    tagged.metric = "billed".into();
    let budgets = vec![
        budget("payments", "team", "payments", dec("40000")),
        budget("search", "team", "search", dec("30000")),
        budget("search-api", "service", "search-api", dec("20000")),
        tagged,
        eur,
        budget("tax", "service", "tax", dec("1000")),
    ];
    let statuses = check(&store, &budgets, as_of + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(statuses.len(), 6);
    for s in &statuses {
        assert_eq!((s.month, s.as_of), (d("2026-10-01"), as_of), "{}", s.name);
        assert_eq!(
            (s.parts.run_rate_days, s.parts.remaining_days),
            (7, 14),
            "{}",
            s.name
        );
    }
    let cases: Vec<(&str, (Decimal, Decimal))> = vec![
        (
            "payments",
            expected_allocated(&w, team("payments"), "USD", "effective", as_of),
        ),
        (
            "search",
            expected_allocated(&w, team("search"), "USD", "effective", as_of),
        ),
        (
            "search-api",
            expected_allocated(&w, |a| a.service == "search-api", "USD", "effective", as_of),
        ),
        (
            "search-tag",
            expected_tagged(&w, "search", "USD", "billed", as_of),
        ),
        (
            "payments-eur",
            expected_allocated(&w, team("payments"), "EUR", "effective", as_of),
        ),
        (
            "tax",
            expected_allocated(&w, |a| a.service == "tax", "USD", "effective", as_of),
        ),
    ];
    for (name, (actual, forecast)) in cases {
        let s = status(&statuses, name);
        assert_eq!(s.actual, actual, "{name}: actual");
        assert_eq!(s.forecast, forecast, "{name}: forecast\n{s:#?}");
    }

    // Actual is an exact sum of the seeded rows of the month, in the budget's currency only.
    let payments = status(&statuses, "payments");
    let sum = |currency: Option<&str>| -> Decimal {
        w.allocations
            .iter()
            .filter(|a| a.team == "payments" && a.day >= d("2026-10-01") && a.day <= as_of)
            .filter(|a| currency.is_none_or(|c| a.currency == c))
            .map(|a| a.effective)
            .sum()
    };
    assert_eq!(payments.actual, sum(Some("USD")));
    assert_eq!(status(&statuses, "payments-eur").actual, sum(Some("EUR")));
    assert_ne!(payments.actual, sum(None), "two currencies were added");
    assert!(status(&statuses, "payments-eur").actual > Decimal::ZERO);
    // September's support and license have not landed in October yet: expected once.
    assert_eq!(payments.parts.expected_monthly, dec("625"));
    assert_eq!(
        status(&statuses, "search").parts.expected_monthly,
        dec("1025")
    );
    assert_eq!(
        status(&statuses, "search-tag").parts.expected_monthly,
        dec("400")
    );
    // The pool keeps the tax of the days without usage with its source: not the source's spend.
    let tax = status(&statuses, "tax");
    assert_eq!((tax.actual, tax.forecast), (Decimal::ZERO, Decimal::ZERO));
    // The one-time purchase is billed, not effective: only the billed tag budget sees it.
    let one_time: Decimal = w
        .bills
        .iter()
        .filter(|b| b.what == What::OneTime && b.day == d("2026-10-03"))
        .map(|b| b.billed)
        .sum();
    assert_eq!(one_time, dec("1500"));
    assert_eq!(payments.top[0].value, "payments-api");

    // What was written: one budget_status row per budget for the month, with the same figures.
    let again = check(&store, &budgets, as_of + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        again, statuses,
        "a re-run on the same data computes the same"
    );
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Written {
        budget: String,
        actual: String,
        forecast: String,
    }
    let written: Vec<Written> = store
        .client()
        .query("SELECT budget, toString(actual), toString(forecast) FROM budget_status FINAL WHERE month = '2026-10-01' ORDER BY budget")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(written.len(), 6);
    for row in written {
        let s = status(&statuses, &row.budget);
        assert_eq!(dec(&row.actual), s.actual.round_dp(18), "{}", row.budget);
        assert_eq!(
            dec(&row.forecast),
            s.forecast.round_dp(18),
            "{}",
            row.budget
        );
    }
}

#[tokio::test]
async fn monthly_fees_in_the_run_rate_window_are_counted_once() {
    // As of Oct 5 the last 7 days hold September's support (Sep 30) and October's commitment fee
    // (Oct 1), and the reservation fee of every day.
    let as_of = d("2026-10-05");
    let (store, w) = seeded("budget_window", as_of).await;
    let budgets = vec![
        budget("payments", "team", "payments", dec("40000")),
        budget("search", "team", "search", dec("30000")),
        budget("search-tag", "tag", "team=search", dec("30000")),
    ];
    let statuses = check(&store, &budgets, as_of + Duration::days(1))
        .await
        .unwrap();
    let expected = [
        (
            "payments",
            expected_allocated(&w, team("payments"), "USD", "effective", as_of),
        ),
        (
            "search",
            expected_allocated(&w, team("search"), "USD", "effective", as_of),
        ),
        (
            "search-tag",
            expected_tagged(&w, "search", "USD", "effective", as_of),
        ),
    ];
    for (name, (actual, forecast)) in expected {
        let s = status(&statuses, name);
        assert_eq!((s.actual, s.forecast), (actual, forecast), "{name}\n{s:#?}");
    }
    // A forecast that extrapolated everything in the window would count the 3,200 fee and the
    // 625 support share 26/7 times over instead of once.
    let payments = status(&statuses, "payments");
    let window_all: Decimal = w
        .allocations
        .iter()
        .filter(|a| {
            a.team == "payments"
                && a.currency == "USD"
                && a.day > as_of - Duration::days(7)
                && a.day <= as_of
        })
        .map(|a| a.effective)
        .sum();
    let naive = payments.actual + window_all * dec("26") / dec("7");
    let over = (dec("3200") + dec("625")) * dec("26") / dec("7") - dec("625");
    assert!(
        (naive - payments.forecast - over).abs() < dec("0.000001"),
        "naive {naive}, forecast {}",
        payments.forecast
    );
    assert_eq!(payments.parts.remaining_days, 26);
    // The commitment fee is in actual, once.
    let fee: Decimal = w
        .allocations
        .iter()
        .filter(|a| a.what == What::Commitment && a.day == d("2026-10-01"))
        .map(|a| a.effective)
        .sum();
    assert_eq!(fee, dec("3200"));
}

/// The same billing, allocated by costmill's allocator (rules by tag, support split evenly, tax
/// split by usage): its allocations name their inputs as the budget classification expects, and
/// the forecast follows the documented rule on them.
#[tokio::test]
async fn allocator_output_is_forecast_by_the_same_rule() {
    let as_of = d("2026-10-17");
    let store = queries::testing::test_store("budget_allocator").await;
    let w = world(SEED, as_of);
    seed_bills(&store, &w).await;
    let config: allocator::AllocationConfig = serde_json::from_value(serde_json::json!({
        "rules": [
            {"name": "commitments", "when": {"service_name": "Savings Plans for AWS Compute usage"},
             "service": "payments-api", "team": "payments"},
            {"name": "support", "when": {"service_name": "AWS Support (Business)"},
             "service": "support", "team": "platform"},
            {"name": "tax", "when": {"charge_category": "Tax"}, "service": "tax", "team": "finance"},
            {"name": "tagged", "service": {"tag": ["service"]}, "team": {"tag": ["team"]}}
        ],
        "pools": [
            {"name": "support", "from_service": "support", "method": "even"},
            {"name": "tax", "from_service": "tax", "method": "weighted"}
        ]
    }))
    .unwrap();
    allocator::run::run(&store, &config, None).await.unwrap();
    let rows: Vec<AllocationRow> = store
        .client()
        .query("SELECT * FROM allocations")
        .fetch_all()
        .await
        .unwrap();
    let allocated = World {
        allocations: rows.into_iter().map(Alloc::read).collect(),
        bills: vec![],
    };
    // What the rule relies on: the month's tax and subscription reach past as_of, the tax only
    // as a pool's split, the subscription as its owner's day shares.
    let after = |what| {
        allocated
            .allocations
            .iter()
            .filter(move |a| a.what == what && a.day > as_of)
    };
    assert!(after(What::Tax).count() > 0 && after(What::Tax).all(|a| a.row.kind == "pool"));
    assert!(after(What::Subscription)
        .all(|a| a.row.input_ref.contains(" [spread 2026-10-01/2026-11-01]")));
    assert_eq!(after(What::Subscription).count(), 14);

    let budgets = vec![
        budget("payments", "team", "payments", dec("40000")),
        budget("search", "team", "search", dec("30000")),
        budget("tax", "service", "tax", dec("1000")),
    ];
    let statuses = check(&store, &budgets, as_of + Duration::days(1))
        .await
        .unwrap();
    for (name, scope) in [("payments", "payments"), ("search", "search")] {
        let (actual, forecast) =
            expected_allocated(&allocated, team(scope), "USD", "effective", as_of);
        let s = status(&statuses, name);
        assert_eq!(s.as_of, as_of);
        assert_eq!((s.actual, s.forecast), (actual, forecast), "{name}\n{s:#?}");
        assert!(
            s.parts.expected_monthly > Decimal::ZERO,
            "{name}: September's support is expected"
        );
    }
    let tax = status(&statuses, "tax");
    assert_eq!((tax.actual, tax.forecast), (Decimal::ZERO, Decimal::ZERO));
}

async fn insert_usage(store: &Store, day: NaiveDate, team: &str, service: &str, amount: Decimal) {
    let mut insert = store.insert::<AllocationRow>("allocations").await.unwrap();
    insert
        .write(&usage_row(day, team, service, amount))
        .await
        .unwrap();
    insert.end().await.unwrap();
}

#[tokio::test]
async fn thresholds_raise_one_alert_per_budget_and_month() {
    let as_of = d("2026-10-17");
    let (store, w) = seeded("budget_alerts", as_of).await;
    let (pay_actual, pay_forecast) =
        expected_allocated(&w, team("payments"), "USD", "effective", as_of);
    let (search_actual, _) = expected_allocated(&w, team("search"), "USD", "effective", as_of);
    // payments: forecast 105% of the amount, actual well under 80%.
    let pay_amount = (pay_forecast / dec("1.05")).round_dp(2);
    // search: actual 90%, thresholds 50 and 80: the highest is 80% of actual spend.
    let mut search = budget(
        "search",
        "team",
        "search",
        (search_actual / dec("0.9")).round_dp(2),
    );
    search.thresholds = vec![dec("80"), dec("50")];
    let budgets = vec![
        budget("payments", "team", "payments", pay_amount),
        search,
        budget("quiet", "tag", "team=search", dec("1000000")),
    ];
    let today = as_of + Duration::days(1);
    let now = Utc.with_ymd_and_hms(2026, 10, 18, 6, 30, 0).unwrap();
    let statuses = check(&store, &budgets, today).await.unwrap();
    let pay = status(&statuses, "payments");
    assert!(pay_actual * dec("100") < dec("80") * pay_amount);
    let threshold = |p: &str, basis| Threshold {
        percent: dec(p),
        basis,
    };
    assert_eq!(
        pay.crossed,
        vec![
            threshold("80", Basis::Forecast),
            threshold("100", Basis::Forecast)
        ]
    );
    assert_eq!(
        status(&statuses, "search").crossed,
        vec![
            threshold("50", Basis::Forecast),
            threshold("50", Basis::Actual),
            threshold("80", Basis::Forecast),
            threshold("80", Basis::Actual)
        ]
    );
    assert!(status(&statuses, "quiet").crossed.is_empty());

    let raised = alerts_for(&statuses, &[], now);
    assert_eq!(raised.len(), 2, "{raised:#?}");
    let pay_id = alert_id("payments", d("2026-10-01"));
    let a = raised
        .iter()
        .find(|a| a.id == pay_id)
        .expect("payments alert");
    assert_eq!(
        (a.state, a.revision, a.dimension.as_str(), a.key.as_str()),
        (AlertState::Open, 1, "budget", "payments")
    );
    assert_eq!(
        (a.actual, a.expected, a.impact),
        (pay.forecast, pay_amount, pay.forecast - pay_amount)
    );
    assert_eq!((a.first_day, a.last_day), (d("2026-10-01"), as_of));
    assert!(
        a.summary.starts_with("payments: forecast 105% of the "),
        "{}",
        a.summary
    );
    assert!(a.summary.ends_with("; threshold 100%"), "{}", a.summary);
    assert_eq!(
        a.causes.first().map(|c| c.value.as_str()),
        Some("payments-api")
    );
    let s = raised.iter().find(|a| a.key == "search").unwrap();
    assert!(
        s.summary.starts_with("search: actual 90% of the "),
        "{}",
        s.summary
    );
    assert!(
        s.impact < Decimal::ZERO,
        "actual is under the amount: {}",
        s.impact
    );
    alerts::store::save(&store, &raised).await.unwrap();

    // The same data again: the same alerts, same revisions.
    let existing = alerts::store::list(&store, &[]).await.unwrap();
    let statuses = check(&store, &budgets, today).await.unwrap();
    let again = alerts_for(&statuses, &existing, now);
    assert_eq!(
        again
            .iter()
            .map(|a| (&a.id, a.revision, a.state))
            .collect::<Vec<_>>(),
        raised
            .iter()
            .map(|a| (&a.id, a.revision, a.state))
            .collect::<Vec<_>>()
    );
    alerts::store::save(&store, &again).await.unwrap();
    alerts::store::acknowledge(&store, &pay_id, "ana")
        .await
        .unwrap();

    // More spend at the same level: figures change, revision and acknowledgement stay.
    insert_usage(&store, as_of, "payments", "ledger", dec("250")).await;
    let existing = alerts::store::list(&store, &[]).await.unwrap();
    let statuses = check(&store, &budgets, today).await.unwrap();
    let updated = alerts_for(&statuses, &existing, now);
    let a = updated.iter().find(|a| a.id == pay_id).unwrap();
    assert_eq!(
        (a.state, a.revision, a.acked_by.as_str()),
        (AlertState::Acknowledged, 1, "ana")
    );
    assert_eq!(a.actual, status(&statuses, "payments").forecast);
    // 250 more today, and 2 × 250 more over the 14 remaining days (the mean of 7 days).
    assert!(
        (a.actual - (pay.forecast + dec("750"))).abs() < dec("0.000000001"),
        "{}",
        a.actual
    );
    alerts::store::save(&store, &updated).await.unwrap();

    // Actual spend crosses 100%: a higher level, so a new revision and open again.
    let short = pay_amount - status(&statuses, "payments").actual;
    insert_usage(&store, as_of, "payments", "payments-api", short).await;
    let existing = alerts::store::list(&store, &[]).await.unwrap();
    let statuses = check(&store, &budgets, today).await.unwrap();
    assert_eq!(
        status(&statuses, "payments").highest(),
        Some(&threshold("100", Basis::Actual))
    );
    let bumped = alerts_for(&statuses, &existing, now);
    let a = bumped.iter().find(|a| a.id == pay_id).unwrap();
    assert_eq!(
        (a.state, a.revision, a.acked_by.as_str()),
        (AlertState::Open, 2, "")
    );
    assert_eq!(a.actual, status(&statuses, "payments").actual);
    assert!(
        a.summary.starts_with("payments: actual 100% of the "),
        "{}",
        a.summary
    );
    alerts::store::save(&store, &bumped).await.unwrap();
    let stored = alerts::store::list(&store, &[]).await.unwrap();
    assert_eq!(stored.iter().filter(|a| a.id == pay_id).count(), 1);
    assert_eq!(
        stored.len(),
        2,
        "one alert per budget and month: {stored:#?}"
    );

    // November: October's alerts resolve, November's get ids of their own.
    insert_usage(
        &store,
        d("2026-11-01"),
        "payments",
        "payments-api",
        dec("900"),
    )
    .await;
    let existing = alerts::store::list(&store, &[]).await.unwrap();
    let statuses = check(&store, &budgets, d("2026-11-02")).await.unwrap();
    assert_eq!(status(&statuses, "payments").month, d("2026-11-01"));
    assert_eq!(status(&statuses, "search").month, d("2026-11-01"));
    let next = alerts_for(
        &statuses,
        &existing,
        Utc.with_ymd_and_hms(2026, 11, 2, 6, 30, 0).unwrap(),
    );
    for id in [pay_id.clone(), alert_id("search", d("2026-10-01"))] {
        let a = next
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("{id} not resolved: {next:#?}"));
        assert_eq!(a.state, AlertState::Resolved);
    }
    assert!(next
        .iter()
        .filter(|a| a.state != AlertState::Resolved)
        .all(|a| a.first_day == d("2026-11-01")));
}

#[test]
fn validate_names_the_key_of_each_problem() {
    let ok = budget("payments", "team", "payments", dec("25000"));
    assert!(validate(std::slice::from_ref(&ok)).is_empty());
    let with = |f: &dyn Fn(&mut BudgetConfig)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Vec<BudgetConfig>, &str)> = vec![
        (vec![ok.clone(), ok.clone()], "budgets[1].name"),
        (vec![with(&|b| b.name = " ".into())], "budgets[0].name"),
        (vec![with(&|b| b.team = None)], "budgets[0]"),
        (
            vec![with(&|b| b.service = Some("api".into()))],
            "budgets[0].service",
        ),
        (vec![with(&|b| b.team = Some("".into()))], "budgets[0].team"),
        (
            vec![with(&|b| {
                b.team = None;
                b.tag = Some("team".into())
            })],
            "budgets[0].tag",
        ),
        (
            vec![with(&|b| {
                b.team = None;
                b.tag = Some("=search".into())
            })],
            "budgets[0].tag",
        ),
        (
            vec![with(&|b| b.amount = Decimal::ZERO)],
            "budgets[0].amount",
        ),
        (vec![with(&|b| b.amount = dec("-5"))], "budgets[0].amount"),
        (
            vec![with(&|b| b.thresholds = vec![dec("80"), dec("0")])],
            "budgets[0].thresholds[1]",
        ),
        (
            vec![with(&|b| b.thresholds = vec![dec("1000.5")])],
            "budgets[0].thresholds[0]",
        ),
        (
            vec![with(&|b| b.metric = "list".into())],
            "budgets[0].metric",
        ),
        (
            vec![with(&|b| b.currency = "usd".into())],
            "budgets[0].currency",
        ),
    ];
    for (budgets, key) in cases {
        let problems = validate(&budgets);
        assert_eq!(
            problems.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            vec![key],
            "{problems:?}"
        );
    }
    // 1000% is allowed, and so is a tag budget.
    assert!(validate(&[with(&|b| {
        b.team = None;
        b.tag = Some("team=search".into());
        b.thresholds = vec![dec("1000")]
    })])
    .is_empty());
}
