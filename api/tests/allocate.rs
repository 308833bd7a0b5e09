//! Allocation on a real ClickHouse: every split method, fallbacks, conservation against sums
//! computed from the input file, idempotent re-runs and atomic window replacement; a day's rows
//! independent of the window, multi-day charges spread exactly, currencies never added, exact
//! fixed shares, conservation checked on staging before the swap.
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use allocator::AllocationConfig;
use figment::providers::{Format, Toml};
use ingest::generate::{self, GenerateOptions};
use ingest::RunOptions;
use queries::testing::test_store;
use queries::Store;
use rust_decimal::Decimal;

fn demo_allocation() -> AllocationConfig {
    figment::Figment::from(Toml::file_exact(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/demo_allocation.toml"
    )))
    .extract()
    .unwrap()
}

#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq)]
struct DayKind {
    day: u16,
    kind: String,
    method: String,
    billed: queries::Dec18,
    effective: queries::Dec18,
    rows: u64,
}

/// Allocations by day, kind and method; `billing_only` leaves out cost from configured prices,
/// which is not in the bill.
async fn day_kinds_of(store: &Store, billing_only: bool) -> Vec<DayKind> {
    let filter = if billing_only {
        "WHERE cost_source NOT LIKE 'price:%'"
    } else {
        ""
    };
    store
        .client()
        .query_raw(&format!(
            "SELECT day, kind, method, sum(billed) AS billed, sum(effective) AS effective, count() AS rows \
             FROM allocations {filter} GROUP BY day, kind, method ORDER BY day, kind, method"
        ))
        .fetch_all::<DayKind>()
        .await
        .unwrap()
}

async fn day_kinds(store: &Store) -> Vec<DayKind> {
    day_kinds_of(store, false).await
}

/// A generated timestamp (`2026-09-01 00:00:00`, or ISO 8601 with `Z`) in seconds since the epoch.
fn timestamp(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text).map(|t| t.to_utc()))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp()
}

const UNIT: i128 = 1_000_000_000_000_000_000;

/// An amount in the file as units of 10^-18.
fn units(text: &str) -> i128 {
    let d = Decimal::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    d.mantissa() * 10i128.pow(18 - d.scale())
}

/// A charge's share of each day, computed here independently of costmill, from the rule the
/// README states: pro rata by the seconds of the charge period on each UTC day, truncated toward
/// zero to 18 decimals, the residue on the day with the most seconds (the earliest on ties).
/// A charge ending by the midnight after its start stays on its day.
fn spread_by_day(start: i64, end: i64, amount: i128) -> Vec<(i64, i128)> {
    const DAY: i64 = 86_400;
    if end <= (start.div_euclid(DAY) + 1) * DAY {
        return vec![(start.div_euclid(DAY), amount)];
    }
    let days: Vec<(i64, i128)> = (start.div_euclid(DAY)..=(end - 1).div_euclid(DAY))
        .map(|d| (d, i128::from(end.min((d + 1) * DAY) - start.max(d * DAY))))
        .collect();
    let total = i128::from(end - start);
    let mut parts: Vec<(i64, i128)> = days.iter().map(|(d, s)| (*d, amount * s / total)).collect();
    let residue = amount - parts.iter().map(|p| p.1).sum::<i128>();
    let most = days.iter().map(|d| d.1).max().unwrap();
    let owner = days.iter().position(|d| d.1 == most).unwrap();
    parts[owner].1 += residue;
    parts
}

/// Effective cost per day and currency of generated CSV files, multi-day charges spread.
fn input_per_day_and_currency(paths: &[&Path]) -> BTreeMap<(String, String), Decimal> {
    let mut sums: BTreeMap<(String, String), i128> = BTreeMap::new();
    for path in paths {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (start, end, effective, currency) = (
            column("ChargePeriodStart"),
            column("ChargePeriodEnd"),
            column("EffectiveCost"),
            column("BillingCurrency"),
        );
        for record in reader.records() {
            let record = record.unwrap();
            let (from, to) = (timestamp(&record[start]), timestamp(&record[end]));
            for (day, amount) in spread_by_day(from, to, units(&record[effective])) {
                let day = allocator::run::day_string(day as u16);
                *sums
                    .entry((day, record[currency].to_string()))
                    .or_default() += amount;
            }
        }
    }
    sums.into_iter()
        .map(|(k, v)| (k, queries::Dec18(v).to_decimal().unwrap()))
        .collect()
}

/// Effective cost per day of a single-currency generated CSV, multi-day charges spread.
fn input_per_day(path: &Path) -> BTreeMap<String, Decimal> {
    let mut sums = BTreeMap::new();
    for ((day, _), amount) in input_per_day_and_currency(&[path]) {
        *sums.entry(day).or_insert(Decimal::ZERO) += amount;
    }
    sums
}

fn allocated_per_day(rows: &[DayKind]) -> BTreeMap<String, Decimal> {
    let mut sums = BTreeMap::new();
    for r in rows {
        *sums
            .entry(allocator::run::day_string(r.day))
            .or_insert(Decimal::ZERO) += r.effective.to_decimal().unwrap();
    }
    sums
}

/// A test database holding a generated bill (and its daily service metrics); returns the
/// store, the folder that keeps the files alive, and the bill's path.
async fn store_with_bill(
    name: &str,
    options: GenerateOptions,
) -> (Store, tempfile::TempDir, std::path::PathBuf) {
    let store = test_store(name).await;
    let dir = tempfile::tempdir().unwrap();
    let costs = dir.path().join("costs.csv");
    generate::write_csv(&options, std::fs::File::create(&costs).unwrap()).unwrap();
    let metrics = dir.path().join("metrics.csv");
    generate::write_metrics_csv(&options, std::fs::File::create(&metrics).unwrap()).unwrap();
    let options = RunOptions::default();
    ingest::ingest_focus(&store, &[costs.clone()], "demo", &options)
        .await
        .unwrap();
    ingest::ingest_metrics(&store, &[metrics], "metrics", &options)
        .await
        .unwrap();
    (store, dir, costs)
}

#[tokio::test]
async fn every_method_runs_on_clickhouse_and_every_dollar_is_conserved() {
    let options = GenerateOptions {
        rows: 15_000,
        seed: 17,
        ..GenerateOptions::default()
    };
    let (store, _dir, costs) = store_with_bill("allocate", options).await;

    let config = demo_allocation();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let report = allocator::run::run(&store, &config, None).await.unwrap();
    assert_eq!(report.window.1 - report.window.0, 92);
    let first = day_kinds(&store).await;

    // Conservation, against sums taken from the file itself.
    assert_eq!(allocated_per_day(&first), input_per_day(&costs));

    let methods: std::collections::BTreeSet<&str> =
        first.iter().map(|r| r.method.as_str()).collect();
    for expected in [
        "rule:tagged",
        "no rule matched",
        "proportional:kafka_bytes",
        "proportional:table_bytes",
        "even",
        "weighted",
        "fixed",
    ] {
        assert!(
            methods.contains(expected),
            "no {expected:?} among {methods:?}"
        );
    }
    assert!(
        methods
            .iter()
            .any(|m| m.starts_with("proportional:kafka_bytes (fallback: values of")),
        "{methods:?}"
    );
    assert!(
        first
            .iter()
            .any(|r| r.kind == "unallocated" && r.effective.0 > 0),
        "untagged spend must stay visible"
    );

    // Idempotent: the same inputs give the same rows, not twice as many.
    allocator::run::run(&store, &config, None).await.unwrap();
    assert_eq!(day_kinds(&store).await, first);

    // A window recomputed with other rules replaces exactly its days.
    let mut no_pools = config.clone();
    no_pools.pools.clear();
    let window = (report.window.0 + 40, report.window.0 + 42);
    allocator::run::run(&store, &no_pools, Some(window))
        .await
        .unwrap();
    let after = day_kinds(&store).await;
    let in_window = |r: &&DayKind| (window.0..window.1).contains(&r.day);
    assert!(after.iter().filter(in_window).all(|r| r.kind != "pool"));
    assert!(after.iter().filter(in_window).count() > 0);
    let outside = |rows: &[DayKind]| {
        rows.iter()
            .filter(|r| !(window.0..window.1).contains(&r.day))
            .map(|r| (r.day, r.kind.clone(), r.method.clone(), r.effective))
            .collect::<Vec<_>>()
    };
    assert_eq!(outside(&after), outside(&first));
    assert_eq!(allocated_per_day(&after), input_per_day(&costs));
}

#[tokio::test]
async fn bad_metrics_files_are_refused_with_line_and_column() {
    let store = test_store("metrics_bad").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    std::fs::write(&path, "date,metric,service,value\n2026-09-01,kafka_bytes,cart,12\n2026-09-31,kafka_bytes,cart,1\n2026-09-02,kafka_bytes,cart,-4\n").unwrap();
    let error = ingest::ingest_metrics(&store, &[path.clone()], "metrics", &RunOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "m.csv: line 3: column date: expected a date like 2026-09-14, found \"2026-09-31\""
        ),
        "{error}"
    );
    assert!(
        error.contains("m.csv: line 4: column value: expected a non-negative number"),
        "{error}"
    );

    let jsonl = dir.path().join("m.jsonl");
    std::fs::write(&jsonl, "{\"date\":\"2026-09-01\",\"metric\":\"kafka_bytes\",\"service\":\"cart\",\"value\":12.5}\n{\"date\":\"2026-09-02\",\"metric\":\"\",\"service\":\"cart\",\"value\":1}\n").unwrap();
    let error = ingest::ingest_metrics(&store, &[jsonl.clone()], "metrics", &RunOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("m.jsonl: line 2: column metric: must not be empty"),
        "{error}"
    );

    std::fs::write(&jsonl, "{\"date\":\"2026-09-01\",\"metric\":\"kafka_bytes\",\"service\":\"cart\",\"value\":12.5}\n").unwrap();
    assert_eq!(
        ingest::ingest_metrics(&store, &[jsonl.clone()], "metrics", &RunOptions::default())
            .await
            .unwrap()
            .rows(),
        1
    );
}

#[tokio::test]
async fn kubernetes_node_cost_reaches_workloads_and_idle_on_clickhouse() {
    let options = GenerateOptions {
        rows: 3_000,
        seed: 5,
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, costs) = store_with_bill("k8s", options).await;
    // Pick one real EC2 instance of the generated bill and run two workloads on it on one day.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Instance {
        resource_id: String,
        day: String,
    }
    let instance: Instance = store
        .client()
        .query_raw(
            "SELECT ResourceId AS resource_id, toString(toDate(ChargePeriodStart)) AS day FROM focus_costs \
             WHERE ServiceName = 'Amazon Elastic Compute Cloud' AND ResourceId != '' AND ChargeCategory = 'Usage' \
             ORDER BY ResourceId, day LIMIT 1",
        )
        .fetch_one()
        .await
        .unwrap();
    let instance_id = instance.resource_id.rsplit('/').next().unwrap().to_string();
    let d = &instance.day;
    let statements = [
        format!("INSERT INTO k8s_nodes VALUES ('prod', 'node-1', 'aws:///us-east-1a/{instance_id}', 'm5.xlarge', 4, 17179869184, 0, '{d} 00:00:00', '{d} 12:00:00', now()), ('prod', 'node-1', 'aws:///us-east-1a/{instance_id}', 'm5.xlarge', 4, 17179869184, 0, '{d} 12:00:00', '{d} 23:59:59', now())"),
        format!("INSERT INTO k8s_pod_usage VALUES ('prod', 'node-1', 'payments', 'ledger-7d9f', 'Deployment', 'ledger', ['app'], ['ledger'], '{d} 00:00:00', '{d} 23:59:59', 2, 1.5, 4294967296, 6442450944, 0, now()), ('prod', 'node-1', 'search', 'indexer-x1', 'Deployment', 'indexer', ['app'], ['indexer'], '{d} 06:00:00', '{d} 18:00:00', 0.5, 1, 1073741824, 1073741824, 0, now())"),
    ];
    for sql in statements {
        store.client().query_raw(&sql).execute().await.unwrap();
    }
    let mut config = demo_allocation();
    config.rules.insert(
        0,
        toml::from_str(
            r#"name = "pods"
when = { namespace = "*" }
service = { tag = ["app"] }
team = "k8s-tenants""#,
        )
        .unwrap(),
    );
    allocator::run::run(&store, &config, None).await.unwrap();
    let rows = day_kinds(&store).await;
    assert_eq!(
        allocated_per_day(&rows),
        input_per_day(&costs),
        "conservation with node cost split"
    );
    assert!(rows
        .iter()
        .any(|r| r.kind == "idle" && r.method == "kubernetes idle capacity" && r.effective.0 > 0));
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Owner {
        service: String,
        input_ref: String,
    }
    let owners: Vec<Owner> = store
        .client()
        .query_raw("SELECT service, input_ref FROM allocations WHERE input_ref LIKE 'k8s://%' ORDER BY service")
        .fetch_all()
        .await
        .unwrap();
    let names: Vec<(&str, &str)> = owners
        .iter()
        .map(|o| (o.service.as_str(), o.input_ref.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("indexer", "k8s://prod/search/indexer"),
            ("ledger", "k8s://prod/payments/ledger")
        ]
    );

    // The same windows landed again (a re-run of the usage source) count once: usage tables are
    // read with FINAL.
    let workload_costs = |store: Store| async move {
        store
            .client()
            .query_raw("SELECT service, toString(sum(effective)) AS cost FROM allocations WHERE input_ref LIKE 'k8s://%' GROUP BY service ORDER BY service")
            .fetch_all::<(String, String)>()
            .await
            .unwrap()
    };
    let before = workload_costs(store.clone()).await;
    for sql in &statements_again(&instance_id, d) {
        store.client().query_raw(sql).execute().await.unwrap();
    }
    allocator::run::run(&store, &config, None).await.unwrap();
    assert_eq!(workload_costs(store.clone()).await, before);
}

/// The node and pod windows of the Kubernetes test, landed a second time.
fn statements_again(instance_id: &str, d: &str) -> [String; 2] {
    [
        format!("INSERT INTO k8s_nodes VALUES ('prod', 'node-1', 'aws:///us-east-1a/{instance_id}', 'm5.xlarge', 4, 17179869184, 0, '{d} 00:00:00', '{d} 12:00:00', now() + 1), ('prod', 'node-1', 'aws:///us-east-1a/{instance_id}', 'm5.xlarge', 4, 17179869184, 0, '{d} 12:00:00', '{d} 23:59:59', now() + 1)"),
        format!("INSERT INTO k8s_pod_usage VALUES ('prod', 'node-1', 'search', 'indexer-x1', 'Deployment', 'indexer', ['app'], ['indexer'], '{d} 06:00:00', '{d} 18:00:00', 0.5, 1, 1073741824, 1073741824, 0, now() + 1)"),
    ]
}

#[tokio::test]
async fn slurm_jobs_are_costed_by_partition_on_clickhouse() {
    let options = GenerateOptions {
        rows: 3_000,
        seed: 8,
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, costs) = store_with_bill("slurm", options).await;
    // Jobs as sacct reports them; 1003 runs across midnight, 1004 was cancelled before it started.
    store
        .client()
        .query_raw(
            "INSERT INTO slurm_jobs VALUES \
             ('hpc', '1001', 'train', 'gpu', 'ml-research', 'alice', 8, 65536, 2, '2026-08-03 01:00:00', '2026-08-03 07:00:00', 'COMPLETED', now()), \
             ('hpc', '1002', 'etl', 'batch', 'data-eng', 'bob', 4, 16384, 0, '2026-08-03 02:00:00', '2026-08-03 03:30:00', 'COMPLETED', now()), \
             ('hpc', '1003', 'sim', 'batch', 'data-eng', 'bob', 2, 8192, 0, '2026-08-03 22:00:00', '2026-08-04 04:00:00', 'TIMEOUT', now()), \
             ('hpc', '1004', 'x', 'batch', 'data-eng', 'bob', 0, 0, 0, '2026-08-03 05:00:00', '2026-08-03 05:00:00', 'CANCELLED by 0', now())",
        )
        .execute()
        .await
        .unwrap();
    let mut config = demo_allocation();
    config.rules.insert(
        0,
        toml::from_str(
            r#"name = "slurm-accounts"
when = { tags = { slurm_account = "*" } }
service = { tag = ["slurm_partition"] }
team = { tag = ["slurm_account"] }"#,
        )
        .unwrap(),
    );
    config.slurm = toml::from_str(
        r#"[partitions.gpu]
cpus = "32"
memory_gb = "256"
gpus = "4"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005"
gpu_hourly = "2.5"

[partitions.batch]
nodes = "arn:aws:ec2:us-east-1:*"
cpus = "64"
memory_gb = "256""#,
    )
    .unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    allocator::run::run(&store, &config, None).await.unwrap();
    let rows = day_kinds(&store).await;
    let billed_rows = day_kinds_of(&store, true).await;
    assert_eq!(
        allocated_per_day(&billed_rows),
        input_per_day(&costs),
        "billing rows of the batch nodes are conserved"
    );
    // The gpu partition's configured capacity on its one day: 24 h × (32 × 0.04 + 256 × 0.005 + 4 × 2.5).
    let priced: Decimal = allocated_per_day(&rows).values().sum::<Decimal>()
        - allocated_per_day(&billed_rows).values().sum::<Decimal>();
    assert_eq!(priced, Decimal::from_str("301.44").unwrap());

    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Job {
        team: String,
        input_ref: String,
        day: u16,
        effective: queries::Dec18,
    }
    let jobs: Vec<Job> = store
        .client()
        .query_raw("SELECT team, input_ref, day, sum(effective) AS effective FROM allocations WHERE input_ref LIKE 'slurm://hpc/%/%' GROUP BY team, input_ref, day ORDER BY input_ref, day")
        .fetch_all()
        .await
        .unwrap();
    let refs: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j.input_ref.as_str(), j.team.as_str()))
        .collect();
    assert_eq!(
        refs,
        [
            ("slurm://hpc/batch/1002", "data-eng"),
            ("slurm://hpc/batch/1003", "data-eng"),
            ("slurm://hpc/batch/1003", "data-eng"),
            ("slurm://hpc/gpu/1001", "ml-research"),
        ]
    );
    // gpu at configured rates: 6 h × (8 × 0.04 + 64 GB × 0.005 + 2 × 2.5) = 6 × 5.64.
    assert_eq!(jobs[3].effective.to_string(), "33.84");
    assert_eq!(
        jobs[1].day + 1,
        jobs[2].day,
        "a job across midnight is costed on both days"
    );
    assert!(rows
        .iter()
        .any(|r| r.kind == "idle" && r.method == "slurm idle capacity"));
}
