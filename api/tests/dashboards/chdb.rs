//! Panel queries on a current ClickHouse: chDB (PyPI `chdb-core`, installed by `.ci/run` for
//! queries/tests/chdb_compat.rs), driven through python3 like that test. The schema comes from
//! the migrations and the rows from the test database, so both engines answer the same question.
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::checks::QueryResult;

/// Reads {"setup": [sql], "queries": [{"name", "sql"}]} on stdin; runs the setup (exits 1 on the
/// first failure); prints one JSON line per query: its name and its JSONCompact result or error.
const RUNNER: &str = r#"
import json, sys, tempfile
from chdb import session
job = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as path:
    sess = session.Session(path)
    for sql in job["setup"]:
        try:
            sess.query(sql, "TSV")
        except Exception as error:
            print(json.dumps({"setup_failed": str(error), "sql": sql[:2000]}))
            sys.exit(1)
    for q in job["queries"]:
        try:
            out = sess.query(q["sql"], "JSONCompact").bytes().decode()
            print(json.dumps({"name": q["name"], "result": json.loads(out) if out.strip() else None}))
        except Exception as error:
            print(json.dumps({"name": q["name"], "error": str(error)}))
    version = sess.query("SELECT version()", "TSV").bytes().decode().strip()
    print(json.dumps({"version": version}))
"#;

/// The results of `queries` (name, sql) on chDB after `setup`, in order, and chDB's version.
pub fn run(
    setup: &[String],
    queries: &[(String, String)],
) -> (Vec<Result<QueryResult, String>>, String) {
    let job = json!({
        "setup": setup,
        "queries": queries.iter().map(|(n, s)| json!({"name": n, "sql": s})).collect::<Vec<_>>(),
    });
    let mut child = Command::new("python3")
        .args(["-c", RUNNER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = serde_json::to_vec(&job).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chDB run failed (pip install chdb-core):\n{}\n{}",
        stdout.chars().take(4000).collect::<String>(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut results = Vec::new();
    let mut version = String::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(v) = v["version"].as_str() {
            version = v.to_string();
        } else if let Some(error) = v["error"].as_str() {
            results.push(Err(error.to_string()));
        } else {
            let result = &v["result"];
            results.push(Ok(if result.is_null() {
                QueryResult {
                    columns: vec![],
                    rows: vec![],
                }
            } else {
                QueryResult::parse(&result.to_string())
            }));
        }
    }
    assert_eq!(results.len(), queries.len(), "{stdout}");
    (results, version)
}
