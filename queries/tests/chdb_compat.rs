//! Every migration and every SQL file must run on a current ClickHouse too, not only on 18.16.
//! chDB (PyPI `chdb-core`) is a current ClickHouse engine in-process; `.ci/run` installs it.
use std::io::Write;
use std::process::{Command, Stdio};

use queries::migrations::MIGRATIONS;
use queries::{q, Param, Query};

const DATABASE: &str = "costmill_compat";
/// A staged FOCUS batch, for the queries that read one.
const STAGING: &str = "_costmill_staging_compat_focus_costs";
/// The generic staged commit runs on `allocations`: a Date partition has a known id.
const COMMIT_STAGING: &str = "_costmill_staging_compat_allocations";
const COMMIT_BACKUP: &str = "_costmill_backup_compat_allocations";
const PARTITION: &str = "20240901";

/// Sample values chosen by each placeholder's declared type (and name).
fn with_samples(mut query: Query) -> Query {
    for (name, ty) in query.placeholders() {
        let value = match ty.as_str() {
            "Identifier" if name == "database" => Param::Ident(DATABASE.into()),
            "Identifier" if name == "live" => Param::Ident("allocations".into()),
            "Identifier" if name == "backup" => Param::Ident(COMMIT_BACKUP.into()),
            // A rollup's staging table, filled from its source's staging table.
            "Identifier" if name == "rollup" => Param::Ident(format!(
                "_costmill_staging_compat_{}",
                query.name.trim_start_matches("rollup_")
            )),
            "Identifier" if query.name.starts_with("rollup_focus") => Param::Ident(STAGING.into()),
            "Identifier" if query.name.starts_with("focus") || query.name.starts_with("bench") => {
                Param::Ident(STAGING.into())
            }
            "Identifier" => Param::Ident(COMMIT_STAGING.into()),
            "String" if name == "partition" || name == "id" => Param::Str(PARTITION.into()),
            "String" if name == "table" => Param::Str(COMMIT_STAGING.into()),
            "String" => Param::Str("provider".into()),
            "DateTime" => Param::DateTime(1_725_148_800),
            "Date" => Param::Date(chrono::NaiveDate::from_ymd_opt(2024, 9, 1).unwrap()),
            "Array(String)" => Param::StrArray(vec!["a".into(), "b".into()]),
            t if t.starts_with("UInt") || t.starts_with("Int") => Param::Int(202409),
            other => panic!(
                "{}: no sample value for placeholder type {other}",
                query.name
            ),
        };
        query = query.bind(&name, value);
    }
    query
}

#[test]
fn every_schema_and_query_file_runs_on_current_clickhouse() {
    let mut statements = vec![
        serde_json::json!({"name": "create database", "sql": format!("CREATE DATABASE IF NOT EXISTS {DATABASE}")}),
        serde_json::json!({"name": "use database", "sql": format!("USE {DATABASE}")}),
    ];
    for migration in MIGRATIONS {
        for sql in queries::sql::statements(migration.text) {
            statements.push(serde_json::json!({"name": migration.name, "sql": sql}));
        }
    }
    // A staged FOCUS batch with a row in it, as in a real ingest, and a live allocation day with
    // a backup table for the commit's partition statements.
    for sql in [
        format!("CREATE TABLE {STAGING} AS focus_costs"),
        format!(
            "INSERT INTO {STAGING} (x_Source, BillingPeriodStart, BilledCost) \
             VALUES ('provider', '2024-09-01 00:00:00', 1.5)"
        ),
        format!("CREATE TABLE {COMMIT_BACKUP} AS allocations"),
        "CREATE TABLE _costmill_staging_compat_focus_costs_daily AS focus_costs_daily".to_string(),
        "CREATE TABLE _costmill_staging_compat_focus_tags_daily AS focus_tags_daily".to_string(),
        "CREATE TABLE _costmill_staging_compat_allocations_daily AS allocations_daily".to_string(),
        "INSERT INTO allocations (day, service, effective) VALUES ('2024-09-01', 'svc', 1.5)"
            .to_string(),
    ] {
        statements.push(serde_json::json!({"name": "setup", "sql": sql}));
    }
    // The staging tables must exist before the queries that read them, and go last.
    let mut files: Vec<(&str, fn() -> Query)> = q::ALL.to_vec();
    files.sort_by_key(|(name, _)| match *name {
        "create_database" | "migrations_table" | "leases_table" => 0,
        "staging_create" => 1,
        "staging_drop" => 3,
        _ => 2,
    });
    for (name, make) in &files {
        let sql = with_samples(make())
            .render()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        statements.push(serde_json::json!({"name": name, "sql": sql}));
        if *name == "staging_create" {
            // As in a real commit, the partition being swapped in has rows: current ClickHouse
            // refuses REPLACE PARTITION from an empty source partition.
            let row = format!("INSERT INTO {COMMIT_STAGING} (day, service, effective) VALUES ('2024-09-01', 'svc', 2.5)");
            statements.push(serde_json::json!({"name": "stage a sample row", "sql": row}));
        }
    }
    assert_eq!(files.len(), q::ALL.len());

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chdb_compat.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&statements).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chDB run failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "{} statements ran on ClickHouse",
            statements.len()
        )),
        "{stdout}"
    );
}
