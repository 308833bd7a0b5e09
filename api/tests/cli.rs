//! The `costmill` binary as users run it.
use std::path::Path;
use std::process::{Command, Output};

use queries::server;
use queries::testing::{test_config, test_data_dir};
use rust_decimal::Decimal;

fn costmill(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_costmill"));
    // As under scripts/test.sh: the suite's own variables must not upset the binary.
    command
        .current_dir(dir)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env(
            "COSTMILL_TEST_DATA_DIR",
            std::env::temp_dir().join("costmill-test-clickhouse"),
        );
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("costmill runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn config_check_names_the_key_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("costmill.toml");
    let cases = [
        (
            "[clickhouse]\nstartup_timeout_secs = \"soon\"\n",
            vec![],
            "clickhouse.startup_timeout_secs",
        ),
        (
            "[clickhouse]\nurll = \"http://x\"\n",
            vec![],
            "unknown field: found `urll`",
        ),
        (
            "[clickhouse]\nurl = \"ftp://x\"\n",
            vec![],
            "clickhouse.url: `ftp://x` must be an HTTP URL",
        ),
        (
            "",
            vec![("COSTMILL_CLICKHOUSE__DATABASE", "bad-name")],
            "clickhouse.database: `bad-name`",
        ),
        (
            "[[sources]]\ntype = \"focus_files\"\nname = \"a\"\npaths = []\n",
            vec![],
            "sources[0].paths: list at least one",
        ),
        (
            "[[sources]]\ntype = \"focus_files\"\nname = \"a\"\npaths = [\"x\"]\nstrikt = true\n",
            vec![],
            "strikt",
        ),
        (
            "[[allocation.pools]]\nname = \"a\"\nfrom_service = \"kafka\"\nmethod = \"even\"\ntargets = [\"platform\"]\n\
             [[allocation.pools]]\nname = \"b\"\nfrom_service = \"platform\"\nmethod = \"even\"\ntargets = [\"kafka\"]\n",
            vec![],
            "allocation.pools: pools split in a cycle: kafka → platform → kafka",
        ),
        (
            "[[allocation.pools]]\nname = \"p\"\nfrom_service = \"db\"\nmethod = \"proportional\"\n",
            vec![],
            "allocation.pools[0].metric",
        ),
        (
            "[[allocation.rules]]\nname = \"r\"\nservice = { tag = [] }\n",
            vec![],
            "allocation.rules[0].service.tag",
        ),
        (
            "[alerts.spike]\ndimensions = [\"colour\"]\n",
            vec![],
            "alerts.spike.dimensions: unknown dimension `colour`",
        ),
        (
            "[alerts]\nschedule = \"daily\"\n",
            vec![],
            "alerts.schedule: `daily` is not a cron expression",
        ),
        (
            "[alerts.slack]\nteams = { default = \"https://hooks.slack.com/services/T/B/x\" }\n",
            vec![],
            "alerts.slack.teams.default",
        ),
        (
            "[[budgets]]\nname = \"p\"\nteam = \"payments\"\nservice = \"api\"\namount = \"10\"\n",
            vec![],
            "budgets[0]",
        ),
        (
            "[email]\nteams = { payments = [\"leads@example.com\", \"not an address\"] }\n",
            vec![],
            "email.teams.payments[1]: `not an address` is not an address",
        ),
        (
            "[email.smtp]\nsecurity = \"ssl\"\n",
            vec![],
            "email.smtp.security: `ssl`: use starttls, tls or none",
        ),
    ];
    for (toml, env, needle) in cases {
        std::fs::write(&config, toml).unwrap();
        let output = costmill(dir.path(), &env, &["config", "check"]);
        let (_, stderr) = text(&output);
        assert!(!output.status.success(), "{toml} was accepted");
        assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    }
    std::fs::write(&config, "[clickhouse]\nurl = \"http://127.0.0.1:8123\"\n").unwrap();
    let output = costmill(
        dir.path(),
        &[("COSTMILL_CLICKHOUSE__DATABASE", "env_db")],
        &["config", "check"],
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("http://127.0.0.1:8123 (database env_db)"),
        "environment override lost: {stdout}"
    );

    // A webhook is a credential: counted, never printed.
    std::fs::write(
        &config,
        "[alerts.slack]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/s3cr3t\"\n",
    )
    .unwrap();
    let output = costmill(dir.path(), &[], &["config", "check"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("Slack: 1 webhook(s)"), "{stdout}");
    assert!(
        !stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"),
        "{stdout}{stderr}"
    );

    let missing = costmill(
        dir.path(),
        &[],
        &["--config", "nope.toml", "config", "check"],
    );
    assert!(text(&missing)
        .1
        .contains("config file nope.toml does not exist"));
}

#[test]
fn managed_server_starts_once_is_reused_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = costmill(dir.path(), &[], &["db", "migrate"]);
    assert!(first.status.success(), "{}", text(&first).1);
    assert!(text(&first).0.contains("applied 001_focus_costs"));
    let state = server::running(&data).expect("server recorded and answering");

    let status = costmill(dir.path(), &[], &["db", "status"]);
    let (stdout, _) = text(&status);
    assert!(
        stdout.contains(&format!("managed, pid {}", state.pid)),
        "not reused: {stdout}"
    );
    assert!(
        stdout.contains("001 001_focus_costs") && stdout.contains("applied 20"),
        "{stdout}"
    );
    assert!(text(&costmill(dir.path(), &[], &["db", "migrate"]))
        .0
        .contains("schema is up to date"));

    assert!(text(&costmill(dir.path(), &[], &["db", "stop"]))
        .0
        .contains("stopped"));
    assert!(server::running(&data).is_none());
    assert!(text(&costmill(dir.path(), &[], &["db", "stop"]))
        .0
        .contains("no managed ClickHouse server was running"));
}

#[test]
fn missing_server_binary_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = costmill(
        dir.path(),
        &[(
            "COSTMILL_CLICKHOUSE__SERVER_BINARY",
            "/nonexistent/clickhouse-server",
        )],
        &["db", "status"],
    );
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(
        stderr.contains("apt-get install clickhouse-server") && stderr.contains("[clickhouse] url"),
        "{stderr}"
    );
}

#[test]
fn demo_ingests_and_reports_month_over_month() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config("cli_demo");
    let url = match &config.url {
        Some(url) => url.clone(),
        None => server::ensure_running(
            &test_data_dir(),
            None,
            std::time::Duration::from_secs(60),
            "",
        )
        .unwrap()
        .url(),
    };
    let env = [
        ("COSTMILL_CLICKHOUSE__URL", url.as_str()),
        ("COSTMILL_CLICKHOUSE__DATABASE", config.database.as_str()),
    ];
    let demo = costmill(dir.path(), &env, &["demo", "--rows", "4000", "--seed", "3"]);
    let (stdout, stderr) = text(&demo);
    assert!(demo.status.success(), "{stderr}");
    for needle in [
        "ingested 4000 rows",
        "spec deviations",
        "metric values (kafka_bytes, key_count, table_bytes)",
        "conservation checked",
        "EffectiveCost by provider",
        "EffectiveCost by team",
        "unallocated",
        "top movers by service in 2026-10",
        "open alerts as of 2026-10-30",
        "budgets (demo: each team's previous month + 5 %",
        "the weekly email of 2026-10-19",
    ] {
        assert!(
            stdout.contains(needle),
            "demo output lacks {needle:?}:\n{stdout}"
        );
    }
    // The week's email beside the demo data: a real message with the HTML part and the chart.
    let eml = std::fs::read_to_string(
        dir.path()
            .join("data/demo/email/costmill-finops-2026-10-19.eml"),
    )
    .expect("the demo writes the week's email");
    for needle in [
        "Message-ID:",
        "multipart/related",
        "Content-ID:",
        "text/html",
        "text/csv",
    ] {
        assert!(eml.contains(needle), "the .eml lacks {needle}");
    }

    // Alerts: listed as JSON, explained, acknowledged.
    let listed = costmill(dir.path(), &env, &["alerts", "list", "--format", "json"]);
    let alerts: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&listed).1));
    assert!(
        !alerts.is_empty(),
        "the demo data has anomalies and over-budget teams"
    );
    let id = alerts[0]["id"].as_str().unwrap();
    let explained = costmill(dir.path(), &env, &["alerts", "explain", id]);
    let (out, err) = text(&explained);
    assert!(explained.status.success() && out.contains(id), "{out}{err}");
    let acked = costmill(dir.path(), &env, &["alerts", "ack", id, "--by", "carol"]);
    assert!(
        text(&acked).0.contains("acknowledged"),
        "{:?}",
        text(&acked)
    );
    let after = costmill(dir.path(), &env, &["alerts", "list", "--format", "json"]);
    let after: Vec<serde_json::Value> = serde_json::from_slice(&after.stdout).unwrap();
    let same = after.iter().find(|a| a["id"] == id).expect("still listed");
    assert_eq!(
        (same["state"].as_str(), same["acked_by"].as_str()),
        (Some("acknowledged"), Some("carol"))
    );
    let unknown = costmill(dir.path(), &env, &["alerts", "explain", "spike-nope"]);
    assert!(
        text(&unknown).1.contains("alerts list --all"),
        "{:?}",
        text(&unknown)
    );

    let json = costmill(
        dir.path(),
        &env,
        &[
            "costs", "--by", "provider", "--metric", "billed", "--format", "json",
        ],
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.len(), 9, "3 providers × 3 months");
    for row in &rows {
        let get = |k: &str| row[k].as_str().unwrap().parse::<Decimal>().unwrap();
        assert_eq!(get("change"), get("cost") - get("previous"), "{row}");
    }
    let september: Decimal = rows
        .iter()
        .filter(|r| r["month"] == "2026-09")
        .map(|r| r["cost"].as_str().unwrap().parse::<Decimal>().unwrap())
        .sum();
    let window = costmill(
        dir.path(),
        &env,
        &[
            "costs", "--by", "provider", "--metric", "billed", "--from", "2026-09", "--to",
            "2026-10", "--format", "csv",
        ],
    );
    let csv_text = String::from_utf8(window.stdout).unwrap();
    let windowed: Decimal = csv_text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(windowed, september);

    let bad = costmill(dir.path(), &env, &["costs", "--by", "colour"]);
    let (_, stderr) = text(&bad);
    assert!(
        stderr.contains(
            "--by colour: expected service, team, env (allocated owners), provider, cloud-service"
        ),
        "{stderr}"
    );
}
