//! `costmill serve` as an operator runs it: the real binary on a real ClickHouse 18.16 (the suite's
//! shared server, one database per test), `focus_files` sources of generated FOCUS part-files on a
//! cron schedule with seconds, /healthz and /readyz over plain HTTP, SIGTERM. Everything timed is
//! polled against a deadline; nothing sleeps to assert timing.
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ingest::generate::{self, GenerateOptions};
use queries::testing::test_data_dir;
use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{dec, free_port, http, wait_for, Db, Totals, BIN};
const EVERY_TWO_SECONDS: &str = "*/2 * * * * *";

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

impl Db {
    /// Allocated money from the bill (configured prices left out) per currency, and the days.
    fn allocated(&self) -> (Totals, BTreeSet<String>) {
        let mut totals = Totals::default();
        let mut days = BTreeSet::new();
        for r in self.rows(
            "SELECT toString(day) AS day, currency, toString(sum(billed)) AS billed, \
             toString(sum(effective)) AS effective FROM allocations \
             WHERE cost_source NOT LIKE 'price:%' GROUP BY day, currency",
        ) {
            let currency = r["currency"].as_str().unwrap().to_string();
            days.insert(r["day"].as_str().unwrap().to_string());
            *totals.billed.entry(currency.clone()).or_default() +=
                dec(r["billed"].as_str().unwrap());
            *totals.effective.entry(currency).or_default() += dec(r["effective"].as_str().unwrap());
        }
        (totals, days)
    }

    /// The logged runs of a source, oldest first (empty before the schema exists).
    fn runs(&self, source: &str) -> Vec<Run> {
        let exists = self.query(&format!(
            "SELECT count() FROM system.tables WHERE database = '{}' AND name = 'source_runs'",
            self.database
        ));
        if exists.trim() != "1" {
            return Vec::new();
        }
        self.rows(&format!(
            "SELECT run_id, trigger, toString(toUInt32(started_at)) AS started, \
             toString(toUInt32(ended_at)) AS ended, outcome, toString(attempts) AS attempts, \
             toString(rows) AS rows, currencies, arrayMap(x -> toString(x), billed) AS billed, \
             arrayMap(x -> toString(x), effective) AS effective, error \
             FROM source_runs WHERE source = '{source}' ORDER BY started_at, ended_at, run_id"
        ))
        .into_iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            let list = |k: &str| -> Vec<String> {
                r[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            let currencies = list("currencies");
            Run {
                run_id: s("run_id"),
                trigger: s("trigger"),
                started: s("started").parse().unwrap(),
                ended: s("ended").parse().unwrap(),
                outcome: s("outcome"),
                attempts: s("attempts").parse().unwrap(),
                totals: Totals {
                    rows: s("rows").parse().unwrap(),
                    billed: currencies
                        .iter()
                        .cloned()
                        .zip(list("billed").iter().map(|v| dec(v)))
                        .collect(),
                    effective: currencies
                        .iter()
                        .cloned()
                        .zip(list("effective").iter().map(|v| dec(v)))
                        .collect(),
                },
                error: s("error"),
            }
        })
        .collect()
    }
}

#[derive(Debug, Clone)]
struct Run {
    run_id: String,
    trigger: String,
    started: u32,
    ended: u32,
    outcome: String,
    attempts: u32,
    totals: Totals,
    error: String,
}

/// A generated FOCUS export and what it adds up to, computed from the CSV itself.
struct Input {
    csv: Vec<u8>,
    totals: Totals,
    days: BTreeSet<String>,
}

impl Input {
    fn generate(rows: u64, seed: u64, months: u32) -> Input {
        let mut csv = Vec::new();
        let options = GenerateOptions {
            rows,
            seed,
            months,
            ..GenerateOptions::default()
        };
        generate::write_csv(&options, &mut csv).unwrap();
        let mut reader = csv::Reader::from_reader(&csv[..]);
        let headers = reader.headers().unwrap().clone();
        let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (currency, billed, effective, start) = (
            at("BillingCurrency"),
            at("BilledCost"),
            at("EffectiveCost"),
            at("ChargePeriodStart"),
        );
        let mut totals = Totals::default();
        let mut days = BTreeSet::new();
        for record in reader.records() {
            let record = record.unwrap();
            totals.rows += 1;
            *totals
                .billed
                .entry(record[currency].to_string())
                .or_default() += dec(&record[billed]);
            *totals
                .effective
                .entry(record[currency].to_string())
                .or_default() += dec(&record[effective]);
            days.insert(record[start][..10].to_string());
        }
        assert_eq!(totals.rows, rows);
        Input { csv, totals, days }
    }

    /// The export split at record boundaries into `n` part-files, each with the header, in time
    /// order: a billing month spans several parts, as real exports deliver it.
    fn parts(&self, n: usize) -> Vec<Vec<u8>> {
        let mut reader = csv::Reader::from_reader(&self.csv[..]);
        let mut record = csv::ByteRecord::new();
        let mut starts = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            starts.push(record.position().unwrap().byte() as usize);
        }
        let header = &self.csv[..starts[0]];
        let per = starts.len().div_ceil(n);
        (0..n)
            .map(|i| {
                let from = starts[i * per];
                let to = starts.get((i + 1) * per).copied().unwrap_or(self.csv.len());
                [header, &self.csv[from..to]].concat()
            })
            .collect()
    }
}

/// Write part-files into `dir`, each appearing whole (written aside, then renamed).
fn write_parts(dir: &Path, parts: &[Vec<u8>]) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, part) in parts.iter().enumerate() {
        let aside = dir.join(format!("part-{:05}.csv.partial", i + 1));
        std::fs::write(&aside, part).unwrap();
        std::fs::rename(&aside, dir.join(format!("part-{:05}.csv", i + 1))).unwrap();
    }
}

/// `[allocation]` from the rules the demo uses (api/src/demo_allocation.toml).
fn demo_allocation_toml() -> String {
    let rules: toml::Table = toml::from_str(include_str!("../src/demo_allocation.toml")).unwrap();
    let mut root = toml::Table::new();
    root.insert("allocation".into(), toml::Value::Table(rules));
    toml::to_string(&root).unwrap()
}

fn focus_source(name: &str, dir: &Path) -> String {
    format!(
        "[[sources]]\ntype = \"focus_files\"\nname = \"{name}\"\npaths = [\"{}\"]\nschedule = \"{EVERY_TWO_SECONDS}\"\n\n",
        dir.display()
    )
}

/// A working directory with a costmill.toml, and a test database.
struct Site {
    dir: tempfile::TempDir,
    db: Db,
}

impl Site {
    fn new(name: &str) -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
            db: Db::new(name),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.path("costmill.toml"), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.dir.path())
            .args(args)
            .env("COSTMILL_CONFIG", self.path("costmill.toml"))
            .env("COSTMILL_DATA_DIR", self.path("data"))
            .env("COSTMILL_TEST_DATA_DIR", test_data_dir())
            .env("COSTMILL_CLICKHOUSE__URL", &self.db.url)
            .env("COSTMILL_CLICKHOUSE__DATABASE", &self.db.database)
            .env_remove("COSTMILL_LOG");
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "costmill {args:?}: {}\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `costmill sources status --format json`, the entry of `source`.
    fn status(&self, source: &str) -> Value {
        let out = self.run(&["sources", "status", "--format", "json"]);
        let all: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        all.into_iter()
            .find(|s| s["source"] == source)
            .unwrap_or_else(|| panic!("no `{source}` in {out}"))
    }

    fn serve(&self, name: &str) -> Serve {
        let port = free_port();
        let log = self.path(&format!("{name}.log"));
        let file = File::create(&log).unwrap();
        let child = self
            .command(&[
                "serve",
                "--verbose",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Serve {
            child,
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }
}

/// A running `costmill serve`; killed if the test ends without stopping it.
struct Serve {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Serve {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&mut self, path: &str) -> Option<(u16, String)> {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("costmill serve exited ({status}):\n{}", self.logs());
        }
        http_get(&self.addr, path)
    }

    /// Wait until /healthz answers.
    fn wait_healthy(&mut self) -> (u16, String) {
        let log = self.log.clone();
        wait_for(
            Duration::from_secs(30),
            || {
                format!(
                    "/healthz never answered:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            },
            || self.get("/healthz"),
        )
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {}", self.child.id());
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(
            within,
            || {
                format!(
                    "costmill serve did not exit:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            },
            || child.try_wait().unwrap(),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn describe_runs(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "  {} {}..{} {} attempts={} rows={} {}",
                r.run_id, r.started, r.ended, r.outcome, r.attempts, r.totals.rows, r.error
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The run that landed rows, once one is logged.
fn landing_run(runs: &[Run]) -> Option<Run> {
    runs.iter()
        .find(|r| r.outcome == "ok" && r.totals.rows > 0)
        .cloned()
}

/// `GET /v1/costs?by=team` summed per currency (every page fits in one).
fn api_team_costs(serve: &Serve, token: &str) -> BTreeMap<String, Decimal> {
    let request = format!(
        "GET /v1/costs?by=team&page_size=10000 HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        serve.addr
    );
    let Some((200, body)) = http(&serve.addr, request.as_bytes()) else {
        return BTreeMap::new();
    };
    let page: Value = serde_json::from_str(&body).unwrap();
    let mut sums = BTreeMap::<String, Decimal>::new();
    for row in page["rows"].as_array().unwrap() {
        *sums
            .entry(row["currency"].as_str().unwrap().to_string())
            .or_default() += dec(row["cost"].as_str().unwrap());
    }
    sums
}

#[test]
fn what_a_scheduled_run_lands_is_answered_by_the_api_at_once() {
    let site = Site::new("serve_cache");
    let exports = site.path("exports");
    let first = Input::generate(2_000, 21, 1);
    write_parts(&exports, &first.parts(1));
    // Writes of other processes are looked for once an hour here: only serve's own runs can
    // make the kept answers go.
    site.write_config(&format!(
        "[serve]\napi_cache_check_ms = 3600000\n\n{}{}",
        focus_source("aws-payer", &exports),
        demo_allocation_toml()
    ));
    let out = site.run(&["tokens", "create", "--name", "grafana", "--scope", "read"]);
    let token = out.lines().next().unwrap().trim().to_string();
    let mut serve = site.serve("serve");
    serve.wait_healthy();
    wait_for(
        Duration::from_secs(45),
        || format!("{:?}\n{}", api_team_costs(&serve, &token), serve.logs()),
        || (api_team_costs(&serve, &token) == first.totals.effective).then_some(()),
    );
    // A corrected export of the same month replaces the first; the next run lands it, allocates
    // it, and the API answers the new figures, not the kept ones.
    let second = Input::generate(2_000, 22, 1);
    assert_ne!(second.totals.effective, first.totals.effective);
    write_parts(&exports, &second.parts(1));
    wait_for(
        Duration::from_secs(45),
        || format!("{:?}\n{}", api_team_costs(&serve, &token), serve.logs()),
        || (api_team_costs(&serve, &token) == second.totals.effective).then_some(()),
    );
}

#[test]
fn serve_runs_a_scheduled_source_allocates_its_days_and_stops_on_sigterm() {
    let site = Site::new("serve_scheduled");
    let input = Input::generate(3_000, 11, 2);
    let exports = site.path("exports");
    write_parts(&exports, &input.parts(3));
    site.write_config(&format!(
        "{}{}",
        focus_source("aws-payer", &exports),
        demo_allocation_toml()
    ));

    let mut serve = site.serve("serve");
    let (status, body) = serve.wait_healthy();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = serve.get("/readyz").expect("/readyz answers");
    assert_eq!(
        (status, body.as_str()),
        (200, "ready\n"),
        "{}",
        serve.logs()
    );

    // The first tick lands every part-file as one batch.
    let runs_log = || describe_runs(&site.db.runs("aws-payer"));
    let landed = wait_for(Duration::from_secs(45), runs_log, || {
        landing_run(&site.db.runs("aws-payer"))
    });
    assert_eq!(landed.trigger, "schedule");
    assert_eq!(landed.attempts, 1);
    assert_eq!(landed.totals, input.totals, "run log totals");
    let runs = site.db.runs("aws-payer");
    assert!(
        runs.iter().all(|r| r.outcome == "ok"),
        "{}",
        describe_runs(&runs)
    );
    assert_eq!(site.db.focus_totals("aws-payer"), input.totals);

    // Serve allocates the days the run changed: every ingested day, every dollar.
    let (allocated, days) = wait_for(
        Duration::from_secs(45),
        || format!("allocations: {:?}\n{}", site.db.allocated(), serve.logs()),
        || {
            let (totals, days) = site.db.allocated();
            (days == input.days).then_some((totals, days))
        },
    );
    assert_eq!(days.len(), 61, "2026-08 and 2026-09");
    assert_eq!(allocated.billed, input.totals.billed, "allocated billed");
    assert_eq!(
        allocated.effective, input.totals.effective,
        "allocated effective"
    );
    let costs: Vec<Value> =
        serde_json::from_str(&site.run(&["costs", "--by", "team", "--format", "json"])).unwrap();
    let mut by_currency = BTreeMap::<String, Decimal>::new();
    for row in &costs {
        let currency = row["currency"].as_str().unwrap_or("USD").to_string();
        *by_currency.entry(currency).or_default() += dec(row["cost"].as_str().unwrap());
    }
    assert_eq!(
        by_currency, input.totals.effective,
        "costs --by team: {costs:?}"
    );

    // A later tick finds the files unchanged; status still reports what the source holds.
    wait_for(Duration::from_secs(20), runs_log, || {
        let runs = site.db.runs("aws-payer");
        (runs.len() >= 2 && runs.last().unwrap().started > landed.started).then_some(())
    });
    let status = site.status("aws-payer");
    assert_eq!(status["type"], "focus_files", "{status}");
    assert_eq!(status["schedule"], EVERY_TWO_SECONDS, "{status}");
    assert_eq!(status["last_outcome"], "ok", "{status}");
    assert!(status["runs"].as_u64().unwrap() >= 2, "{status}");
    assert!(status["last_success"].is_string(), "{status}");
    let lag = status["lag_seconds"].as_i64().expect("a lag");
    assert!((0..=30).contains(&lag), "{status}");
    assert!(status["last_error"].is_null(), "{status}");

    serve.signal("TERM");
    let exit = serve.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}:\n{}", serve.logs());
    assert!(
        serve.logs().contains("costmill serve: stopped"),
        "{}",
        serve.logs()
    );
    assert!(
        http_get(&serve.addr, "/healthz").is_none(),
        "still listening"
    );
    assert_eq!(site.db.leftover_tables(), Vec::<String>::new());
    assert_eq!(site.db.focus_totals("aws-payer"), input.totals);

    // Checked last (the status was read while serve ran): what the status shows of the source.
    assert_eq!(
        status["last_rows"].as_u64(),
        Some(input.totals.rows),
        "rows the source holds, not the 0 of an unchanged tick: {status}\n{}",
        runs_log()
    );
    let effective: BTreeMap<String, Decimal> = status["last_effective"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(c, v)| (c.clone(), dec(v.as_str().unwrap())))
        .collect();
    assert_eq!(effective, input.totals.effective, "{status}");
}

/// The holders of claims on the lease `name`.
fn lease_claims(db: &Db, name: &str) -> BTreeSet<String> {
    db.rows(&format!(
        "SELECT DISTINCT holder FROM leases WHERE name = '{name}'"
    ))
    .iter()
    .map(|r| r["holder"].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn two_serve_processes_never_run_one_source_at_once() {
    let site = Site::new("serve_two");
    let first = Input::generate(2_500, 21, 2);
    let exports = site.path("exports");
    write_parts(&exports, &first.parts(3));
    site.write_config(&format!(
        "{}{}",
        focus_source("shared", &exports),
        demo_allocation_toml()
    ));
    site.run(&["db", "migrate"]);

    let mut a = site.serve("serve-a");
    let mut b = site.serve("serve-b");
    a.wait_healthy();
    b.wait_healthy();
    let logs = |a: &Serve, b: &Serve| {
        format!(
            "runs:\n{}\nserve a:\n{}\nserve b:\n{}",
            describe_runs(&site.db.runs("shared")),
            a.logs(),
            b.logs()
        )
    };

    // Phase 1: the export lands, then ticks pass with both processes scheduling the source.
    let landed = wait_for(
        Duration::from_secs(45),
        || logs(&a, &b),
        || landing_run(&site.db.runs("shared")),
    );
    assert_eq!(landed.totals, first.totals);
    wait_for(
        Duration::from_secs(30),
        || logs(&a, &b),
        || {
            let runs = site.db.runs("shared");
            (runs.iter().filter(|r| r.started > landed.started).count() >= 3).then_some(())
        },
    );

    // Phase 2: the provider restates the export (new part-files over the old ones, a third month).
    let second = Input::generate(3_000, 22, 3);
    write_parts(&exports, &second.parts(3));
    wait_for(
        Duration::from_secs(45),
        || logs(&a, &b),
        || {
            (site.db.focus_totals("shared") == second.totals
                && site.db.allocated().0.billed == second.totals.billed)
                .then_some(())
        },
    );
    let settled = site.db.runs("shared").last().unwrap().started;
    wait_for(
        Duration::from_secs(30),
        || logs(&a, &b),
        || {
            let runs = site.db.runs("shared");
            (runs.iter().filter(|r| r.started > settled).count() >= 2).then_some(())
        },
    );

    a.signal("TERM");
    b.signal("TERM");
    for serve in [&mut a, &mut b] {
        let exit = serve.wait_exit(Duration::from_secs(30));
        assert!(exit.success(), "{exit}:\n{}", serve.logs());
    }

    let runs = site.db.runs("shared");
    let report = logs(&a, &b);
    assert!(runs.len() >= 6, "{report}");
    // Every run held the source's lease.
    let claims = lease_claims(&site.db, "source/shared");
    for r in &runs {
        assert!(
            claims.contains(&r.run_id),
            "run {} held no lease\n{report}",
            r.run_id
        );
    }
    // Runs never overlap: each starts after the previous one ended (the run log has seconds).
    for pair in runs.windows(2) {
        assert!(
            pair[1].started >= pair[0].ended,
            "overlapping runs\n{report}"
        );
    }
    // Each two-second tick produced one run, not one per process. (A process that claimed the
    // lease a few ms after the winner and read the claims back after the winner had released
    // wins too, and runs the same tick again right after it: that fails here.)
    let mut per_tick = BTreeMap::<u32, Vec<&str>>::new();
    for r in &runs {
        per_tick.entry(r.started / 2).or_default().push(&r.run_id);
    }
    let twice: Vec<_> = per_tick.values().filter(|ids| ids.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "ticks run more than once: {twice:?}\nlease claims (holder, claimed_ms, last version, expires_ms):\n{}\n{report}",
        site.db.query(
            "SELECT holder, claimed_ms, max(version), argMax(expires_ms, version) FROM leases \
             WHERE name = 'source/shared' GROUP BY holder, claimed_ms ORDER BY claimed_ms FORMAT TSV"
        )
    );
    assert!(runs.iter().all(|r| r.outcome == "ok"), "{report}");
    // Both processes competed for the ticks: the one that lost a tick said so.
    let skipped = format!("{}{}", a.logs(), b.logs())
        .matches("skipped: another process is running this source")
        .count();
    assert!(skipped >= 2, "the second process never competed\n{report}");

    // No double counting: the table holds the restated export exactly, and so do the allocations.
    assert_eq!(site.db.focus_totals("shared"), second.totals);
    let (allocated, days) = site.db.allocated();
    assert_eq!(allocated.billed, second.totals.billed);
    assert_eq!(allocated.effective, second.totals.effective);
    assert_eq!(days, second.days);
    assert_eq!(site.db.leftover_tables(), Vec::<String>::new());
}

#[test]
fn a_refused_file_fails_the_run_naming_file_line_and_column_and_is_not_retried() {
    let site = Site::new("serve_failing");
    let input = Input::generate(400, 31, 1);
    let exports = site.path("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("a-good.csv"), &input.csv).unwrap();
    // The same export with one BilledCost spelled "abc": re-written record by record.
    let bad_path = exports.join("b-bad.csv");
    let mut reader = csv::Reader::from_reader(&input.csv[..]);
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "BilledCost").unwrap();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&headers).unwrap();
    let mut bad_line = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        if i == 137 {
            bad_line = record.position().unwrap().line();
            let mut fields: Vec<&str> = record.iter().collect();
            fields[column] = "abc";
            writer.write_record(&fields).unwrap();
        } else {
            writer.write_record(&record).unwrap();
        }
    }
    std::fs::write(&bad_path, writer.into_inner().unwrap()).unwrap();
    assert_eq!(bad_line, 139, "header is line 1");
    let expected = format!(
        "{}: line {bad_line}: column {} (BilledCost)",
        bad_path.display(),
        column + 1
    );
    // Quick retries, so a retried refusal would show within a tick or two.
    site.write_config(&format!(
        "[serve]\nmax_attempts = 4\nretry_initial_secs = 1\nretry_max_secs = 1\n\n{}",
        focus_source("bad-feed", &exports)
    ));

    let mut serve = site.serve("serve");
    serve.wait_healthy();
    let started = Instant::now();
    let runs = wait_for(
        Duration::from_secs(30),
        || {
            format!(
                "{}\n{}",
                describe_runs(&site.db.runs("bad-feed")),
                serve.logs()
            )
        },
        || {
            let runs = site.db.runs("bad-feed");
            (runs.len() >= 3).then_some(runs)
        },
    );
    let report = format!("{}\n{}", describe_runs(&runs), serve.logs());
    for run in &runs {
        assert_eq!(run.outcome, "failed", "{report}");
        assert_eq!(run.attempts, 1, "refused input is not retried\n{report}");
        assert_eq!(run.totals, Totals::default(), "{report}");
        assert!(
            run.error.contains(&expected),
            "expected {expected:?}\n{report}"
        );
        assert!(run.error.contains("\"abc\""), "{report}");
    }
    // One run per tick at most: a run is not retried, and the next tick waits for its time.
    let elapsed = started.elapsed().as_secs() as usize;
    assert!(
        runs.len() <= elapsed / 2 + 2,
        "{} runs in {elapsed} s\n{report}",
        runs.len()
    );
    assert!(!serve.logs().contains("retrying"), "{report}");

    let status = site.status("bad-feed");
    assert_eq!(status["last_outcome"], "failed", "{status}");
    assert!(status["last_success"].is_null(), "{status}");
    assert!(status["lag_seconds"].is_null(), "{status}");
    let last_error = status["last_error"].as_str().expect("last_error");
    assert!(last_error.contains(&expected), "{status}");
    // All or nothing: the good file of the run was not landed either.
    assert_eq!(site.db.focus_totals("bad-feed"), Totals::default());

    serve.signal("TERM");
    let exit = serve.wait_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit}:\n{}", serve.logs());
    assert_eq!(site.db.leftover_tables(), Vec::<String>::new());
}
