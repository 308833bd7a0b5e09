//! The Grafana dashboards of dashboards/: valid dashboard JSON on the provisioned data source, and
//! every panel query, expanded the way Grafana and the ClickHouse plugin expand it (tests/dashboards/
//! grafana.rs), run on ClickHouse 18.16 against a seeded, allocated dataset (tests/dashboards/
//! seed.rs) and on a current ClickHouse (chDB), returning the rows and columns its panel draws.
#[path = "dashboards/chdb.rs"]
mod chdb;
#[path = "dashboards/checks.rs"]
mod checks;
mod common;
#[path = "dashboards/grafana.rs"]
mod grafana;
#[path = "dashboards/runner.rs"]
mod runner;
#[path = "dashboards/seed.rs"]
mod seed;
#[path = "dashboards/structure.rs"]
mod structure;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use checks::QueryResult;
use grafana::{Dashboard, TimeRange, VarValue};
use runner::{dashboards, run_sql, Ran, Runner};
use rust_decimal::Decimal;
use serde_json::Value;

/// The three generated months, 2026-08-01 00:00:00 to 2026-10-31 23:59:59 UTC, at the interval
/// Grafana picks for 90 days on a wide panel.
const RANGE: TimeRange = TimeRange {
    from: 1_785_542_400,
    to: 1_793_491_199,
    interval_ms: 7_200_000,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn decimal(db: &common::Db, sql: &str) -> f64 {
    let text = db.query(sql);
    f64::from_str(&Decimal::from_str(text.trim()).unwrap().to_string()).unwrap()
}

#[test]
fn dashboards_are_grafana_dashboards_on_the_provisioned_data_source() {
    let (uid, kind) = runner::provisioned_datasource();
    assert_eq!(kind, "grafana-clickhouse-datasource");
    let all = dashboards();
    assert_eq!(all.len(), 7, "one file per dashboard of the issue");
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for d in &all {
        for p in structure::structure_problems(d, &uid, &all) {
            problems.push(format!("{}: {p}", d.file));
        }
        if !uids.insert(d.uid().to_string()) {
            problems.push(format!("uid {} twice", d.uid()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The dashboards provider reads the folder README.md tells to mount.
    let provider =
        std::fs::read_to_string(runner::dir().join("provisioning/dashboards/costmill.yaml"))
            .unwrap();
    let readme = std::fs::read_to_string(runner::dir().join("README.md")).unwrap();
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path: "))
        .expect("provider path");
    assert!(
        readme.contains(&format!(":{path}")),
        "README mounts dashboards/ at {path}"
    );
    // Every environment variable the data source reads is documented.
    let datasource =
        std::fs::read_to_string(runner::dir().join("provisioning/datasources/clickhouse.yaml"))
            .unwrap();
    let settings: String = datasource
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let vars: Vec<&str> = settings
        .split("${")
        .skip(1)
        .map(|s| s.split('}').next().unwrap())
        .collect();
    assert!(vars.len() >= 6, "{vars:?}");
    // The v4 settings the plugin reads (pkg/plugin/settings.go): jsonData and the secret password.
    for key in [
        "jsonData:",
        "host:",
        "port:",
        "protocol:",
        "username:",
        "defaultDatabase:",
        "secureJsonData:",
        "password:",
    ] {
        assert!(settings.contains(key), "clickhouse.yaml has no {key}");
    }
    for var in vars {
        assert!(readme.contains(var), "README does not explain {var}");
        assert!(
            !var.starts_with("COSTMILL_"),
            "{var}: costmill refuses unknown COSTMILL_ settings"
        );
    }
}

/// Every dashboard, with the current values of its variables and then each other option of its
/// custom variables, on the seeded database: every query runs, has its panel's shape and returns
/// rows; key figures match the tables they summarize; then the same queries on chDB.
#[tokio::test]
async fn every_panel_query_returns_what_its_panel_draws() {
    let store = queries::testing::test_store("dashboards").await;
    let seeded = seed::seed(store).await;
    let db = runner::db(&seeded.store);
    let runner = Runner::new(&db, RANGE);
    let all = dashboards();
    let mut problems = Vec::new();
    let mut ran: Vec<Ran> = Vec::new();
    for d in &all {
        ran.extend(runner.run_dashboard(d, &BTreeMap::new(), false, &mut problems));
        ran.extend(runner.run_custom_options(d, &mut problems));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    let panels: usize = all
        .iter()
        .map(|d| {
            d.panels()
                .iter()
                .filter(|p| p["targets"].is_array())
                .count()
        })
        .sum();
    assert!(panels >= 45, "{panels} panels with queries");

    figures_match_their_tables(&db, &runner, &all, &ran, seeded.gpu_node_hours);
    same_answers_on_current_clickhouse(&db, &ran);
}

/// A fresh install: every query still runs, variables without options holding Grafana's "None"
/// (an empty value).
#[tokio::test]
async fn every_panel_query_runs_on_an_empty_database() {
    let store = queries::testing::test_store("dashboards_empty").await;
    let db = runner::db(&store);
    let runner = Runner::new(&db, RANGE);
    let mut problems = Vec::new();
    let mut count = 0;
    for d in &dashboards() {
        count += runner
            .run_dashboard(d, &BTreeMap::new(), true, &mut problems)
            .len();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(count >= 45);
}

/// dashboards/README.md: the macros the dashboards avoid expand to functions ClickHouse 18.16 does
/// not have, `$__timeFilter` on a Date column compares a day number with seconds there, and dividing
/// two Decimal(38, 18) overflows there.
#[tokio::test]
async fn what_the_dashboards_avoid_fails_on_clickhouse_18_16() {
    let store = queries::testing::test_store("dashboards_macros").await;
    let db = runner::db(&store);
    for name in grafana::MACROS {
        let args = if name.starts_with("dateTime") || name == "dt" {
            "day, computed_at"
        } else if name == "dateFilter" {
            "day"
        } else {
            "computed_at"
        };
        let expanded = grafana::expand_macros(
            &format!("SELECT count() FROM (SELECT today() AS day, now() AS computed_at) WHERE toUInt64($__{name}({args})) >= 0"),
            RANGE,
        );
        let ran = run_sql(&db, &expanded);
        let supported = checks::SUPPORTED_MACROS.contains(&name) || name == "dt";
        match ran {
            Ok(_) => assert!(supported, "$__{name} runs on 18.16: {expanded}"),
            Err(e) => {
                assert!(!supported, "$__{name}: {expanded}\n{e}");
                // Functions 18.16 lacks, or INTERVAL … millisecond it cannot parse.
                assert!(
                    e.contains("Unknown function") || e.contains("Syntax error"),
                    "{name}: {e}"
                );
            }
        }
    }
    let date_vs_time = grafana::expand_macros(
        "SELECT count() FROM (SELECT toDate('2026-09-15') AS day) WHERE $__timeFilter(day)",
        RANGE,
    );
    assert_eq!(run_sql(&db, &date_vs_time).unwrap().rows[0][0], "0");
    let dates = grafana::expand_macros(
        "SELECT count() FROM (SELECT toDate('2026-09-15') AS day) WHERE $__dateFilter(day)",
        RANGE,
    );
    assert_eq!(run_sql(&db, &dates).unwrap().rows[0][0], "1");
    let ratio = run_sql(
        &db,
        "SELECT toDecimal128(1000, 18) / toDecimal128(3, 18) AS ratio",
    );
    assert!(ratio.unwrap_err().contains("Decimal math overflow"));
    let display = run_sql(
        &db,
        "SELECT toFloat64(toDecimal128(1000, 18)) / toFloat64(toDecimal128(3, 18)) AS ratio",
    )
    .unwrap();
    assert!(close(display.number(0, "ratio"), 1000.0 / 3.0));
}

fn find<'a>(ran: &'a [Ran], uid: &str, title: &str) -> &'a QueryResult {
    &ran.iter()
        .find(|r| r.dashboard == uid && r.title == title && r.overrides.is_empty())
        .unwrap_or_else(|| panic!("no panel {title:?} in {uid}"))
        .result
}

fn figures_match_their_tables(
    db: &common::Db,
    runner: &Runner,
    all: &[Dashboard],
    ran: &[Ran],
    gpu_node_hours: u64,
) {
    let range = "ChargePeriodStart >= toDateTime(1785542400) AND ChargePeriodStart <= toDateTime(1793491199)";
    // Spend of the range, per currency: the stat shows exactly one currency's FOCUS total.
    let overview = all.iter().find(|d| d.uid() == "costmill-overview").unwrap();
    for currency in ["USD", "EUR"] {
        let expected = decimal(
            db,
            &format!("SELECT sum(EffectiveCost) FROM focus_costs WHERE {range} AND BillingCurrency = '{currency}'"),
        );
        let overrides =
            BTreeMap::from([("currency".to_string(), VarValue::Single(currency.into()))]);
        let mut problems = Vec::new();
        let results = runner.run_dashboard(overview, &overrides, false, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let stat = &results
            .iter()
            .find(|r| r.title == "Spend (${currency})")
            .unwrap()
            .result;
        assert!(
            close(stat.number(0, "effective"), expected),
            "{currency}: {stat:?} vs {expected}"
        );
    }
    // The team drill-down with every team, service and env: all allocated spend of the range.
    let allocated = decimal(
        db,
        "SELECT sum(effective) FROM allocations WHERE day >= '2026-08-01' AND day <= '2026-10-31' AND currency = 'USD'",
    );
    let team = find(ran, "costmill-team", "Spend (${currency})");
    assert!(
        close(team.number(0, "spend"), allocated),
        "{team:?} vs {allocated}"
    );
    // The overview's kinds add up to the same allocated spend.
    let kinds = find(
        ran,
        "costmill-overview",
        "Where the money went (${currency})",
    );
    let sum: f64 = ["direct", "shared", "unallocated", "idle"]
        .iter()
        .map(|c| kinds.number(0, c))
        .sum();
    assert!(
        (sum - allocated).abs() < 1e-6 * allocated,
        "{kinds:?} vs {allocated}"
    );
    assert!(kinds.number(0, "idle") > 0.0 && kinds.number(0, "shared") > 0.0);

    // GPU capacity of the GPU node: every window once, although the first week was landed twice.
    let gpu = find(
        ran,
        "costmill-kubernetes",
        "GPU hours: capacity and requested (Kubernetes)",
    );
    let capacity: f64 = (0..gpu.rows.len()).map(|i| gpu.number(i, "capacity")).sum();
    assert_eq!(capacity, gpu_node_hours as f64);
    assert_eq!(gpu.rows.len(), 31, "one row per day of October");

    // Anomalies: one row per alert, its latest version; resolved and EUR ones filtered out.
    let anomalies = find(ran, "costmill-anomalies", "Anomalies (${currency})");
    let ids: Vec<String> = (0..anomalies.rows.len())
        .map(|i| anomalies.text(i, "id"))
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        [
            "budget-search",
            "mom-growth",
            "spike-0",
            "spike-1",
            "spike-2"
        ]
        .map(String::from)
        .into()
    );
    let first = ids.iter().position(|id| id == "spike-0").unwrap();
    assert_eq!(anomalies.text(first, "state"), "acknowledged");
    assert_eq!(anomalies.text(first, "acked_by"), "oncall@example.com");
    let open = find(ran, "costmill-anomalies", "Open anomalies");
    assert_eq!(
        open.number(0, "open_anomalies"),
        3.0,
        "spike-1, spike-2, mom-growth"
    );

    // Budgets: October's USD budgets, at the later check's figures.
    let budgets = find(
        ran,
        "costmill-budgets",
        "Budgets, latest month in range (${currency})",
    );
    let expected: Vec<Value> = db.rows(
        "SELECT budget, toString(actual) AS actual FROM budget_status \
         WHERE month = '2026-10-01' AND currency = 'USD' AND computed_at = '2026-10-21 06:00:00' ORDER BY budget",
    );
    assert_eq!(budgets.rows.len(), expected.len());
    for e in &expected {
        let name = e["budget"].as_str().unwrap();
        let row = (0..budgets.rows.len())
            .find(|i| budgets.text(*i, "budget") == name)
            .unwrap();
        assert_eq!(budgets.text(row, "month"), "2026-10-01");
        let actual = f64::from_str(e["actual"].as_str().unwrap()).unwrap();
        assert!(close(budgets.number(row, "actual_cost"), actual), "{name}");
    }

    // Recommendations: the latest computation only (r-1, r-2, r-4 in USD).
    let recommendations = find(
        ran,
        "costmill-recommendations",
        "Recommendations (${currency})",
    );
    let ids: Vec<String> = (0..recommendations.rows.len())
        .map(|i| recommendations.text(i, "id"))
        .collect();
    assert_eq!(ids, ["r-4", "r-2", "r-1"]);
    let saving = find(
        ran,
        "costmill-recommendations",
        "Potential savings per month (${currency})",
    );
    assert!(close(saving.number(0, "saving"), 6410.0), "{saving:?}");
}

/// The same queries on chDB, over the same rows: same columns, same answers.
fn same_answers_on_current_clickhouse(db: &common::Db, ran: &[Ran]) {
    let mut setup = vec![
        "CREATE DATABASE IF NOT EXISTS costmill".to_string(),
        "USE costmill".to_string(),
    ];
    for migration in queries::migrations::MIGRATIONS {
        setup.extend(queries::sql::statements(migration.text));
    }
    for table in [
        "focus_costs",
        "allocations",
        "k8s_nodes",
        "k8s_pod_usage",
        "slurm_jobs",
        "alerts",
        "budget_status",
        "recommendations",
    ] {
        let values = db.query(&format!("SELECT * FROM {table} FORMAT Values"));
        assert!(!values.trim().is_empty(), "{table} is seeded");
        setup.push(format!("INSERT INTO {table} VALUES {values}"));
    }
    let queries: Vec<(String, String)> = ran
        .iter()
        .map(|r| {
            (
                format!("{} / {} {:?}", r.dashboard, r.title, r.overrides),
                r.sql.clone(),
            )
        })
        .collect();
    let (results, version) = chdb::run(&setup, &queries);
    assert!(!version.starts_with("18."), "chDB {version}");
    let mut problems = Vec::new();
    for (r, current) in ran.iter().zip(results) {
        let name = format!(
            "{} / {} {:?} on ClickHouse {version}",
            r.dashboard, r.title, r.overrides
        );
        match current {
            Err(e) => problems.push(format!("{name}: {e}\n{}", r.sql)),
            Ok(current) => {
                let shape = checks::shape_problems(&r.panel, &r.target, &current);
                if !shape.is_empty() {
                    problems.push(format!("{name}: {shape:?}"));
                }
                let names =
                    |q: &QueryResult| q.columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>();
                if names(&current) != names(&r.result) {
                    problems.push(format!(
                        "{name}: columns {:?} vs {:?}",
                        names(&current),
                        names(&r.result)
                    ));
                } else if !runner::same_rows(&current, &r.result) {
                    problems.push(format!(
                        "{name}: other rows\n18.16: {:?}\ncurrent: {:?}",
                        r.result.rows.iter().take(5).collect::<Vec<_>>(),
                        current.rows.iter().take(5).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
