//! Helpers shared by the binary-level tests: polling with a deadline, free ports, plain HTTP.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

use queries::server;
use queries::testing::{test_config, test_data_dir};
use rust_decimal::Decimal;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_costmill");

/// Poll `check` until it gives a value; panic with `context()` after `within`.
pub fn wait_for<T>(
    within: Duration,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("not within {within:?}: {}", context());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 exchange: (status, body); None when nothing answers.
pub fn http(addr: &str, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    stream.write_all(request).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// POST a query to a ClickHouse HTTP interface; `params` go in the URL.
pub fn clickhouse(addr: &str, params: &str, sql: &str) -> (u16, String) {
    let request = format!(
        "POST /?{params} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    );
    http(addr, request.as_bytes()).unwrap_or_else(|| panic!("ClickHouse at {addr} answers"))
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Rows and money per currency, exact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub rows: u64,
    pub billed: BTreeMap<String, Decimal>,
    pub effective: BTreeMap<String, Decimal>,
}

/// A test database on the shared test server, queried over plain HTTP.
pub struct Db {
    pub url: String,
    pub addr: String,
    pub database: String,
}

impl Db {
    pub fn new(name: &str) -> Db {
        let config = test_config(name);
        let url = match &config.url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => server::ensure_running(&test_data_dir(), None, Duration::from_secs(60), "")
                .unwrap()
                .url(),
        };
        Db::at(&url, &config.database)
    }

    /// The database `database` of the server at `url` (a Store's, say).
    pub fn at(url: &str, database: &str) -> Db {
        let url = url.trim_end_matches('/').to_string();
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        Db {
            url,
            addr,
            database: database.to_string(),
        }
    }

    pub fn query(&self, sql: &str) -> String {
        let (status, body) = clickhouse(&self.addr, &format!("database={}", self.database), sql);
        assert_eq!(status, 200, "{sql}\n{body}");
        body
    }

    pub fn rows(&self, sql: &str) -> Vec<Value> {
        self.query(&format!("{sql} FORMAT JSONEachRow"))
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    pub fn tables_like(&self, prefixes: &[&str]) -> Vec<String> {
        let condition = prefixes
            .iter()
            .map(|p| format!("startsWith(name, '{p}')"))
            .collect::<Vec<_>>()
            .join(" OR ");
        self.rows(&format!(
            "SELECT name FROM system.tables WHERE database = '{}' AND ({condition})",
            self.database
        ))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
    }

    /// Staging and backup tables of batches.
    pub fn leftover_tables(&self) -> Vec<String> {
        self.tables_like(&["_costmill_staging_", "_costmill_backup_"])
    }

    pub fn focus_totals(&self, source: &str) -> Totals {
        let mut totals = Totals::default();
        for r in self.rows(&format!(
            "SELECT BillingCurrency AS currency, toString(count()) AS rows, \
             toString(sum(BilledCost)) AS billed, toString(sum(EffectiveCost)) AS effective \
             FROM focus_costs WHERE x_Source = '{source}' GROUP BY BillingCurrency"
        )) {
            let currency = r["currency"].as_str().unwrap().to_string();
            totals.rows += r["rows"].as_str().unwrap().parse::<u64>().unwrap();
            totals
                .billed
                .insert(currency.clone(), dec(r["billed"].as_str().unwrap()));
            totals
                .effective
                .insert(currency, dec(r["effective"].as_str().unwrap()));
        }
        totals
    }
}

/// Run `costmill --config CONFIG ARGS` with its data dir under `dir`; its standard output, or a
/// panic with its standard error.
pub fn costmill(dir: &std::path::Path, config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env_remove("COSTMILL_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "costmill {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rewrite a generated bill into another billing currency.
pub fn in_currency(from: &std::path::Path, to: &std::path::Path, currency: &str) {
    let mut reader = csv::Reader::from_path(from).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "BillingCurrency").unwrap();
    let mut writer = csv::Writer::from_path(to).unwrap();
    writer.write_record(&headers).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let fields: Vec<&str> = record
            .iter()
            .enumerate()
            .map(|(i, f)| if i == column { currency } else { f })
            .collect();
        writer.write_record(fields).unwrap();
    }
    writer.flush().unwrap();
}

/// A database of its own, migrated, and a costmill.toml in a temp dir pointing at it, with
/// `extra` TOML after the `[clickhouse]` table: (db, dir, config path).
pub fn project(name: &str, extra: &str) -> (Db, tempfile::TempDir, std::path::PathBuf) {
    let db = Db::new(name);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("costmill.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n{extra}",
            db.url, db.database
        ),
    )
    .unwrap();
    costmill(dir.path(), &config, &["db", "migrate"]);
    (db, dir, config)
}

/// The id in `proposed mig-…: …`, the first line of `costmill migrations plan|propose-slurm`.
pub fn proposed_id(out: &str) -> String {
    let id = out
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_string();
    assert!(id.starts_with("mig-"), "no proposal in {out:?}");
    id
}

/// The fake Kubernetes API server (`testing/fake-kube`) serving one fixture directory on a free
/// loopback port; stopped when dropped.
pub struct FakeKube {
    child: std::process::Child,
    pub url: String,
    pub addr: String,
}

impl FakeKube {
    pub fn start(fixtures: &str) -> FakeKube {
        use std::io::BufRead;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testing/fake-kube");
        let mut child = std::process::Command::new("python3")
            .arg(root.join("fake_kube.py"))
            .arg("--fixtures")
            .arg(root.join("fixtures").join(fixtures))
            .args(["--port", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the fake Kubernetes API server");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // Keep reading what it prints so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("fake Kubernetes API server said {line:?}"))
            .to_string();
        let addr = url.trim_start_matches("http://").to_string();
        FakeKube { child, url, addr }
    }

    /// POST a control request (`/_fake/scenario`, `/_fake/forbid`, `/_fake/reset`).
    pub fn control(&self, path: &str, body: &Value) {
        let body = body.to_string();
        let request = format!(
            "POST {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let (status, answer) = http(&self.addr, request.as_bytes()).expect("fake answers");
        assert!(status < 300, "{path}: {status} {answer}");
    }

    /// Every API request it received: method, path, query, content_type, body.
    pub fn requests(&self) -> Vec<Value> {
        let request = format!(
            "GET /_fake/requests HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.addr
        );
        let (status, body) = http(&self.addr, request.as_bytes()).expect("fake answers");
        assert_eq!(status, 200, "{body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        match value {
            Value::Array(items) => items,
            other => other["requests"].as_array().cloned().unwrap_or_default(),
        }
    }

    /// The PATCH requests it received for one object path suffix (`deployments/ledger`).
    pub fn patches(&self, object: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r["method"] == "PATCH" && r["path"].as_str().unwrap_or("").ends_with(object)
            })
            .collect()
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
