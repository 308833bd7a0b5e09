//! The REST API of `costmill serve` as a client sees it: the real binary on a real ClickHouse, a
//! generated multi-cloud bill ingested and allocated with the demo rules, tokens made with
//! `costmill tokens create`. Every route of the OpenAPI document is walked for 401 and 403, the
//! figures are checked against `costmill costs`, and random parameters never make a 500.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{costmill as cli, dec, free_port, wait_for, Db, BIN};

/// One HTTP/1.0 exchange: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn request(addr: &str, method: &str, path: &str, token: Option<&str>) -> Answer {
    let body = if method == "POST" { "{}" } else { "" };
    request_body(addr, method, path, token, body)
}

fn request_body(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("serve answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

struct Api {
    db: Db,
    dir: tempfile::TempDir,
    addr: String,
    serve: Child,
    tokens: BTreeMap<&'static str, String>,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

impl Api {
    fn config(&self) -> PathBuf {
        self.dir.path().join("costmill.toml")
    }

    fn cli(&self, args: &[&str]) -> String {
        cli(self.dir.path(), &self.config(), args)
    }

    fn get(&self, path: &str, token: &str) -> Answer {
        request(&self.addr, "GET", path, Some(&self.tokens[token]))
    }

    fn ok(&self, path: &str, token: &str) -> Value {
        let answer = self.get(path, token);
        assert_eq!(answer.status, 200, "GET {path} as {token}: {}", answer.body);
        answer.json()
    }

    /// Every row of a paged route, following `next_page_token`.
    fn all_rows(&self, path: &str, token: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut next: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &next {
                Some(t) => format!("{path}&page_token={t}"),
                None => path.to_string(),
            };
            let page = self.ok(&url, token);
            rows.extend(page["rows"].as_array().unwrap().iter().cloned());
            pages += 1;
            match page.get("next_page_token").and_then(Value::as_str) {
                Some(t) => next = Some(t.to_string()),
                None => break,
            }
        }
        assert!(
            pages > 1 || !path.contains("page_size=3"),
            "{path}: expected several pages"
        );
        rows
    }
}

/// A bill of two months ingested and allocated with the demo rules, tokens of every kind, and
/// `costmill serve` answering.
fn start(name: &str) -> Api {
    start_with(name, "")
}

/// [`start`] with more `[serve]` settings.
fn start_with(name: &str, serve_settings: &str) -> Api {
    let db = Db::new(name);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let allocation = include_str!("../src/demo_allocation.toml")
        .replace("[[rules]]", "[[allocation.rules]]")
        .replace("[[pools]]", "[[allocation.pools]]");
    let config = dir.path().join("costmill.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n[serve]\nlisten = \"127.0.0.1:{port}\"\n{serve_settings}\n\
             [[budgets]]\nname = \"payments\"\nteam = \"payments\"\namount = 9000\n\n\
             [[budgets]]\nname = \"search\"\nteam = \"search\"\namount = 8000\n\n{allocation}",
            db.url, db.database
        ),
    )
    .unwrap();
    let bill = dir.path().join("bill.csv");
    cli(
        dir.path(),
        &config,
        &[
            "generate",
            "focus",
            "--rows",
            "12000",
            "--seed",
            "23",
            "--start",
            "2026-08",
            "--months",
            "2",
            "-o",
            bill.to_str().unwrap(),
        ],
    );
    cli(
        dir.path(),
        &config,
        &["ingest", "focus", bill.to_str().unwrap()],
    );
    cli(dir.path(), &config, &["allocate"]);
    let mut tokens = BTreeMap::new();
    for (key, args) in [
        ("admin", &["--scope", "admin"][..]),
        ("read", &["--scope", "read"][..]),
        ("migrate", &["--scope", "migrate"][..]),
        ("payments", &["--scope", "read", "--team", "payments"][..]),
        ("revoked", &["--scope", "admin"][..]),
    ] {
        let mut command = vec!["tokens", "create", "--name", key];
        command.extend_from_slice(args);
        let out = cli(dir.path(), &config, &command);
        let token = out.lines().next().unwrap().trim().to_string();
        assert!(token.starts_with("cmt_") && token.len() > 70, "{out}");
        tokens.insert(key, token);
    }
    cli(dir.path(), &config, &["tokens", "revoke", "revoked"]);
    let serve = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("COSTMILL_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let err = dir.path().join("serve.err");
    wait_for(
        Duration::from_secs(60),
        || std::fs::read_to_string(&err).unwrap_or_default(),
        || {
            TcpStream::connect(&addr)
                .ok()
                .map(|_| request(&addr, "GET", "/readyz", None))
                .filter(|a| a.status == 200)
        },
    );
    Api {
        db,
        dir,
        addr,
        serve,
        tokens,
    }
}

/// The operations of the OpenAPI document: (method, path, scopes).
fn operations(document: &Value) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scopes: Vec<String> = op["security"][0]["bearer"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: no bearer security requirement"))
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            let required: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["required"] == true && p["in"] == "query")
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            out.push((method.to_uppercase(), path.clone(), scopes, required));
        }
    }
    out
}

/// A valid value for each required query parameter the routes have.
fn sample(name: &str) -> &'static str {
    match name {
        "service" => "payments-api",
        "month" => "2026-09",
        "from" => "2026-08",
        "to" => "2026-10",
        other => panic!("no sample value for required parameter `{other}`: add one"),
    }
}

fn url(path: &str, required: &[String]) -> String {
    let path = path.replace("{id}", "no-such-alert");
    if required.is_empty() {
        return path;
    }
    let query: Vec<String> = required
        .iter()
        .map(|n| format!("{n}={}", sample(n)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[test]
fn every_route_needs_a_token_and_its_scope() {
    let api = start("api_auth");
    let document = api.ok("/v1/openapi.json", "read");
    let ops = operations(&document);
    for expected in [
        "/v1/costs",
        "/v1/allocations",
        "/v1/export/focus",
        "/metrics",
        "/v1/alerts/{id}/ack",
    ] {
        assert!(
            ops.iter().any(|(_, p, _, _)| p == expected),
            "{expected} missing from {ops:?}"
        );
    }
    for (method, path, scopes, required) in &ops {
        let target = url(path, required);
        let anonymous = request(&api.addr, method, &target, None);
        assert_eq!(
            anonymous.status, 401,
            "{method} {target} without a token: {}",
            anonymous.body
        );
        assert_eq!(
            anonymous
                .headers
                .get("www-authenticate")
                .map(String::as_str),
            Some("Bearer")
        );
        for bad in ["cmt_000000000000_00", "nonsense", &api.tokens["revoked"]] {
            let answer = request(&api.addr, method, &target, Some(bad));
            assert_eq!(
                answer.status, 401,
                "{method} {target} with {bad}: {}",
                answer.body
            );
        }
        // Tokens whose scope (or team limit) falls short get 403; the rest get past auth.
        let needed = |scope: &str| scopes.iter().any(|s| s == scope);
        for (who, refused) in [
            ("read", needed("migrate") || needed("admin")),
            ("migrate", needed("admin")),
            (
                "payments",
                needed("migrate") || needed("admin") || needed("read:all-teams"),
            ),
            ("admin", false),
        ] {
            // What a team-limited token may see of a readable route depends on the data; the
            // other tests check that.
            if who == "payments" && !refused {
                continue;
            }
            let answer = request(&api.addr, method, &target, Some(&api.tokens[who]));
            if refused {
                assert_eq!(
                    answer.status, 403,
                    "{method} {target} as {who}: {}",
                    answer.body
                );
                assert_eq!(answer.json()["error"]["code"], "forbidden");
            } else {
                assert!(
                    ![401, 403, 500].contains(&answer.status),
                    "{method} {target} as {who}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
    }
    // The probes stay open for the kubelet.
    assert_eq!(request(&api.addr, "GET", "/healthz", None).status, 200);
    // The token list never shows a secret; revocation lands within the cache's 5 seconds.
    let listed = api.cli(&["tokens", "list", "--format", "json"]);
    for token in api.tokens.values() {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!listed.contains(secret), "a secret in `tokens list`");
    }
    assert_eq!(api.get("/v1/costs", "read").status, 200);
    api.cli(&["tokens", "revoke", "read"]);
    wait_for(
        Duration::from_secs(15),
        || "revocation".into(),
        || (api.get("/v1/costs", "read").status == 401).then_some(()),
    );
}

/// group → currency → month → amount, from `costmill costs --format json`.
type Figures = BTreeMap<(String, String, String), Decimal>;

fn cli_costs(api: &Api, by: &str, metric: &str) -> Figures {
    let out = api.cli(&["costs", "--by", by, "--metric", metric, "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            ((s("group"), s("currency"), s("month")), dec(&s("cost")))
        })
        .filter(|(_, v)| !v.is_zero())
        .collect()
}

fn api_costs(rows: &[Value]) -> Figures {
    let mut out = Figures::new();
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap().to_string();
        let month = s("period")[..7].to_string();
        *out.entry((s("group"), s("currency"), month)).or_default() += dec(&s("cost"));
    }
    out.retain(|_, v| !v.is_zero());
    out
}

#[test]
fn answers_are_kept_until_the_data_changes() {
    // Other processes' writes are looked for once an hour here: what is served in between shows
    // whether answers are kept, and what a write through the API does.
    let api = start_with("api_cache", "api_cache_check_ms = 3600000");
    let path = "/v1/costs?by=team&granularity=month&page_size=10000";
    let before = api_costs(&api.all_rows(path, "read"));
    assert_eq!(before, cli_costs(&api, "team", "effective"));
    // Another process lands and allocates a third month.
    let bill = api.dir.path().join("october.csv");
    api.cli(&[
        "generate",
        "focus",
        "--rows",
        "6000",
        "--seed",
        "24",
        "--start",
        "2026-10",
        "--months",
        "1",
        "-o",
        bill.to_str().unwrap(),
    ]);
    api.cli(&["ingest", "focus", bill.to_str().unwrap()]);
    api.cli(&["allocate"]);
    let after = cli_costs(&api, "team", "effective");
    assert!(
        after.keys().any(|(_, _, month)| month == "2026-10"),
        "{after:?}"
    );
    // The kept answer is served until the data generation is read again...
    assert_eq!(api_costs(&api.all_rows(path, "read")), before);
    // ...while an answer not kept yet (another scope: another key) is computed from the new data,
    // by the rollups the ingest and the allocation committed.
    assert_eq!(api_costs(&api.all_rows(path, "admin")), after);
    // A write through the API reads the generation again at once.
    let ack = request(
        &api.addr,
        "POST",
        "/v1/alerts/none/ack",
        Some(&api.tokens["admin"]),
    );
    assert_eq!(ack.status, 404, "{}", ack.body);
    assert_eq!(api_costs(&api.all_rows(path, "read")), after);
}

#[test]
fn requests_beyond_the_concurrency_limit_are_answered_503_at_once() {
    // One request at a time, no waiting for a turn: of concurrent exports (not cached) some
    // are turned away with Retry-After, the others answer whole, and nothing is left half done.
    let api = start_with(
        "api_admission",
        "api_max_concurrent = 1\napi_queue_timeout_ms = 0",
    );
    let token = api.tokens["read"].clone();
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (addr, token) = (api.addr.clone(), token.clone());
                scope.spawn(move || {
                    request(
                        &addr,
                        "GET",
                        "/v1/export/focus?from=2026-08&to=2026-10",
                        Some(&token),
                    )
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    let served: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(refused.len() + served.len(), 8, "only 200 or 503");
    assert!(
        !refused.is_empty() && !served.is_empty(),
        "{} refused",
        refused.len()
    );
    for answer in &refused {
        assert_eq!(
            answer.headers.get("retry-after").map(String::as_str),
            Some("1")
        );
        assert_eq!(answer.json()["error"]["code"], "overloaded");
    }
    let whole = served[0].body.len();
    assert!(whole > 100_000 && served.iter().all(|a| a.body.len() == whole));
    // Once the others are done, a request gets its turn again.
    assert_eq!(api.get("/v1/alerts", "read").status, 200);
}

#[test]
fn costs_match_the_cli_for_every_grouping_granularity_and_page() {
    let api = start("api_costs");
    for (by, metric) in [
        ("team", "effective"),
        ("service", "billed"),
        ("provider", "list"),
        ("region", "effective"),
        ("tag:env", "billed"),
    ] {
        let expected = cli_costs(&api, by, metric);
        assert!(expected.len() > 3, "{by}: {expected:?}");
        // Monthly, paged 7 rows at a time, and daily: the same money to the last digit.
        let monthly = api.all_rows(
            &format!("/v1/costs?by={by}&metric={metric}&page_size=3"),
            "admin",
        );
        assert_eq!(api_costs(&monthly), expected, "by {by}, monthly");
        let daily = api.all_rows(
            &format!("/v1/costs?by={by}&metric={metric}&granularity=day&page_size=10000"),
            "admin",
        );
        assert!(
            daily.len() > monthly.len() * 20,
            "{by}: {} daily rows",
            daily.len()
        );
        assert_eq!(api_costs(&daily), expected, "by {by}, daily");
        let weekly = api.all_rows(
            &format!("/v1/costs?by={by}&metric={metric}&granularity=week&page_size=10000"),
            "admin",
        );
        for row in &weekly {
            let day =
                chrono::NaiveDate::parse_from_str(row["period"].as_str().unwrap(), "%Y-%m-%d")
                    .unwrap();
            assert_eq!(chrono::Datelike::weekday(&day), chrono::Weekday::Mon);
        }
    }
    // A window and a filter: only September, only the payments team.
    let sept = api.all_rows(
        "/v1/costs?by=service&team=payments&from=2026-09&to=2026-10",
        "admin",
    );
    assert!(!sept.is_empty());
    assert!(sept.iter().all(|r| r["period"] == "2026-09-01"));
    let payments: Decimal = api_costs(&api.all_rows(
        "/v1/costs?by=team&team=payments&from=2026-09&to=2026-10",
        "admin",
    ))
    .values()
    .sum();
    assert_eq!(
        sept.iter()
            .map(|r| dec(r["cost"].as_str().unwrap()))
            .sum::<Decimal>(),
        payments
    );

    // A token limited to payments sees payments's figures and nothing else.
    let mine = api_costs(&api.all_rows("/v1/costs?by=team", "payments"));
    let expected: Figures = cli_costs(&api, "team", "effective")
        .into_iter()
        .filter(|((g, _, _), _)| g == "payments")
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(mine, expected);
    for refused in [
        "/v1/costs?by=provider",
        "/v1/costs?by=team&team=search",
        "/v1/sources",
        "/metrics",
    ] {
        assert_eq!(api.get(refused, "payments").status, 403, "{refused}");
    }

    // CSV: a header row, exact decimals, the next page in a header.
    let csv = api.get("/v1/costs?by=team&format=csv&page_size=5", "read");
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-type"].starts_with("text/csv"));
    assert_eq!(csv.body.lines().next(), Some("period,group,currency,cost"));
    assert_eq!(csv.body.lines().count(), 6);
    assert_eq!(
        csv.headers.get("next-page-token").map(String::as_str),
        Some("5")
    );

    // Bad parameters are named in a 400, never a 500.
    for (bad, names) in [
        ("/v1/costs?by=colour", "by"),
        ("/v1/costs?from=yesterday", "from"),
        ("/v1/costs?granularity=hour", "granularity"),
        ("/v1/costs?page_size=0", "page_size"),
        ("/v1/costs?page_token=abc", "page_token"),
        ("/v1/costs?by=team&provider=AWS", "provider"),
        ("/v1/costs?colour=red", "colour"),
        ("/v1/costs?by=team&metric=list", "list"),
    ] {
        let answer = api.get(bad, "read");
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(names), "{bad}: {message}");
    }
}

#[test]
fn allocations_explain_and_exports_keep_every_cent_and_the_team_limits() {
    let api = start("api_allocations");
    let lines = api.all_rows(
        "/v1/allocations?from=2026-09&to=2026-10&page_size=5000",
        "admin",
    );
    let mut by_currency: BTreeMap<String, Decimal> = BTreeMap::new();
    for l in &lines {
        *by_currency
            .entry(l["currency"].as_str().unwrap().into())
            .or_default() += dec(l["effective"].as_str().unwrap());
    }
    let expected: BTreeMap<String, Decimal> = api
        .db
        .rows("SELECT currency, toString(sum(effective)) AS e FROM allocations WHERE toYYYYMM(day) = 202609 GROUP BY currency")
        .iter()
        .map(|r| (r["currency"].as_str().unwrap().to_string(), dec(r["e"].as_str().unwrap())))
        .collect();
    assert_eq!(by_currency, expected);
    let payments = api.all_rows("/v1/allocations?page_size=10000", "payments");
    assert!(!payments.is_empty());
    assert!(
        payments.iter().all(|l| l["team"] == "payments"),
        "{:?}",
        payments.iter().find(|l| l["team"] != "payments")
    );

    // explain: the same money as the service's allocations; refused to a team that doesn't own it.
    let service = lines.iter().find(|l| l["team"] != "payments").unwrap()["service"]
        .as_str()
        .unwrap()
        .to_string();
    let explained = api.ok(
        &format!("/v1/explain?service={service}&month=2026-09"),
        "read",
    );
    let explained: Decimal = explained
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(r["effective"].as_str().unwrap()))
        .sum();
    let direct: Decimal = lines
        .iter()
        .filter(|l| l["service"] == service.as_str())
        .map(|l| dec(l["effective"].as_str().unwrap()))
        .sum();
    assert_eq!(explained, direct);
    assert_eq!(
        api.get(
            &format!("/v1/explain?service={service}&month=2026-09"),
            "payments"
        )
        .status,
        403
    );
    assert_eq!(
        api.get("/v1/explain?service=no-such&month=2026-09", "read")
            .status,
        404
    );

    // The FOCUS export over HTTP is the CLI's, byte for byte.
    let http = api.get("/v1/export/focus?from=2026-09&to=2026-10", "read");
    assert_eq!(http.status, 200, "{}", http.body);
    let file = api.dir.path().join("export.csv");
    api.cli(&[
        "export",
        "focus",
        "--from",
        "2026-09",
        "--to",
        "2026-10",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(http.body, std::fs::read_to_string(&file).unwrap());
    let theirs = api.get(
        "/v1/export/focus?from=2026-09&to=2026-10&team=search",
        "payments",
    );
    assert_eq!(theirs.status, 403);

    // Budgets: every one for an all-teams token, only its team's for a team token; reading them
    // writes nothing.
    let names = |who: &str| -> Vec<String> {
        api.ok("/v1/budgets", who)
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("read"), ["payments", "search"]);
    assert_eq!(names("payments"), ["payments"]);
    assert_eq!(
        api.db.query("SELECT count() FROM budget_status").trim(),
        "0"
    );

    // Recommendations: none computed yet is an empty page, not an error.
    assert_eq!(
        api.ok("/v1/recommendations", "read")["rows"],
        Value::Array(vec![])
    );
    // Alerts: acknowledging needs admin.
    assert_eq!(
        request(
            &api.addr,
            "POST",
            "/v1/alerts/x/ack",
            Some(&api.tokens["read"])
        )
        .status,
        403
    );
    assert_eq!(
        request(
            &api.addr,
            "POST",
            "/v1/alerts/x/ack",
            Some(&api.tokens["admin"])
        )
        .status,
        404
    );
}

/// Random query strings to every route: always an answer the client can act on (200, 400, 403,
/// 404), never a 500 or a store failure (503), whatever the input.
#[test]
fn random_parameters_never_break_a_route() {
    let api = start("api_fuzz");
    let document = api.ok("/v1/openapi.json", "admin");
    let mut names: Vec<String> = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                names.push(p["name"].as_str().unwrap().to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    let ops = operations(&document);
    let value = prop_oneof![
        Just("2026-09".to_string()),
        Just("team".to_string()),
        Just("tag:team".to_string()),
        Just("'; DROP TABLE allocations; --".to_string()),
        Just("%27%20OR%201%3D1".to_string()),
        Just("9999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("".to_string()),
        "[a-z0-9:,\\-]{0,12}",
        "%[0-9A-F]{2}[a-z]{0,4}",
    ];
    let params = proptest::collection::vec((proptest::sample::select(names), value), 0..5);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 150,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(proptest::sample::select(ops), params),
            |((method, path, _, required), params)| {
                let mut query: Vec<String> = required
                    .iter()
                    .map(|n| format!("{n}={}", sample(n)))
                    .collect();
                query.extend(
                    params
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20"))),
                );
                let target = format!("{}?{}", path.replace("{id}", "x"), query.join("&"));
                let answer = request(&api.addr, &method, &target, Some(&api.tokens["admin"]));
                prop_assert!(
                    [200, 400, 403, 404].contains(&answer.status),
                    "{} {}: {} {}",
                    method,
                    target,
                    answer.status,
                    answer.body
                );
                Ok(())
            },
        )
        .unwrap();
    let count = api.db.query("SELECT count() FROM allocations");
    assert!(
        count.trim().parse::<u64>().unwrap() > 0,
        "the allocations survived"
    );
}

#[test]
fn migrations_are_approved_and_rolled_back_by_scope_and_team_with_an_audit_trail() {
    use optimizer::migration::{self, Action, Proposal};
    let api = start("api_migrations");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime
        .block_on(queries::Store::connect(
            &queries::ClickHouseConfig {
                url: Some(api.db.url.clone()),
                database: api.db.database.clone(),
                ..queries::ClickHouseConfig::default()
            },
            api.dir.path(),
        ))
        .unwrap();
    let propose = |team: &str, workload: &str, saving: &str| {
        let proposal = Proposal {
            kind: "kubernetes".into(),
            workload: workload.into(),
            team: team.into(),
            service: format!("{team}-api"),
            env: "prod".into(),
            from_placement: "aws us-east-1 m6i.xlarge on-demand".into(),
            to_placement: "aws us-east-1 m6i.xlarge spot (karpenter.sh/capacity-type=spot)".into(),
            spec_before: r#"{"nodeSelector":{}}"#.into(),
            spec_after: r#"{"nodeSelector":{"karpenter.sh/capacity-type":"spot"}}"#.into(),
            saving_month: dec(saving),
            currency: "USD".into(),
            evidence: r#"{"current_monthly":"560.64"}"#.into(),
        };
        runtime
            .block_on(migration::propose(&store, &proposal, "optimizer"))
            .unwrap()
    };
    let pay = propose(
        "payments",
        "k8s://prod/payments/deployment/payments-api",
        "412.5",
    );
    let search = propose("search", "k8s://prod/search/deployment/indexer", "96.25");
    let out = api.cli(&[
        "tokens",
        "create",
        "--name",
        "pay-migrate",
        "--scope",
        "migrate",
        "--team",
        "payments",
    ]);
    let pay_migrate = out.lines().next().unwrap().trim().to_string();

    // Everyone reads within their teams; nothing is approved yet.
    let all = api.all_rows("/v1/migrations", "admin");
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|m| m["status"] == "proposed"));
    let mine = api.all_rows("/v1/migrations", "payments");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], pay.as_str());
    assert_eq!(mine[0]["saving_month"], "412.5");
    assert!(api
        .all_rows("/v1/migrations?status=approved", "admin")
        .is_empty());
    assert_eq!(api.get("/v1/migrations?status=done", "admin").status, 400);
    assert_eq!(
        api.get(&format!("/v1/migrations/{search}"), "payments")
            .status,
        403
    );

    // Approving needs scope migrate, and a team-limited token only approves its teams'.
    let approve = |id: &str, token: &str| {
        request_body(
            &api.addr,
            "POST",
            &format!("/v1/migrations/{id}/approve"),
            Some(token),
            r#"{"reason":"spot is 62% cheaper"}"#,
        )
    };
    assert_eq!(approve(&pay, &api.tokens["read"]).status, 403);
    assert_eq!(approve(&search, &pay_migrate).status, 403);
    let approved = approve(&pay, &pay_migrate);
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(approved.json()["updated_by"], "token:pay-migrate");
    // The state machine: not twice, and nothing to roll back before it was applied.
    let again = approve(&pay, &pay_migrate);
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["error"]["code"], "conflict");
    let rollback = |id: &str, token: &str| {
        request(
            &api.addr,
            "POST",
            &format!("/v1/migrations/{id}/rollback"),
            Some(token),
        )
    };
    assert_eq!(rollback(&pay, &api.tokens["migrate"]).status, 409);
    // The executor applies it; then a rollback is requested.
    runtime
        .block_on(migration::act(
            &store,
            &pay,
            Action::Applied,
            "executor:kubernetes",
            "patched nodeSelector",
        ))
        .unwrap();
    let rolled = rollback(&pay, &api.tokens["migrate"]);
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.json()["status"], "rollback_requested");

    // The audit trail: who, what, from which status to which, and why.
    let detail = api.ok(&format!("/v1/migrations/{pay}"), "payments");
    let trail: Vec<(String, String, String, String)> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (
                s("actor"),
                s("action"),
                s("status_before"),
                s("status_after"),
            )
        })
        .collect();
    let expected = [
        ("token:pay-migrate", "approve", "proposed", "approved"),
        ("executor:kubernetes", "applied", "approved", "applied"),
        ("token:migrate", "rollback", "applied", "rollback_requested"),
    ];
    assert_eq!(
        trail,
        expected
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(detail["events"][0]["detail"], "spot is 62% cheaper");
    assert_eq!(
        detail["spec_after"],
        r#"{"nodeSelector":{"karpenter.sh/capacity-type":"spot"}}"#
    );

    // Two approvals at once: the per-migration lease lets exactly one through.
    let race = propose("search", "k8s://prod/search/deployment/crawler", "10");
    let admin = api.tokens["admin"].clone();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let a = scope.spawn(|| approve(&race, &admin).status);
        let b = scope.spawn(|| approve(&race, &admin).status);
        let mut both = vec![a.join().unwrap(), b.join().unwrap()];
        both.sort();
        both
    });
    assert_eq!(statuses, vec![200, 409]);

    // The CLI acts on the same state, as `cli:$USER`.
    let out = api.cli(&["migrations", "approve", &search, "--reason", "ok"]);
    assert!(out.contains("approved"), "{out}");
    let listed: Vec<Value> = serde_json::from_str(&api.cli(&[
        "migrations",
        "list",
        "--status",
        "approved",
        "--format",
        "json",
    ]))
    .unwrap();
    let ids: Vec<&str> = listed.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&search.as_str()) && ids.contains(&race.as_str()));
    let by = listed.iter().find(|m| m["id"] == search.as_str()).unwrap()["updated_by"].clone();
    assert!(by.as_str().unwrap().starts_with("cli:"), "{by}");
}
