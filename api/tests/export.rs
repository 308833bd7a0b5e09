//! `costmill export focus` on a real ClickHouse, through the binary: a generated two-currency
//! bill with Kubernetes workloads and Slurm jobs allocated by the demo rules, exported as CSV and
//! Parquet, each export ingested with `costmill ingest focus --strict` into a fresh database. The
//! totals per currency, team and month are the original's to the last digit, before and after
//! allocating the ingested export back by its tags; team filters and the window hold; the
//! Kubernetes and Slurm split lines are there with their methods.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use allocator::AllocationConfig;
use figment::providers::{Format, Toml};
use ingest::generate::{self, GenerateOptions};
use queries::testing::test_store;
use queries::Store;
use rust_decimal::Decimal;

mod common;
use common::{dec, in_currency, Db, BIN};

const FROM: &str = "2026-08-02";
const TO: &str = "2026-09-20";

/// The test database of `store`, for plain SQL.
fn db_of(store: &Store) -> Db {
    Db::at(store.url(), store.database())
}

fn run(db: &Db, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env("COSTMILL_CLICKHOUSE__URL", &db.url)
        .env("COSTMILL_CLICKHOUSE__DATABASE", &db.database)
        .output()
        .expect("costmill runs")
}

/// Run the binary, which must succeed; its standard output.
fn costmill(db: &Db, dir: &Path, args: &[&str]) -> String {
    let output = run(db, dir, args);
    assert!(
        output.status.success(),
        "costmill {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Amounts by key.
type Sums<K> = BTreeMap<K, Decimal>;

/// `costmill costs --format csv` of the window: cost per (group, month, currency).
fn costs(db: &Db, dir: &Path, by: &str, metric: &str) -> Sums<(String, String, String)> {
    let text = costmill(
        db,
        dir,
        &[
            "costs", "--by", by, "--from", FROM, "--to", TO, "--metric", metric, "--format", "csv",
        ],
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let r = record.unwrap();
        out.insert(
            (r[0].to_string(), r[1].to_string(), r[3].to_string()),
            dec(&r[2]),
        );
    }
    assert!(!out.is_empty(), "costs --by {by}: {text}");
    out
}

/// Sums of `costs` by currency.
fn per_currency(costs: &Sums<(String, String, String)>) -> Sums<String> {
    let mut out = BTreeMap::new();
    for ((_, _, currency), cost) in costs {
        *out.entry(currency.clone()).or_default() += *cost;
    }
    out
}

/// Exact sums per currency as ClickHouse prints them: `(billed, effective)`.
fn exact(db: &Db, sql: &str) -> BTreeMap<String, (String, String)> {
    db.rows(sql)
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("currency"), (s("billed"), s("effective")))
        })
        .collect()
}

/// The rows of an exported CSV, by header name.
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn allocation_config() -> AllocationConfig {
    let mut config: AllocationConfig = figment::Figment::from(Toml::file_exact(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/demo_allocation.toml"
    )))
    .extract()
    .unwrap();
    for rule in [
        "name = \"pods\"\nwhen = { namespace = \"*\" }\nservice = { tag = [\"app\"] }\nteam = \"k8s-tenants\"",
        "name = \"slurm-accounts\"\nwhen = { tags = { slurm_account = \"*\" } }\nservice = { tag = [\"slurm_partition\"] }\nteam = { tag = [\"slurm_account\"] }",
    ] {
        config.rules.insert(0, toml::from_str(rule).unwrap());
    }
    config.slurm = toml::from_str(
        "[partitions.gpu]\ncpus = \"32\"\nmemory_gb = \"256\"\ngpus = \"4\"\ncpu_hourly = \"0.04\"\n\
         memory_gb_hourly = \"0.005\"\ngpu_hourly = \"2.5\"\n\n\
         [partitions.batch]\nnodes = \"arn:aws:ec2:us-east-1:*\"\ncpus = \"64\"\nmemory_gb = \"256\"\n",
    )
    .unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    config
}

/// A generated USD bill and a EUR bill with service metrics, two workloads on one EC2 instance
/// and Slurm jobs (configured gpu rates; batch priced from its nodes' bill), allocated.
async fn allocated_store(dir: &Path) -> Store {
    let store = test_store("export").await;
    let db = db_of(&store);
    let usd = GenerateOptions {
        rows: 20_000,
        seed: 23,
        months: 2,
        ..GenerateOptions::default()
    };
    let eur = GenerateOptions {
        rows: 5_000,
        seed: 24,
        months: 2,
        ..GenerateOptions::default()
    };
    let create = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    generate::write_csv(&usd, create("usd.csv")).unwrap();
    generate::write_metrics_csv(&usd, create("metrics.csv")).unwrap();
    generate::write_csv(&eur, create("eur-generated.csv")).unwrap();
    in_currency(&dir.join("eur-generated.csv"), &dir.join("eur.csv"), "EUR");
    for args in [
        ["ingest", "focus", "usd.csv", "--source", "us-billing"],
        ["ingest", "focus", "eur.csv", "--source", "eu-billing"],
        ["ingest", "metrics", "metrics.csv", "--source", "metrics"],
    ] {
        costmill(&db, dir, &args);
    }
    let instance = &db.rows(
        "SELECT ResourceId AS id, toString(toDate(ChargePeriodStart)) AS day FROM focus_costs \
         WHERE ServiceName = 'Amazon Elastic Compute Cloud' AND ResourceId != '' AND ChargeCategory = 'Usage' \
         AND BillingCurrency = 'USD' AND ChargePeriodStart >= '2026-08-10 00:00:00' \
         AND ChargePeriodStart < '2026-09-19 00:00:00' \
         AND ResourceId NOT IN (SELECT ResourceId FROM focus_costs WHERE BillingCurrency = 'EUR') \
         ORDER BY ResourceId, day LIMIT 1",
    )[0];
    let id = instance["id"].as_str().unwrap().rsplit('/').next().unwrap();
    let d = instance["day"].as_str().unwrap();
    for sql in [
        format!("INSERT INTO k8s_nodes VALUES ('prod', 'node-1', 'aws:///us-east-1a/{id}', 'm5.xlarge', 4, 17179869184, 0, '{d} 00:00:00', '{d} 23:59:59', now())"),
        format!("INSERT INTO k8s_pod_usage VALUES ('prod', 'node-1', 'payments', 'ledger-7d9f', 'Deployment', 'ledger', ['app'], ['ledger'], '{d} 00:00:00', '{d} 23:59:59', 2, 1.5, 4294967296, 6442450944, 0, now()), ('prod', 'node-1', 'search', 'indexer-x1', 'Deployment', 'indexer', ['app'], ['indexer'], '{d} 06:00:00', '{d} 18:00:00', 0.5, 1, 1073741824, 1073741824, 0, now())"),
        "INSERT INTO slurm_jobs VALUES \
         ('hpc', '1001', 'train', 'gpu', 'ml-research', 'alice', 8, 65536, 2, '2026-08-03 01:00:00', '2026-08-03 07:00:00', 'COMPLETED', now()), \
         ('hpc', '1002', 'etl', 'batch', 'data-eng', 'bob', 4, 16384, 0, '2026-08-03 02:00:00', '2026-08-03 03:30:00', 'COMPLETED', now()), \
         ('hpc', '1003', 'sim', 'batch', 'data-eng', 'bob', 2, 8192, 0, '2026-08-03 22:00:00', '2026-08-04 04:00:00', 'TIMEOUT', now())".to_string(),
    ] {
        db.query(&sql);
    }
    allocator::run::run(&store, &allocation_config(), None)
        .await
        .unwrap();
    store
}

/// Ingest an export strictly into a fresh database; that database.
fn ingest_fresh(name: &str, dir: &Path, file: &str) -> Db {
    let fresh = Db::new(name);
    let out = costmill(
        &fresh,
        dir,
        &["ingest", "focus", file, "--strict", "--source", "export"],
    );
    assert!(out.contains("ingested"), "{out}");
    fresh
}

#[tokio::test]
async fn focus_export_reads_back_to_the_same_totals_per_currency_and_team() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let store = allocated_store(dir).await;
    let original = db_of(&store);
    let window = format!("day >= '{FROM}' AND day < '{TO}'");
    let allocated = exact(
        &original,
        &format!(
            "SELECT currency, toString(sum(billed)) AS billed, toString(sum(effective)) AS effective \
             FROM allocations WHERE {window} GROUP BY currency"
        ),
    );
    assert_eq!(
        allocated.keys().collect::<Vec<_>>(),
        ["EUR", "USD"],
        "two currencies"
    );
    let lines: u64 = original
        .query(&format!("SELECT count() FROM allocations WHERE {window}"))
        .trim()
        .parse()
        .unwrap();
    // The days just outside the window have allocations, which the export must leave out.
    let outside: u64 = original
        .query("SELECT count() FROM allocations WHERE day IN ('2026-08-01', '2026-09-20')")
        .trim()
        .parse()
        .unwrap();
    assert!(outside > 0);
    let by_team = [
        ("effective", costs(&original, dir, "team", "effective")),
        ("billed", costs(&original, dir, "team", "billed")),
    ];
    let (service, env) = (
        costs(&original, dir, "service", "effective"),
        costs(&original, dir, "env", "effective"),
    );

    // CSV to a file, and the same bytes on standard output.
    let window_args = ["export", "focus", "--from", FROM, "--to", TO];
    costmill(
        &original,
        dir,
        &[&window_args[..], &["-o", "allocated.csv"]].concat(),
    );
    let csv = std::fs::read_to_string(dir.join("allocated.csv")).unwrap();
    assert_eq!(costmill(&original, dir, &window_args), csv);
    assert!(!dir.join("allocated.csv.partial").exists());
    let rows = csv_rows(&csv);
    assert_eq!(
        rows.len() as u64,
        lines,
        "one FOCUS row per allocation line"
    );
    let days: BTreeSet<&str> = rows.iter().map(|r| &r["ChargePeriodStart"][..10]).collect();
    assert_eq!(days.first(), Some(&FROM));
    assert_eq!(days.last(), Some(&"2026-09-19"));
    assert_eq!(days.len(), 49, "every day of the window, none outside");

    // The Kubernetes and Slurm split lines, with their methods.
    let with = |key: &str, value: &str| -> Vec<&BTreeMap<String, String>> {
        rows.iter().filter(|r| r[key] == value).collect()
    };
    for (input_ref, service) in [
        ("k8s://prod/payments/ledger", "ledger"),
        ("k8s://prod/search/indexer", "indexer"),
    ] {
        let found = with("x_InputRef", input_ref);
        assert_eq!(found.len(), 1, "{input_ref}");
        let r = found[0];
        assert_eq!(
            (
                r["x_AllocationMethod"].as_str(),
                r["x_Team"].as_str(),
                r["x_Service"].as_str(),
                r["ResourceId"].as_str(),
                r["ProviderName"].as_str()
            ),
            ("rule:pods", "k8s-tenants", service, input_ref, "AWS")
        );
        assert!(dec(&r["EffectiveCost"]) > Decimal::ZERO);
    }
    let k8s_idle = with("x_AllocationMethod", "kubernetes idle capacity");
    assert_eq!(k8s_idle.len(), 1);
    assert_eq!(k8s_idle[0]["x_AllocationKind"], "idle");
    assert_eq!(k8s_idle[0]["x_InputRef"], "prod/node-1");
    let gpu = with("x_InputRef", "slurm://hpc/gpu/1001");
    assert_eq!(gpu.len(), 1);
    assert_eq!(
        (
            gpu[0]["x_AllocationMethod"].as_str(),
            gpu[0]["x_Team"].as_str(),
            gpu[0]["ProviderName"].as_str(),
            gpu[0]["ServiceName"].as_str(),
            gpu[0]["EffectiveCost"].as_str(),
        ),
        (
            "rule:slurm-accounts",
            "ml-research",
            "costmill",
            "slurm partition gpu",
            "33.84"
        ),
        "configured rates: 6 h × (8 × 0.04 + 64 GB × 0.005 + 2 × 2.5)"
    );
    let batch: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["x_InputRef"].starts_with("slurm://hpc/batch/"))
        .map(|r| r["x_InputRef"].as_str())
        .collect();
    assert_eq!(
        batch,
        ["slurm://hpc/batch/1002", "slurm://hpc/batch/1003"].into()
    );
    assert!(!with("x_AllocationMethod", "slurm idle capacity").is_empty());
    assert!(rows.iter().all(|r| r["ChargeCategory"] == "Usage"
        && r["ListCost"] == r["EffectiveCost"]
        && !r["ChargeDescription"].is_empty()));

    // Parquet needs a file.
    let refused = run(
        &original,
        dir,
        &[&window_args[..], &["--format", "parquet"]].concat(),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("-o"));
    costmill(
        &original,
        dir,
        &[
            &window_args[..],
            &["--format", "parquet", "-o", "allocated.parquet"],
        ]
        .concat(),
    );

    // Each export, ingested strictly into a fresh database: the same totals to the last digit.
    for (name, file) in [
        ("export_csv", "allocated.csv"),
        ("export_parquet", "allocated.parquet"),
    ] {
        let fresh = ingest_fresh(name, dir, file);
        let ingested = exact(
            &fresh,
            "SELECT BillingCurrency AS currency, toString(sum(BilledCost)) AS billed, \
             toString(sum(EffectiveCost)) AS effective FROM focus_costs GROUP BY currency",
        );
        assert_eq!(ingested, allocated, "{file}: totals per currency");
        let count: u64 = fresh
            .query("SELECT count() FROM focus_costs")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(count, lines, "{file}");
        for (metric, original_by_team) in &by_team {
            let by_tag = costs(&fresh, dir, "tag:team", metric);
            assert_eq!(
                &by_tag, original_by_team,
                "{file}: {metric} per team, month and currency"
            );
            let sums = per_currency(&by_tag);
            let column = if *metric == "billed" { 0 } else { 1 };
            for (currency, total) in &sums {
                let (billed, effective) = &allocated[currency];
                assert_eq!(
                    *total,
                    dec([billed, effective][column]),
                    "{file}: {metric} {currency}"
                );
            }
        }
        // Allocated back by its tags, the owners are the original's.
        std::fs::write(
            dir.join("costmill.toml"),
            "[[allocation.rules]]\nname = \"exported\"\nservice = { tag = [\"service\"] }\n\
             team = { tag = [\"team\"] }\nenv = { tag = [\"env\"], default = \"\" }\n",
        )
        .unwrap();
        costmill(&fresh, dir, &["allocate"]);
        std::fs::remove_file(dir.join("costmill.toml")).unwrap();
        assert_eq!(
            costs(&fresh, dir, "team", "effective"),
            by_team[0].1,
            "{file}"
        );
        assert_eq!(costs(&fresh, dir, "team", "billed"), by_team[1].1, "{file}");
        assert_eq!(
            costs(&fresh, dir, "service", "effective"),
            service,
            "{file}"
        );
        assert_eq!(costs(&fresh, dir, "env", "effective"), env, "{file}");
    }

    // Only some teams: their lines, all of them. The Kubernetes and Slurm tenants, and the first
    // team the rules found in the bill's tags.
    let tagged = by_team[0]
        .1
        .keys()
        .map(|(team, _, _)| team.as_str())
        .find(|t| {
            ![
                "k8s-tenants",
                "ml-research",
                "data-eng",
                "idle",
                "unallocated",
                "unassigned",
            ]
            .contains(t)
        })
        .unwrap();
    let teams = ["k8s-tenants", "ml-research", tagged];
    let filtered = csv_rows(&costmill(
        &original,
        dir,
        &[
            &window_args[..],
            &["--team", teams[0], "--team", teams[1], "--team", teams[2]],
        ]
        .concat(),
    ));
    let mut exported: Sums<(String, String)> = BTreeMap::new();
    for r in &filtered {
        *exported
            .entry((r["x_Team"].clone(), r["BillingCurrency"].clone()))
            .or_default() += dec(&r["EffectiveCost"]);
    }
    let mut expected: Sums<(String, String)> = BTreeMap::new();
    for ((team, _, currency), cost) in &by_team[0].1 {
        if teams.contains(&team.as_str()) {
            *expected
                .entry((team.clone(), currency.clone()))
                .or_default() += *cost;
        }
    }
    assert_eq!(exported, expected);
    let lines_of_teams: u64 = original
        .query(&format!(
            "SELECT count() FROM allocations WHERE {window} AND team IN ('k8s-tenants', 'ml-research', '{tagged}')"
        ))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(filtered.len() as u64, lines_of_teams);
    let found: BTreeSet<&str> = filtered.iter().map(|r| r["x_Team"].as_str()).collect();
    assert_eq!(found, teams.into());

    // A window without allocations: a header and no rows.
    let empty = costmill(
        &original,
        dir,
        &[
            "export",
            "focus",
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-02",
        ],
    );
    assert_eq!(empty.lines().count(), 1, "{empty}");
}
