//! `costmill serve` runs the alert job on `[alerts] schedule` and posts to Slack: the real binary,
//! a real ClickHouse, and a local HTTP receiver standing in for the Slack webhook, which records
//! every request body. A spike found on the first tick is posted once, however many ticks follow.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Datelike, Utc};

mod common;
use common::{free_port, wait_for, Db, BIN};

/// Records request bodies; answers 200 `ok` as Slack does.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (addr, bodies)
}

#[test]
fn serve_posts_a_spike_to_slack_once_across_ticks() {
    let db = Db::new("serve_alerts");
    let dir = tempfile::tempdir().unwrap();
    let (hook, bodies) = receiver();
    let config = dir.path().join("costmill.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [alerts]\nschedule = \"*/2 * * * * *\"\n\n[alerts.spike]\nsettle_days = 0\n\n[alerts.slack]\n\
             webhook_url = \"http://{hook}/services/T000/B000/s3cr3t\"\n",
            db.url, db.database
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("COSTMILL_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["db", "migrate"]);

    // Ten weeks of allocated spend of two services up to yesterday; search's GPU node burns on
    // the last day.
    let today = Utc::now().date_naive();
    let mut values = Vec::new();
    for back in 1..=70 {
        let day = today - chrono::Duration::days(back);
        let weekend = day.weekday().num_days_from_monday() >= 5;
        for (service, team, base) in [
            ("search", "discovery", 2000),
            ("checkout", "payments", 3000),
        ] {
            let mut amount = if weekend { base / 2 } else { base } + (back * 7 % 13) as i64;
            if service == "search" && back == 1 {
                amount += 4000;
            }
            values.push(format!(
                "('{day}', '{service}', '{team}', 'prod', 'rule', '', 'rule', 'AWS / Amazon EC2', \
                 'i-{service}', 1, {amount}, {amount}, 'USD', 1, 'seed', now())"
            ));
        }
    }
    db.query(&format!(
        "INSERT INTO allocations (day, service, team, env, kind, pool, method, cost_source, \
         input_ref, share, billed, effective, currency, input_rows, run_id, computed_at) VALUES {}",
        values.join(",")
    ));

    let log = dir.path().join("serve.log");
    let mut serve = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("COSTMILL_DATA_DIR", dir.path().join("data"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("serve.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let logs = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("serve.err")).unwrap_or_default()
        )
    };
    let posted = wait_for(Duration::from_secs(60), logs, || {
        let b = bodies.lock().unwrap();
        (!b.is_empty()).then(|| b.clone())
    });
    // Several more ticks: each takes the senders' lease under a holder of its own.
    let ticks = |db: &Db| {
        db.query("SELECT count(DISTINCT holder) FROM leases WHERE name = 'job/send'")
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    let first_ticks = ticks(&db);
    wait_for(Duration::from_secs(30), logs, || {
        (ticks(&db) >= first_ticks + 3).then_some(())
    });
    // SIGTERM, as an orchestrator stops serve.
    // SAFETY: a plain signal to a child process this test started.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let status = serve.wait().unwrap();
    assert!(status.success(), "{status}: {}", logs());

    let all = bodies.lock().unwrap().clone();
    let search: Vec<&String> = all.iter().filter(|b| b.contains("search")).collect();
    assert_eq!(search.len(), 1, "the spike is posted once: {all:#?}");
    let message: serde_json::Value = serde_json::from_str(&posted[0]).unwrap();
    assert!(message["blocks"].is_array(), "{message}");
    assert!(
        message["text"].as_str().unwrap().contains("search"),
        "{message}"
    );
    let listed = run(&["alerts", "list", "--format", "json"]);
    assert!(listed.contains("\"search\""), "{listed}");
    // The webhook is a credential: not in the logs, not in the delivery records.
    assert!(!logs().contains("s3cr3t"), "{}", logs());
    let deliveries = db
        .query("SELECT channel, item, state, last_error, payload FROM deliveries FINAL FORMAT TSV");
    assert!(
        deliveries.contains("slack:default") && deliveries.contains("\tsent\t"),
        "{deliveries}"
    );
    assert!(!deliveries.contains("s3cr3t"), "{deliveries}");
}
