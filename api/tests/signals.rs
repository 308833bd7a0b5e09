//! Signals and the managed server, with the real `costmill` binary: Ctrl-C and SIGTERM during an
//! ingest abort it cleanly; `costmill db stop` signals only this data dir's ClickHouse; the
//! configured password is enforced by the managed server. Everything timed is polled against a
//! deadline; nothing sleeps to assert timing.
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ingest::generate::{self, GenerateOptions};
use queries::server;
use queries::testing::test_data_dir;

mod common;
use common::{clickhouse, dec, free_port, http, wait_for, Db, Totals, BIN};

/// A command of the binary with none of the caller's COSTMILL_* settings.
fn costmill(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("COSTMILL_") {
            command.env_remove(key);
        }
    }
    command
        .current_dir(dir)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env("COSTMILL_TEST_DATA_DIR", test_data_dir());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn send(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// A child process killed when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration, log: &Path) -> ExitStatus {
    wait_for(
        within,
        || {
            format!(
                "did not exit:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        },
        || child.try_wait().unwrap(),
    )
}

/// A test database on the shared test server.

impl Db {
    /// The batches the live rows of `source` came from, with their billing months.
    fn live_batches(&self, source: &str) -> BTreeSet<(String, String)> {
        self.rows(&format!(
            "SELECT DISTINCT x_BatchId AS batch, toString(toYYYYMM(BillingPeriodStart)) AS month \
             FROM focus_costs WHERE x_Source = '{source}'"
        ))
        .iter()
        .map(|r| {
            (
                r["batch"].as_str().unwrap().to_string(),
                r["month"].as_str().unwrap().to_string(),
            )
        })
        .collect()
    }
}

/// A generated export and its totals, computed from the CSV.
fn generate_csv(rows: u64, seed: u64, months: u32) -> (Vec<u8>, Totals) {
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
    let (currency, billed, effective) =
        (at("BillingCurrency"), at("BilledCost"), at("EffectiveCost"));
    let mut totals = Totals::default();
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
    }
    (csv, totals)
}

#[test]
fn ctrl_c_or_sigterm_during_an_ingest_aborts_it_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new("signals_ingest");
    let run = |args: &[&str]| {
        let mut command = costmill(dir.path(), args);
        command
            .env("COSTMILL_CLICKHOUSE__URL", &db.url)
            .env("COSTMILL_CLICKHOUSE__DATABASE", &db.database);
        command
    };

    // The live table holds two billing months of the source.
    let (earlier, earlier_totals) = generate_csv(2_000, 1, 2);
    let earlier_path = dir.path().join("earlier.csv");
    std::fs::write(&earlier_path, &earlier).unwrap();
    let output = run(&[
        "ingest",
        "focus",
        earlier_path.to_str().unwrap(),
        "--source",
        "aws",
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", text(&output).1);
    let before = db.focus_totals("aws");
    assert_eq!(before, earlier_totals);
    let batches = db.live_batches("aws");
    assert_eq!(batches.len(), 2, "one batch, two months: {batches:?}");

    // A large restatement of the same source and months (generated rows, repeated): it would
    // replace both months if it landed.
    let big_path = dir.path().join("big.csv");
    write_big_csv(&big_path, 3_000, 2, 2, 100);

    for signal in ["INT", "TERM"] {
        let log_path = dir.path().join(format!("ingest-{signal}.log"));
        let log = File::create(&log_path).unwrap();
        let mut child = Guard(
            run(&[
                "ingest",
                "focus",
                big_path.to_str().unwrap(),
                "--source",
                "aws",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
        );
        // Reading has started once the batch's staging table exists.
        let staging = wait_for(
            Duration::from_secs(60),
            || std::fs::read_to_string(&log_path).unwrap_or_default(),
            || {
                if let Some(status) = child.0.try_wait().unwrap() {
                    panic!(
                        "the ingest ended ({status}) before it could be interrupted:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                let tables = db.tables_like(&["_costmill_staging_"]);
                (!tables.is_empty()).then_some(tables)
            },
        );
        send(child.0.id(), signal);
        let exit = wait_exit(&mut child.0, Duration::from_secs(30), &log_path);
        let output = std::fs::read_to_string(&log_path).unwrap();
        assert!(!exit.success(), "SIG{signal}: {exit}\n{output}");
        assert!(
            output.contains("stopped by a signal") && output.contains("nothing was changed"),
            "SIG{signal}: {output}"
        );
        assert_eq!(
            db.focus_totals("aws"),
            before,
            "SIG{signal}: live rows changed"
        );
        assert_eq!(
            db.live_batches("aws"),
            batches,
            "SIG{signal}: live batches changed"
        );
        assert_eq!(
            db.leftover_tables(),
            Vec::<String>::new(),
            "SIG{signal}: staging left behind (was {staging:?})"
        );
        // The batch log says why the batch ended.
        let logged = db.rows(
            "SELECT outcome, error FROM batch_log WHERE source = 'aws' AND kind = 'ingest' \
             ORDER BY started_at DESC, seq DESC LIMIT 1",
        );
        assert!(
            logged.first().is_some_and(|r| r["outcome"] != "committed"
                && r["error"].as_str().unwrap().contains("stopped by a signal")),
            "SIG{signal}: {logged:?}"
        );
    }
}

/// A large restatement of a source's months: one generated export's rows repeated `times`.
fn write_big_csv(path: &Path, rows: u64, seed: u64, months: u32, times: usize) {
    let (chunk, _) = generate_csv(rows, seed, months);
    let body_at = chunk.iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut big = std::io::BufWriter::new(File::create(path).unwrap());
    big.write_all(&chunk[..body_at]).unwrap();
    for _ in 0..times {
        big.write_all(&chunk[body_at..]).unwrap();
    }
    big.flush().unwrap();
}

#[test]
fn sigterm_during_a_scheduled_run_aborts_it_cleanly_and_serve_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::new("signals_serve");
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(
        dir.path().join("costmill.toml"),
        format!(
            "[[sources]]\ntype = \"focus_files\"\nname = \"aws-payer\"\npaths = [\"{}\"]\nschedule = \"*/2 * * * * *\"\n",
            exports.display()
        ),
    )
    .unwrap();
    let command = |args: &[&str]| {
        let mut command = costmill(dir.path(), args);
        command
            .env("COSTMILL_CLICKHOUSE__URL", &db.url)
            .env("COSTMILL_CLICKHOUSE__DATABASE", &db.database);
        command
    };
    // What the source already holds, landed by hand.
    let (earlier, earlier_totals) = generate_csv(2_000, 3, 2);
    let earlier_path = dir.path().join("earlier.csv");
    std::fs::write(&earlier_path, &earlier).unwrap();
    let output = command(&[
        "ingest",
        "focus",
        earlier_path.to_str().unwrap(),
        "--source",
        "aws-payer",
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", text(&output).1);
    assert_eq!(db.focus_totals("aws-payer"), earlier_totals);
    let batches = db.live_batches("aws-payer");
    // The next export is large: the scheduled run is still reading when SIGTERM comes.
    write_big_csv(&exports.join("big.csv"), 3_000, 4, 2, 60);

    let log_path = dir.path().join("serve.log");
    let log = File::create(&log_path).unwrap();
    let port = free_port();
    let mut serve = Guard(
        command(&[
            "serve",
            "--verbose",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap(),
    );
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_for(Duration::from_secs(60), logs, || {
        if let Some(status) = serve.0.try_wait().unwrap() {
            panic!("costmill serve ended ({status}):\n{}", logs());
        }
        (!db.tables_like(&["_costmill_staging_"]).is_empty()).then_some(())
    });
    let addr = format!("127.0.0.1:{port}");
    let readyz = |addr: &str| {
        http(
            addr,
            format!("GET /readyz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(readyz(&addr), Some((200, "ready\n".to_string())));
    send(serve.0.id(), "TERM");
    // While the run drains (dropping its staging table, logging the batch and the run, releasing
    // the lease: several round trips to ClickHouse) /readyz says so, for a load balancer to stop
    // sending work; then the process exits. Polled without pause to see that short window.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not exit:\n{}", logs());
        let answer = readyz(&addr);
        if seen.last() != Some(&answer) {
            seen.push(answer.clone());
        }
        if answer.is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    assert!(exit.success(), "{exit}\n{}", logs());
    assert!(
        seen.contains(&Some((503, "shutting down\n".to_string()))),
        "/readyz during the drain: {seen:?}\n{}",
        logs()
    );
    assert!(logs().contains("costmill serve: stopped"), "{}", logs());

    // The run is logged as aborted, once, and changed nothing.
    let runs = db.rows(
        "SELECT outcome, toString(attempts) AS attempts, toString(rows) AS rows, error \
         FROM source_runs WHERE source = 'aws-payer'",
    );
    assert_eq!(runs.len(), 1, "{runs:?}\n{}", logs());
    assert_eq!(runs[0]["outcome"], "aborted", "{runs:?}");
    assert_eq!(
        runs[0]["attempts"], "1",
        "a stopped run is not retried: {runs:?}"
    );
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .contains("stopped by a signal"),
        "{runs:?}"
    );
    assert_eq!(
        db.focus_totals("aws-payer"),
        earlier_totals,
        "live rows changed"
    );
    assert_eq!(db.live_batches("aws-payer"), batches);
    assert_eq!(db.leftover_tables(), Vec::<String>::new());
}

fn write_state(data: &Path, pid: u32) -> PathBuf {
    let dir = server::server_dir(data);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.json");
    let state = server::ServerState {
        pid,
        http_port: free_port(),
        tcp_port: free_port(),
        binary: PathBuf::from("/usr/bin/clickhouse-server"),
    };
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    path
}

#[test]
fn db_stop_never_signals_a_process_that_is_not_this_data_dirs_clickhouse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let strangers: [(&str, Command); 2] = [
        ("an unrelated process", {
            let mut c = Command::new("sleep");
            c.arg("300");
            c
        }),
        ("a process named clickhouse-server with another config", {
            let mut c = Command::new("bash");
            c.args(["-c", "exec -a clickhouse-server sleep 300"]);
            c
        }),
    ];
    for (what, mut command) in strangers {
        let mut stranger = Guard(command.stdin(Stdio::null()).spawn().unwrap());
        let pid = stranger.0.id();
        if what.contains("named") {
            wait_for(
                Duration::from_secs(10),
                || format!("{pid} never exec'd"),
                || {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .ok()
                        .filter(|c| c.starts_with(b"clickhouse-server\0"))
                },
            );
        }
        let state = write_state(&data, pid);
        let output = costmill(dir.path(), &["db", "stop"]).output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{what}: {stderr}");
        assert!(
            stdout.contains("no managed ClickHouse server was running"),
            "{what}: {stdout}"
        );
        assert!(
            stranger.0.try_wait().unwrap().is_none() && process_alive(pid),
            "{what} (pid {pid}) was signalled by `costmill db stop`"
        );
        assert!(!state.exists(), "{what}: the stale server.json stays");
        stranger.0.kill().unwrap();
        stranger.0.wait().unwrap();
    }
}

/// Stops the private managed server of a data dir when the test ends, however it ends.
struct StopServer(PathBuf);

impl Drop for StopServer {
    fn drop(&mut self) {
        let _ = server::stop(&self.0);
    }
}

#[test]
fn the_managed_server_requires_the_configured_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(
        dir.path().join("costmill.toml"),
        "[clickhouse]\npassword = \"s3cret\"\n",
    )
    .unwrap();
    let _stop = StopServer(data.clone());

    let output = costmill(dir.path(), &["db", "status"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("server: managed, pid"), "{stdout}");
    let state: server::ServerState = serde_json::from_str(
        &std::fs::read_to_string(server::server_dir(&data).join("server.json")).unwrap(),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", state.http_port);

    for (what, params) in [
        ("no password", "user=default"),
        ("a wrong password", "user=default&password=secret"),
    ] {
        let (status, body) = clickhouse(&addr, params, "SELECT 1");
        assert!(
            status != 200
                && (body.contains("Authentication failed")
                    || body.to_lowercase().contains("password")),
            "{what} was not refused: {status} {body}"
        );
    }
    let (status, body) = clickhouse(&addr, "user=default&password=s3cret", "SELECT 1");
    assert_eq!((status, body.as_str()), (200, "1\n"));

    let output = costmill(dir.path(), &["db", "stop"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("stopped the managed ClickHouse server"),
        "{stdout}"
    );
    assert!(!process_alive(state.pid), "the managed server still runs");
}

#[test]
fn a_relative_data_dir_runs_and_stops_its_managed_server() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("costmill.toml"), "data_dir = \"state\"\n").unwrap();
    let data = dir.path().join("state");
    let _stop = StopServer(data.clone());
    let run = |args: &[&str]| {
        let mut command = costmill(dir.path(), args);
        command.env_remove("COSTMILL_DATA_DIR");
        command.output().unwrap()
    };

    let output = run(&["db", "status"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let state = server::running(&data).expect("the server under ./state answers");
    assert!(
        stdout.contains(&format!("server: managed, pid {}", state.pid)),
        "{stdout}"
    );
    let output = run(&["db", "stop"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("stopped the managed ClickHouse server"),
        "{stdout}"
    );
    assert!(!process_alive(state.pid), "the managed server still runs");
}
