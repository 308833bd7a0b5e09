//! `/metrics` as Prometheus sees it: the real `costmill serve` on a real ClickHouse, with a bill of
//! the current UTC month ingested and allocated (the demo rules) and a scheduled source, scraped
//! every second by Debian's `prometheus` (installed by scripts/setup.sh) with a bearer token from
//! `costmill tokens create`. The figures are read back through Prometheus' query API and compared
//! with `costmill costs`. Everything timed is polled against a deadline.
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate};
use serde_json::Value;

mod common;
use common::{free_port, http, wait_for, Db, BIN};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A child process killed when the test ends, whatever happens.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, log: PathBuf) -> Process {
        let file = File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        Process { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{:?} exited ({status}):\n{}", self.log, self.logs());
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").as_bytes(),
    )
}

fn costmill(dir: &Path, args: &[&str]) -> String {
    common::costmill(dir, &dir.join("costmill.toml"), args)
}

fn month(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// A PromQL expression as a query-string value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One series of an instant vector: its labels and value (as Prometheus prints it).
#[derive(Debug, Clone)]
struct Series {
    labels: BTreeMap<String, String>,
    value: String,
}

impl Series {
    fn f64(&self) -> f64 {
        self.value.parse().unwrap()
    }
}

/// `/api/v1/query` at the present time; `None` until Prometheus answers.
fn query(prometheus: &str, promql: &str) -> Option<Vec<Series>> {
    let (status, body) = get(
        prometheus,
        &format!("/api/v1/query?query={}", url_encode(promql)),
        None,
    )?;
    assert_eq!(status, 200, "{promql}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "success", "{promql}: {body}");
    Some(
        answer["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Series {
                labels: r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                value: r["value"][1].as_str().unwrap().to_string(),
            })
            .collect(),
    )
}

/// The value of a single-series query once it satisfies `ready`.
fn value_when(prometheus: &Process, addr: &str, promql: &str, ready: impl Fn(f64) -> bool) -> f64 {
    wait_for(
        Duration::from_secs(90),
        || format!("{promql}: {:?}\n{}", query(addr, promql), prometheus.logs()),
        || match query(addr, promql)?.as_slice() {
            [one] => Some(one.f64()).filter(|v| ready(*v)),
            _ => None,
        },
    )
}

/// `costmill costs --by <by> --metric <metric> --format json` of one month: (group, currency) →
/// the exact decimal text.
fn costs(
    dir: &Path,
    by: &str,
    metric: &str,
    from: NaiveDate,
) -> BTreeMap<(String, String), String> {
    let to = from.checked_add_months(Months::new(1)).unwrap();
    let out = costmill(
        dir,
        &[
            "costs",
            "--by",
            by,
            "--metric",
            metric,
            "--from",
            &month(from),
            "--to",
            &month(to),
            "--format",
            "json",
        ],
    );
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    rows.iter()
        .filter(|r| r["month"] == month(from).as_str())
        .map(|r| {
            (
                (
                    r["group"].as_str().unwrap().to_string(),
                    r["currency"].as_str().unwrap().to_string(),
                ),
                r["cost"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn prometheus_scrapes_costs_equal_to_costmill_costs_and_the_scrapes_themselves() {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: run scripts/setup.sh (it installs Debian's prometheus)"
    );
    let db = Db::new("metrics_prometheus");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    let this_month = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let previous = this_month.checked_sub_months(Months::new(1)).unwrap();
    let archive_month = this_month.checked_sub_months(Months::new(4)).unwrap();

    // The bill of last month and this one, ingested and allocated before serve starts; a
    // scheduled source lands an old month's file, which leaves this month's figures alone.
    let port = free_port();
    let archive = site.join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    let allocation = include_str!("../src/demo_allocation.toml")
        .replace("[[rules]]", "[[allocation.rules]]")
        .replace("[[pools]]", "[[allocation.pools]]");
    std::fs::write(
        site.join("costmill.toml"),
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[sources]]\ntype = \"focus_files\"\nname = \"archive\"\npaths = [\"{}\"]\nschedule = \"*/2 * * * * *\"\n\n{allocation}",
            db.url,
            db.database,
            archive.display()
        ),
    )
    .unwrap();
    let bill = site.join("bill.csv");
    costmill(
        site,
        &[
            "generate",
            "focus",
            "--rows",
            "20000",
            "--seed",
            "41",
            "--start",
            &month(previous),
            "--months",
            "2",
            "-o",
            bill.to_str().unwrap(),
        ],
    );
    costmill(
        site,
        &[
            "ingest",
            "focus",
            bill.to_str().unwrap(),
            "--source",
            "aws-payer",
        ],
    );
    costmill(site, &["allocate"]);
    costmill(
        site,
        &[
            "generate",
            "focus",
            "--rows",
            "2000",
            "--seed",
            "42",
            "--start",
            &month(archive_month),
            "--months",
            "1",
            "-o",
            archive.join("old.csv").to_str().unwrap(),
        ],
    );
    let token = costmill(
        site,
        &[
            "tokens",
            "create",
            "--scope",
            "read",
            "--name",
            "prometheus",
        ],
    )
    .lines()
    .next()
    .unwrap()
    .trim()
    .to_string();

    let mut serve_command = Command::new(BIN);
    serve_command
        .arg("--config")
        .arg(site.join("costmill.toml"))
        .args(["serve", "--verbose"])
        .env("COSTMILL_DATA_DIR", site.join("data"))
        .env_remove("COSTMILL_LOG");
    let mut serve = Process::spawn(serve_command, site.join("serve.log"));
    let addr = format!("127.0.0.1:{port}");
    let serve_log = serve.log.clone();
    wait_for(
        Duration::from_secs(60),
        || std::fs::read_to_string(&serve_log).unwrap_or_default(),
        || get(&addr, "/readyz", None).filter(|(status, _)| *status == 200),
    );
    serve.alive();

    // Without a token: refused, and nothing of the exposition leaks.
    let (status, body) = get(&addr, "/metrics", None).unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("costmill_"), "{body}");
    // With it: the exposition, store up.
    let (status, body) = get(&addr, "/metrics", Some(&token)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\ncostmill_store_up 1\n"), "{body}");

    let prometheus_port = free_port();
    let prometheus_addr = format!("127.0.0.1:{prometheus_port}");
    std::fs::write(
        site.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: costmill\n    metrics_path: /metrics\n    \
             authorization:\n      type: Bearer\n      credentials: {token}\n    \
             static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let mut prometheus_command = Command::new(PROMETHEUS);
    prometheus_command.args([
        format!("--config.file={}", site.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", site.join("tsdb").display()),
        format!("--web.listen-address={prometheus_addr}"),
    ]);
    let mut prometheus = Process::spawn(prometheus_command, site.join("prometheus.log"));
    wait_for(
        Duration::from_secs(60),
        || prometheus.logs(),
        || get(&prometheus_addr, "/-/ready", None).filter(|(status, _)| *status == 200),
    );
    prometheus.alive();
    let p = &prometheus_addr;

    // The target is up with the token, and the scheduled source ran (counted by serve).
    value_when(&prometheus, p, r#"up{job="costmill"}"#, |v| v == 1.0);
    value_when(
        &prometheus,
        p,
        r#"costmill_source_runs_total{job="costmill",source="archive",outcome="ok"}"#,
        |v| v >= 1.0,
    );
    value_when(
        &prometheus,
        p,
        r#"costmill_store_up{job="costmill"}"#,
        |v| v == 1.0,
    );
    let lag = value_when(
        &prometheus,
        p,
        r#"costmill_source_lag_seconds{job="costmill",source="archive"}"#,
        |_| true,
    );
    assert!(lag >= 0.0, "{lag}");

    // Cost per team and per service of this month: what `costmill costs` says, to the last bit
    // an f64 holds (Prometheus prints the shortest text that reads back as its f64).
    for by in ["team", "service"] {
        for metric in ["effective", "billed"] {
            let expected = costs(site, by, metric, this_month);
            assert!(expected.len() >= 4, "--by {by}: {expected:?}");
            let promql = format!(r#"costmill_{by}_cost_month{{job="costmill",metric="{metric}"}}"#);
            let series = wait_for(
                Duration::from_secs(90),
                || format!("{promql}: {:?}\n{}", query(p, &promql), serve.logs()),
                || query(p, &promql).filter(|s| s.len() == expected.len()),
            );
            let scraped: BTreeMap<(String, String), f64> = series
                .iter()
                .map(|s| {
                    (
                        (s.labels[by].clone(), s.labels["currency"].clone()),
                        s.f64(),
                    )
                })
                .collect();
            let wanted: BTreeMap<(String, String), f64> = expected
                .iter()
                .map(|(k, exact)| (k.clone(), exact.parse::<f64>().unwrap()))
                .collect();
            assert_eq!(
                scraped, wanted,
                "--by {by} --metric {metric}: exact {expected:?}"
            );
        }
    }

    // The scrapes themselves are in the latency histogram: the count an exposition carries is
    // the /metrics answers before it (the scrapes before it and the test's own request above),
    // so at most the scrapes Prometheus has made.
    let scrapes = r#"costmill_http_request_duration_seconds_count{job="costmill",method="GET",route="/metrics",status="200"}"#;
    let counted = value_when(&prometheus, p, scrapes, |v| v >= 3.0);
    let made = value_when(
        &prometheus,
        p,
        r#"count_over_time(up{job="costmill"}[1h])"#,
        |_| true,
    );
    assert!(
        counted <= made,
        "{counted} answers counted, {made} scrapes made"
    );
    let inf_minus_count = format!(
        r#"costmill_http_request_duration_seconds_bucket{{job="costmill",method="GET",route="/metrics",status="200",le="+Inf"}} - ignoring(le) {scrapes}"#
    );
    assert_eq!(value_when(&prometheus, p, &inf_minus_count, |_| true), 0.0);
    // The refused scrape is counted under its route too, not under its URL.
    value_when(
        &prometheus,
        p,
        r#"costmill_http_request_duration_seconds_count{job="costmill",method="GET",route="/metrics",status="401"}"#,
        |v| v == 1.0,
    );
    serve.alive();
    prometheus.alive();
}
