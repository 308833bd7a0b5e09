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

mod common;
use common::in_currency;

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
                *sums.entry((day, record[currency].to_string())).or_default() += amount;
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
    ingest::ingest_focus(&store, std::slice::from_ref(&costs), "demo", &options)
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
    let error = ingest::ingest_metrics(
        &store,
        std::slice::from_ref(&path),
        "metrics",
        &RunOptions::default(),
    )
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
    let error = ingest::ingest_metrics(
        &store,
        std::slice::from_ref(&jsonl),
        "metrics",
        &RunOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("m.jsonl: line 2: column metric: must not be empty"),
        "{error}"
    );

    std::fs::write(&jsonl, "{\"date\":\"2026-09-01\",\"metric\":\"kafka_bytes\",\"service\":\"cart\",\"value\":12.5}\n").unwrap();
    assert_eq!(
        ingest::ingest_metrics(
            &store,
            std::slice::from_ref(&jsonl),
            "metrics",
            &RunOptions::default()
        )
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
    // Merges stopped, so the duplicates are really there when allocating.
    for sql in [
        "SYSTEM STOP MERGES k8s_nodes",
        "SYSTEM STOP MERGES k8s_pod_usage",
    ]
    .into_iter()
    .map(String::from)
    .chain(statements_again(&instance_id, d))
    {
        store.client().query_raw(&sql).execute().await.unwrap();
    }
    let stored_windows: u64 = store
        .client()
        .query_raw("SELECT count() FROM k8s_nodes")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored_windows, 4, "each node window twice");
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

// ---------------------------------------------------------------------------------------------
// Allocation by day: window independence, multi-day charges, currencies, exact fixed shares,
// conservation on staging, cancellation.

/// A date as days since 1970-01-01.
fn day(date: &str) -> u16 {
    (timestamp(&format!("{date} 00:00:00")) / 86_400) as u16
}

/// One row of `allocations` without its run id and time.
#[derive(clickhouse::Row, serde::Deserialize, Debug, PartialEq, Clone)]
struct Stored {
    day: u16,
    service: String,
    team: String,
    env: String,
    currency: String,
    kind: String,
    pool: String,
    method: String,
    cost_source: String,
    input_ref: String,
    share: queries::Dec18,
    billed: queries::Dec18,
    effective: queries::Dec18,
    input_rows: u64,
}

/// The live allocations of `[from, to)`, in a fixed order.
async fn stored(store: &Store, (from, to): (u16, u16)) -> Vec<Stored> {
    store
        .client()
        .query_raw(&format!(
            "SELECT day, service, team, env, currency, kind, pool, method, cost_source, input_ref, share, \
             billed, effective, input_rows FROM allocations WHERE toUInt16(day) >= {from} AND toUInt16(day) < {to} \
             ORDER BY day, service, team, env, currency, kind, pool, method, cost_source, input_ref, share, \
             billed, effective, input_rows"
        ))
        .fetch_all::<Stored>()
        .await
        .unwrap()
}

/// A charge added to `focus_costs` next to the generated bill.
struct Charge<'a> {
    start: &'a str,
    end: &'a str,
    category: &'a str,
    provider: &'a str,
    service_name: &'a str,
    resource_id: &'a str,
    currency: &'a str,
    amount: &'a str,
    tags: &'a [(&'a str, &'a str)],
}

async fn insert_charge(store: &Store, c: Charge<'_>) {
    let keys: Vec<String> = c.tags.iter().map(|(k, _)| format!("'{k}'")).collect();
    let values: Vec<String> = c.tags.iter().map(|(_, v)| format!("'{v}'")).collect();
    let month = &c.start[..7];
    let sql = format!(
        "INSERT INTO focus_costs (BillingCurrency, BillingPeriodStart, BillingPeriodEnd, ChargePeriodStart, \
         ChargePeriodEnd, ChargeCategory, BilledCost, EffectiveCost, ListCost, Provider, ServiceName, \
         ServiceCategory, ResourceId, SubAccountId, SubAccountName, x_TagKeys, x_TagValues, x_Source) VALUES \
         ('{currency}', '{month}-01 00:00:00', '{month}-01 00:00:00', '{start}', '{end}', '{category}', {amount}, \
         {amount}, {amount}, '{provider}', '{service}', 'Other', '{resource}', '123456789012', 'acme-prod', \
         [{keys}], [{values}], 'extra')",
        currency = c.currency,
        start = c.start,
        end = c.end,
        category = c.category,
        amount = c.amount,
        provider = c.provider,
        service = c.service_name,
        resource = c.resource_id,
        keys = keys.join(", "),
        values = values.join(", "),
    );
    store.client().query_raw(&sql).execute().await.unwrap();
}

fn slurm_rules(config: &mut AllocationConfig) {
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
        r#"[partitions.batch]
cpus = "64"
memory_gb = "256"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005""#,
    )
    .unwrap();
}

/// Rows of allocations_daily that differ from the allocations they sum (this file's tests write
/// some charges straight into focus_costs, bypassing its rollups, so only this rollup is checked).
async fn allocation_rollup_differences(store: &Store) -> u64 {
    queries::rollup::differences(store)
        .await
        .unwrap()
        .into_iter()
        .filter(|(table, _)| *table == "allocations_daily")
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn a_days_rows_do_not_depend_on_the_allocation_window() {
    let options = GenerateOptions {
        rows: 20_000,
        seed: 23,
        ..GenerateOptions::default() // 2026-08 to 2026-10
    };
    let (store, _dir, _costs) = store_with_bill("window", options).await;
    // A reorganisation: until September, payments-api was run by checkout, which spent a lot on
    // it in August. In September its team is payments, whatever the window.
    insert_charge(
        &store,
        Charge {
            start: "2026-08-20 00:00:00",
            end: "2026-08-21 00:00:00",
            category: "Usage",
            provider: "AWS",
            service_name: "Amazon Elastic Compute Cloud",
            resource_id: "arn:aws:ec2:us-east-1:123456789012:instance/i-0migration",
            currency: "USD",
            amount: "50000",
            tags: &[("service", "payments-api"), ("team", "checkout")],
        },
    )
    .await;
    // A support contract billed mid-month to mid-month: half of it falls in September.
    insert_charge(
        &store,
        Charge {
            start: "2026-08-15 00:00:00",
            end: "2026-09-15 00:00:00",
            category: "Usage",
            provider: "AWS",
            service_name: "AWS Support (Business)",
            resource_id: "",
            currency: "USD",
            amount: "3100.000000000000000007",
            tags: &[],
        },
    )
    .await;
    // A Slurm job running across midnight into September.
    store
        .client()
        .query_raw(
            "INSERT INTO slurm_jobs VALUES \
             ('hpc', '2001', 'sim', 'batch', 'data-eng', 'bob', 16, 65536, 0, '2026-08-31 22:00:00', '2026-09-01 04:00:00', 'COMPLETED', now()), \
             ('hpc', '2002', 'etl', 'batch', 'bi', 'eve', 4, 16384, 0, '2026-09-15 10:00:00', '2026-09-15 12:00:00', 'COMPLETED', now())",
        )
        .execute()
        .await
        .unwrap();
    let mut config = demo_allocation();
    slurm_rules(&mut config);

    let september = (day("2026-09-01"), day("2026-10-01"));
    allocator::run::run(&store, &config, Some(september))
        .await
        .unwrap();
    let alone = stored(&store, september).await;
    assert_eq!(allocation_rollup_differences(&store).await, 0);
    // The two charges above went straight into focus_costs, past its staged commit: the check
    // sees that its rollups miss them (it can fail).
    let missed = queries::rollup::differences(&store).await.unwrap();
    assert!(
        missed
            .iter()
            .any(|(table, n)| *table == "focus_costs_daily" && *n >= 2),
        "{missed:?}"
    );
    let wide = (day("2026-08-01"), day("2026-11-01"));
    let report = allocator::run::run(&store, &config, Some(wide))
        .await
        .unwrap();
    assert_eq!(allocation_rollup_differences(&store).await, 0);
    // A window inside a month: its rollup month is rebuilt from the new days and the kept ones.
    let mid = (day("2026-09-10"), day("2026-09-20"));
    allocator::run::run(&store, &config, Some(mid))
        .await
        .unwrap();
    assert_eq!(allocation_rollup_differences(&store).await, 0);
    assert!(report.spread_shares > 0);
    let within = stored(&store, september).await;
    assert!(alone.len() > 1000, "{} rows", alone.len());
    assert_eq!(alone.len(), within.len());
    for (a, w) in alone.iter().zip(&within) {
        assert_eq!(a, w);
    }

    // What made the old allocation depend on the window is in these rows.
    assert!(within
        .iter()
        .any(|r| r.kind == "pool" && r.service == "payments-api" && r.team == "payments"));
    assert!(!within
        .iter()
        .any(|r| r.service == "payments-api" && r.team == "checkout"));
    let support: Vec<&Stored> = within
        .iter()
        .filter(|r| r.input_ref == "(Usage) [spread 2026-08-15/2026-09-15]")
        .collect();
    assert_eq!(support.len(), 14, "September 1 to 14");
    assert!(
        support.iter().all(|r| r.effective.to_string() == "100"),
        "3100 over 31 days, the residue on August 15"
    );
    assert!(within
        .iter()
        .any(|r| r.day == september.0 && r.input_ref == "slurm://hpc/batch/2001"));
}

#[tokio::test]
async fn multi_day_charges_are_spread_exactly_over_their_days() {
    let options = GenerateOptions {
        rows: 6_000,
        seed: 29,
        start: chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, costs) = store_with_bill("spread", options).await;
    // Support from noon on the 10th to the 13th: 12 h, 24 h and 24 h. 1000 and 7 units of 10^-18:
    // 1/5, 2/5 and 2/5 truncate to 200.000000000000000001 and 400.000000000000000002 twice; the
    // 2 units left go to the first day with the most seconds, the 11th.
    insert_charge(
        &store,
        Charge {
            start: "2026-09-10 12:00:00",
            end: "2026-09-13 00:00:00",
            category: "Usage",
            provider: "AWS",
            service_name: "AWS Support (Business)",
            resource_id: "",
            currency: "USD",
            amount: "1000.000000000000000007",
            tags: &[],
        },
    )
    .await;
    let mut config = demo_allocation();
    config.pools.clear();
    config.rules.insert(
        0,
        toml::from_str(
            r#"name = "support"
when = { service_name = "AWS Support*" }
service = "support"
team = "finance""#,
        )
        .unwrap(),
    );
    let report = allocator::run::run(&store, &config, None).await.unwrap();
    assert_eq!(report.window, (day("2026-09-01"), day("2026-10-01")));

    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Share {
        day: u16,
        cost_source: String,
        effective: queries::Dec18,
        billed: queries::Dec18,
    }
    let shares = |service: &'static str| {
        let store = store.clone();
        async move {
            store
                .client()
                .query_raw(&format!(
                    "SELECT day, cost_source, sum(effective) AS effective, sum(billed) AS billed FROM allocations \
                     WHERE service = '{service}' GROUP BY day, cost_source ORDER BY cost_source, day"
                ))
                .fetch_all::<Share>()
                .await
                .unwrap()
        }
    };
    let support: Vec<String> = shares("support")
        .await
        .iter()
        .map(|s| format!("{} {}", allocator::run::day_string(s.day), s.effective))
        .collect();
    assert_eq!(
        support,
        [
            "2026-09-10 200.000000000000000001",
            "2026-09-11 400.000000000000000004",
            "2026-09-12 400.000000000000000002"
        ]
    );

    // Each provider's monthly tax: a thirtieth a day, truncated, the residue on September 1.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Tax {
        provider: String,
        amount: queries::Dec18,
    }
    let taxes: Vec<Tax> = store
        .client()
        .query_raw("SELECT Provider AS provider, EffectiveCost AS amount FROM focus_costs WHERE ChargeCategory = 'Tax' ORDER BY provider")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(taxes.len(), 3);
    let spread = shares("tax").await;
    for tax in &taxes {
        let days: Vec<&Share> = spread
            .iter()
            .filter(|s| s.cost_source == format!("{} / Tax", tax.provider))
            .collect();
        assert_eq!(days.len(), 30, "{}", tax.provider);
        let daily = tax.amount.0 / 30;
        let residue = tax.amount.0 - daily * 30;
        assert_ne!(residue, 0, "the generated tax leaves a residue");
        assert_eq!(days[0].day, day("2026-09-01"));
        assert_eq!(days[0].effective.0, daily + residue);
        assert!(days[1..].iter().all(|s| s.effective.0 == daily));
        assert_eq!(
            days.iter().map(|s| s.effective.0).sum::<i128>(),
            tax.amount.0
        );
        assert_eq!(days.iter().map(|s| s.billed.0).sum::<i128>(), tax.amount.0);
    }

    // Every day against the file, with the support charge.
    let mut expected = input_per_day(&costs);
    for (d, amount) in spread_by_day(
        timestamp("2026-09-10 12:00:00"),
        timestamp("2026-09-13 00:00:00"),
        1000 * UNIT + 7,
    ) {
        *expected
            .get_mut(&allocator::run::day_string(d as u16))
            .unwrap() += queries::Dec18(amount).to_decimal().unwrap();
    }
    assert_eq!(allocated_per_day(&day_kinds(&store).await), expected);
}

fn costmill_cli(store: &Store, dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_costmill"))
        .current_dir(dir)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env("COSTMILL_CLICKHOUSE__URL", store.url())
        .env("COSTMILL_CLICKHOUSE__DATABASE", store.database())
        .output()
        .expect("costmill runs");
    assert!(
        output.status.success(),
        "costmill {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn currencies_are_never_added_in_allocation_or_reports() {
    // A USD bill and a EUR bill of the same providers, services and resources.
    let usd_options = GenerateOptions {
        rows: 6_000,
        seed: 31,
        months: 2,
        ..GenerateOptions::default()
    };
    let (store, dir, usd) = store_with_bill("currency", usd_options).await;
    let eur_generated = dir.path().join("eu-generated.csv");
    let eur_options = GenerateOptions {
        rows: 4_000,
        seed: 32,
        months: 2,
        ..GenerateOptions::default()
    };
    generate::write_csv(&eur_options, std::fs::File::create(&eur_generated).unwrap()).unwrap();
    let eur = dir.path().join("eu.csv");
    in_currency(&eur_generated, &eur, "EUR");
    ingest::ingest_focus(
        &store,
        std::slice::from_ref(&eur),
        "eu-billing",
        &RunOptions::default(),
    )
    .await
    .unwrap();

    let config = demo_allocation();
    let report = allocator::run::run(&store, &config, None).await.unwrap();
    let currencies: std::collections::BTreeSet<&str> =
        report.by_kind.iter().map(|(_, c, _)| c.as_str()).collect();
    assert_eq!(currencies, ["EUR", "USD"].into());

    // Per day and currency, allocated = input of that currency's bill.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct DayCurrency {
        day: u16,
        currency: String,
        effective: queries::Dec18,
    }
    let allocated: BTreeMap<(String, String), Decimal> = store
        .client()
        .query_raw("SELECT day, currency, sum(effective) AS effective FROM allocations GROUP BY day, currency ORDER BY day, currency")
        .fetch_all::<DayCurrency>()
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                (allocator::run::day_string(r.day), r.currency),
                r.effective.to_decimal().unwrap(),
            )
        })
        .collect();
    let expected = input_per_day_and_currency(&[usd.as_path(), eur.as_path()]);
    assert_eq!(allocated, expected);
    // The EUR tax is split by the targets' EUR direct cost, and lands in EUR only.
    let eur_tax_targets: u64 = store
        .client()
        .query_raw("SELECT count() FROM allocations WHERE pool = 'tax' AND currency = 'EUR'")
        .fetch_one()
        .await
        .unwrap();
    assert!(eur_tax_targets > 0);

    // Reports: one row per group, currency and month; totals per currency match each bill.
    let month_totals = |paths: &[&Path]| {
        let mut sums: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for ((d, currency), amount) in input_per_day_and_currency(paths) {
            *sums.entry((d[..7].to_string(), currency)).or_default() += amount;
        }
        sums
    };
    let expected = month_totals(&[usd.as_path(), eur.as_path()]);
    for by in ["team", "service", "provider"] {
        let json = costmill_cli(
            &store,
            dir.path(),
            &["costs", "--by", by, "--format", "json"],
        );
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let mut totals: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for row in &rows {
            let currency = row["currency"].as_str().unwrap().to_string();
            let cost = Decimal::from_str(row["cost"].as_str().unwrap()).unwrap();
            *totals
                .entry((row["month"].as_str().unwrap().to_string(), currency))
                .or_default() += cost;
        }
        // Billing dimensions are not spread (a charge counts in the month it starts), owners are:
        // the generated bill's multi-day charges lie within their month, so both match.
        assert_eq!(totals, expected, "--by {by}");
        let both = rows
            .iter()
            .filter(|r| ["AWS", "payments", "payments-api"].contains(&r["group"].as_str().unwrap()))
            .map(|r| r["currency"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(both, ["EUR", "USD"].into(), "--by {by}");
    }
    let csv_text = costmill_cli(
        &store,
        dir.path(),
        &["costs", "--by", "team", "--format", "csv"],
    );
    assert!(
        csv_text.starts_with("group,month,cost,currency,"),
        "{csv_text}"
    );
    let table = costmill_cli(&store, dir.path(), &["costs", "--by", "team"]);
    let total_rows: Vec<&str> = table.lines().filter(|l| l.contains(" total ")).collect();
    assert_eq!(total_rows.len(), 2, "one total per currency:\n{table}");
    let explain = costmill_cli(
        &store,
        dir.path(),
        &["explain", "--service", "payments-api", "--month", "2026-09"],
    );
    let header = explain.lines().next().unwrap();
    assert!(
        header.contains(" USD (BilledCost") && header.contains(" EUR (BilledCost"),
        "{explain}"
    );
    assert!(
        explain.contains("largest direct inputs in EUR"),
        "{explain}"
    );
}

#[tokio::test]
async fn fixed_shares_are_exact_decimals_on_clickhouse() {
    let options = GenerateOptions {
        rows: 8_000,
        seed: 41,
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, _costs) = store_with_bill("fixed", options).await;
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/demo_allocation.toml"
    ))
    .unwrap();
    // A float, a string and a float: exactly 33.3 %, 33.3 % and 33.4 %.
    let toml = demo.replace(
        "shares = { warehouse = 70, events-pipeline = 30 }",
        "shares = { warehouse = 33.3, events-pipeline = \"33.3\", etl = 33.4 }",
    );
    assert_ne!(toml, demo);
    let config: AllocationConfig = figment::Figment::from(Toml::string(&toml))
        .extract()
        .unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    allocator::run::run(&store, &config, None).await.unwrap();

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Part {
        day: u16,
        env: String,
        cost_source: String,
        service: String,
        share: queries::Dec18,
        effective: queries::Dec18,
    }
    let parts: Vec<Part> = store
        .client()
        .query_raw("SELECT day, env, cost_source, service, share, effective FROM allocations WHERE pool = 'cdc' ORDER BY day, env, cost_source, service")
        .fetch_all()
        .await
        .unwrap();
    // One pooled amount per day, env and billing source, split 33.4 / 33.3 / 33.3 (by name: etl,
    // events-pipeline, warehouse); the residue to the largest share, etl.
    type Parts = BTreeMap<String, (String, i128)>;
    let mut slots: BTreeMap<(u16, String, String), Parts> = BTreeMap::new();
    for p in parts {
        let previous = slots
            .entry((p.day, p.env, p.cost_source))
            .or_default()
            .insert(p.service, (p.share.to_string(), p.effective.0));
        assert!(previous.is_none());
    }
    assert!(slots.len() >= 10, "{} cdc slots", slots.len());
    for ((d, _, source), parts) in &slots {
        let total: i128 = parts.values().map(|p| p.1).sum();
        let third = total * 333 / 1000; // exact: 33.3 % truncated toward zero
        let expected: Parts = [
            ("etl".to_string(), ("0.334".to_string(), total - 2 * third)),
            ("events-pipeline".to_string(), ("0.333".to_string(), third)),
            ("warehouse".to_string(), ("0.333".to_string(), third)),
        ]
        .into();
        assert_eq!(parts, &expected, "day {d}, {source}");
    }
}

/// Waits until the running allocation has staged rows for `days` days.
async fn staged_days(store: &Store, days: u64) {
    for _ in 0..3000 {
        let staged: u64 = store
            .client()
            .query_raw(
                "SELECT count(DISTINCT partition) FROM system.parts WHERE database = currentDatabase() \
                 AND startsWith(table, '_costmill_staging_') AND endsWith(table, '_allocations') AND active",
            )
            .fetch_one()
            .await
            .unwrap();
        if staged >= days {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the allocation never staged {days} days");
}

async fn staging_tables(store: &Store) -> u64 {
    store
        .client()
        .query_raw("SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_costmill_staging_')")
        .fetch_one()
        .await
        .unwrap()
}

#[tokio::test]
async fn conservation_is_checked_on_staging_and_a_mismatch_changes_nothing() {
    let options = GenerateOptions {
        rows: 8_000,
        seed: 51,
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, _costs) = store_with_bill("staged_check", options).await;
    let config = demo_allocation();
    let first = allocator::run::run(&store, &config, None).await.unwrap();
    let before = stored(&store, first.window).await;

    // A cost row of the window's first day lands while the allocation is past that day: what was
    // staged no longer adds up to the bill, so nothing may be swapped in.
    let late = {
        let store = store.clone();
        tokio::spawn(async move {
            staged_days(&store, 3).await;
            insert_charge(
                &store,
                Charge {
                    start: "2026-08-01 00:00:00",
                    end: "2026-08-02 00:00:00",
                    category: "Usage",
                    provider: "AWS",
                    service_name: "Amazon Simple Storage Service",
                    resource_id: "arn:aws:s3:::late-bucket",
                    currency: "USD",
                    amount: "12.5",
                    tags: &[("service", "cart"), ("team", "checkout")],
                },
            )
            .await;
        })
    };
    let options = allocator::run::AllocateOptions {
        chunk_days: 1,
        ..Default::default()
    };
    let error = allocator::run::run_with(&store, &config, Some(first.window), &options)
        .await
        .unwrap_err();
    late.await.unwrap();
    let message = error.to_string();
    assert!(
        matches!(&error, allocator::run::AllocateError::Conservation { day, currency, .. } if day == "2026-08-01" && currency == "USD"),
        "{message}"
    );
    assert!(
        message.contains("the previous allocations are unchanged"),
        "{message}"
    );
    assert_eq!(
        stored(&store, first.window).await,
        before,
        "live table untouched"
    );
    assert_eq!(staging_tables(&store).await, 0, "staging dropped");

    // Run again: the late row is allocated.
    allocator::run::run(&store, &config, Some(first.window))
        .await
        .unwrap();
    assert_ne!(stored(&store, first.window).await, before);
}

#[tokio::test]
async fn a_cancelled_allocation_leaves_the_live_table_untouched() {
    let options = GenerateOptions {
        rows: 8_000,
        seed: 61,
        months: 1,
        ..GenerateOptions::default()
    };
    let (store, _dir, _costs) = store_with_bill("cancel", options).await;
    let mut config = demo_allocation();
    let first = allocator::run::run(&store, &config, None).await.unwrap();
    let before = stored(&store, first.window).await;
    // Other rules, so a completed run would change the rows.
    config.pools.clear();
    let cancel = tokio_util::sync::CancellationToken::new();
    let signal = {
        let (store, cancel) = (store.clone(), cancel.clone());
        tokio::spawn(async move {
            staged_days(&store, 3).await;
            cancel.cancel();
        })
    };
    let options = allocator::run::AllocateOptions {
        cancel,
        chunk_days: 1,
    };
    let error = allocator::run::run_with(&store, &config, None, &options)
        .await
        .unwrap_err();
    signal.await.unwrap();
    assert!(
        matches!(error, allocator::run::AllocateError::Cancelled),
        "{error}"
    );
    assert_eq!(stored(&store, first.window).await, before);
    assert_eq!(staging_tables(&store).await, 0);
}
