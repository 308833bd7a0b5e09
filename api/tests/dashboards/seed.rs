//! The data the dashboards are tested on: a generated multi-cloud bill (USD) and a smaller one in
//! EUR, daily service metrics, Kubernetes nodes and pods on real EC2 instances of the bill plus a GPU
//! node priced by configuration, Slurm jobs, one allocation run, and the rows the alerts, budgets and
//! optimizer write (alerts, budget_status, recommendations), some of them landed twice so FINAL
//! matters. Everything is seeded: the same rows on every run.
use std::collections::BTreeMap;
use std::str::FromStr;

use allocator::AllocationConfig;
use figment::providers::{Format, Toml};
use ingest::generate::{self, GenerateOptions};
use ingest::RunOptions;
use queries::Store;

use crate::common::in_currency;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

/// The test database and what the tests compare panels against.
pub struct Seeded {
    pub store: Store,
    _dir: tempfile::TempDir,
    /// October's GPU capacity of the GPU node: 31 days × 24 h × 4 GPUs.
    pub gpu_node_hours: u64,
}

pub const MONTHS: u32 = 3; // 2026-08 to 2026-10, the generator's default start
const K8S_DAYS: std::ops::Range<u32> = 1..32; // October
pub const GPU_NODE_GPUS: u64 = 4;

fn demo_allocation() -> AllocationConfig {
    figment::Figment::from(Toml::file_exact(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/demo_allocation.toml"
    )))
    .extract()
    .unwrap()
}

async fn execute(store: &Store, sql: &str) {
    store
        .client()
        .query_raw(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql}\n{e}"));
}

pub async fn seed(store: Store) -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let usd = GenerateOptions {
        rows: 12_000,
        seed: 41,
        months: MONTHS,
        ..GenerateOptions::default()
    };
    let costs = dir.path().join("costs.csv");
    generate::write_csv(&usd, std::fs::File::create(&costs).unwrap()).unwrap();
    let metrics = dir.path().join("metrics.csv");
    generate::write_metrics_csv(&usd, std::fs::File::create(&metrics).unwrap()).unwrap();
    let eur = GenerateOptions {
        rows: 1_500,
        seed: 42,
        months: MONTHS,
        ..GenerateOptions::default()
    };
    let eur_generated = dir.path().join("eu-generated.csv");
    generate::write_csv(&eur, std::fs::File::create(&eur_generated).unwrap()).unwrap();
    let eur_costs = dir.path().join("eu.csv");
    in_currency(&eur_generated, &eur_costs, "EUR");
    let options = RunOptions::default();
    ingest::ingest_focus(&store, std::slice::from_ref(&costs), "demo", &options)
        .await
        .unwrap();
    ingest::ingest_focus(
        &store,
        std::slice::from_ref(&eur_costs),
        "demo-eu",
        &options,
    )
    .await
    .unwrap();
    ingest::ingest_metrics(&store, &[metrics], "metrics", &options)
        .await
        .unwrap();

    // Merges stopped: the rows landed twice below stay twice on disk, so only FINAL hides them.
    for table in [
        "k8s_nodes",
        "k8s_pod_usage",
        "slurm_jobs",
        "alerts",
        "budget_status",
    ] {
        execute(&store, &format!("SYSTEM STOP MERGES {table}")).await;
    }
    let mut rng = StdRng::seed_from_u64(2026);
    kubernetes(&store, &mut rng).await;
    slurm(&store, &mut rng).await;

    let mut config = demo_allocation();
    config.rules.insert(
        0,
        toml::from_str(
            r#"name = "pods"
when = { namespace = "*" }
service = { tag = ["app"] }
team = { tag = ["team"], default = "platform" }
env = "prod""#,
        )
        .unwrap(),
    );
    config.rules.insert(
        0,
        toml::from_str(
            r#"name = "slurm-accounts"
when = { tags = { slurm_account = "*" } }
service = { tag = ["slurm_partition"] }
team = { tag = ["slurm_account"] }
env = "prod""#,
        )
        .unwrap(),
    );
    config.kubernetes.instance_prices = BTreeMap::from([
        ("p3.8xlarge".to_string(), "12.24".to_string()),
        ("m5.4xlarge".to_string(), "0.768".to_string()),
    ]);
    config.slurm = toml::from_str(
        r#"[partitions.gpu]
cpus = "64"
memory_gb = "488"
gpus = "8"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005"
gpu_hourly = "2.5"

[partitions.batch]
cpus = "128"
memory_gb = "512"
cpu_hourly = "0.04"
memory_gb_hourly = "0.005""#,
    )
    .unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    allocator::run::run(&store, &config, None).await.unwrap();

    alerts(&store).await;
    budgets(&store).await;
    recommendations(&store).await;
    Seeded {
        store,
        _dir: dir,
        gpu_node_hours: 31 * 24 * GPU_NODE_GPUS,
    }
}

const WORKLOADS: [(&str, &str, &str); 6] = [
    // namespace, workload (label app), label team
    ("payments", "ledger", "payments"),
    ("payments", "payments-api", "payments"),
    ("search", "indexer", "search"),
    ("search", "ranking", "search"),
    ("growth", "experiments", "growth"),
    ("data", "warehouse-loader", "data"),
];

fn dec(rng: &mut StdRng, low: f64, high: f64) -> String {
    format!("{:.3}", rng.gen_range(low..high))
}

/// Two EC2 instances of the bill run Kubernetes nodes all October, and a GPU node without billing
/// rows (priced by configuration) runs training jobs. Every window is landed once, and the first
/// week of windows a second time (a re-run of the usage source), which only FINAL hides.
async fn kubernetes(store: &Store, rng: &mut StdRng) {
    let instances: Vec<String> = store
        .client()
        .query_raw(
            "SELECT ResourceId FROM focus_costs \
             WHERE ServiceName = 'Amazon Elastic Compute Cloud' AND ResourceId LIKE '%instance/%' \
             AND ChargeCategory = 'Usage' AND BillingCurrency = 'USD' \
             GROUP BY ResourceId ORDER BY count() DESC, ResourceId LIMIT 2",
        )
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(instances.len(), 2, "the bill has EC2 instances");
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    for d in K8S_DAYS {
        let day = format!("2026-10-{d:02}");
        let next = if d == 31 {
            "2026-11-01".to_string()
        } else {
            format!("2026-10-{:02}", d + 1)
        };
        // Two windows of 12 hours: a whole day each day.
        let windows = [
            (format!("{day} 00:00:00"), format!("{day} 12:00:00")),
            (format!("{day} 12:00:00"), format!("{next} 00:00:00")),
        ];
        for (start, end) in &windows {
            for (i, resource) in instances.iter().enumerate() {
                let id = resource.rsplit('/').next().unwrap();
                nodes.push(format!(
                    "('prod', 'node-{i}', 'aws:///us-east-1a/{id}', 'm5.4xlarge', 16, 68719476736, 0, '{start}', '{end}', '2026-11-01 00:00:00')"
                ));
                for (ns, workload, team) in WORKLOADS.iter().skip(i * 3).take(3) {
                    let request = dec(rng, 1.0, 4.0);
                    let usage = dec(rng, 0.3, 4.5);
                    let memory = rng.gen_range(2u64..12) << 30;
                    let memory_used = rng.gen_range(1u64..14) << 30;
                    pods.push(format!(
                        "('prod', 'node-{i}', '{ns}', '{workload}-{d}', 'Deployment', '{workload}', ['app', 'team'], ['{workload}', '{team}'], '{start}', '{end}', {request}, {usage}, {memory}, {memory_used}, 0, '2026-11-01 00:00:00')"
                    ));
                }
            }
            nodes.push(format!(
                "('prod', 'gpu-0', 'aws:///us-east-1b/i-0gpu', 'p3.8xlarge', 32, 261993005056, {GPU_NODE_GPUS}, '{start}', '{end}', '2026-11-01 00:00:00')"
            ));
            let gpus = rng.gen_range(1u32..=3);
            pods.push(format!(
                "('prod', 'gpu-0', 'ml', 'trainer-{d}', 'Job', 'trainer', ['app', 'team'], ['trainer', 'ml-research'], '{start}', '{end}', 8, {}, 68719476736, 53687091200, {gpus}, '2026-11-01 00:00:00')",
                dec(rng, 4.0, 8.0)
            ));
        }
    }
    execute(
        store,
        &format!("INSERT INTO k8s_nodes VALUES {}", nodes.join(", ")),
    )
    .await;
    execute(
        store,
        &format!("INSERT INTO k8s_pod_usage VALUES {}", pods.join(", ")),
    )
    .await;
    // The first week landed again by a later run: same windows, later ingested_at.
    execute(
        store,
        "INSERT INTO k8s_nodes SELECT cluster, node, provider_id, instance_type, cpu_cores, memory_bytes, \
         gpus, window_start, window_end, toDateTime('2026-11-02 00:00:00', 'UTC') FROM k8s_nodes \
         WHERE window_start < toDateTime('2026-10-08 00:00:00', 'UTC')",
    )
    .await;
    execute(
        store,
        "INSERT INTO k8s_pod_usage SELECT cluster, node, namespace, pod, workload_kind, workload, label_keys, \
         label_values, window_start, window_end, cpu_request_cores, cpu_usage_cores, memory_request_bytes, \
         memory_usage_bytes, gpu_request, toDateTime('2026-11-02 00:00:00', 'UTC') FROM k8s_pod_usage \
         WHERE window_start < toDateTime('2026-10-08 00:00:00', 'UTC')",
    )
    .await;
}

/// Slurm jobs every day of September and October: GPU training for ml-research, batch ETL for
/// data and analytics; each job's final state is landed after a RUNNING row.
async fn slurm(store: &Store, rng: &mut StdRng) {
    let mut rows = Vec::new();
    let mut job = 5000;
    for month in [9u32, 10] {
        let days = if month == 9 { 30 } else { 31 };
        for d in 1..=days {
            for _ in 0..rng.gen_range(1..=3) {
                job += 1;
                let gpu = rng.gen_bool(0.5);
                let (partition, account, user, gpus) = if gpu {
                    ("gpu", "ml-research", "alice", rng.gen_range(1u32..=8))
                } else if rng.gen_bool(0.5) {
                    ("batch", "data", "bob", 0)
                } else {
                    ("batch", "analytics", "carol", 0)
                };
                let start_hour = rng.gen_range(0u32..20);
                let hours = rng.gen_range(1u32..10);
                let start = format!("2026-{month:02}-{d:02} {start_hour:02}:00:00");
                // Ends `hours` later, possibly the next day.
                let end_ts = chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%d %H:%M:%S")
                    .unwrap()
                    + chrono::Duration::hours(i64::from(hours));
                let end = end_ts.format("%Y-%m-%d %H:%M:%S");
                let cpus = rng.gen_range(2u32..32);
                let memory = u64::from(cpus) * 4096;
                for (state, at) in [
                    ("RUNNING", "2026-11-01 00:00:00"),
                    ("COMPLETED", "2026-11-01 01:00:00"),
                ] {
                    rows.push(format!(
                        "('hpc', '{job}', 'job-{job}', '{partition}', '{account}', '{user}', {cpus}, {memory}, {gpus}, '{start}', '{end}', '{state}', '{at}')"
                    ));
                }
            }
        }
    }
    execute(
        store,
        &format!("INSERT INTO slurm_jobs VALUES {}", rows.join(", ")),
    )
    .await;
}

const ALERT_COLUMNS: &str = "(id, kind, dimension, key, currency, state, first_day, last_day, actual, expected, impact, causes, summary, acked_by, revision, updated_at, version)";

/// (service, day) → USD effective cost, from the allocation.
async fn daily_service_costs(store: &Store) -> BTreeMap<String, Vec<(String, Decimal)>> {
    let rows: Vec<(String, String, String)> = store
        .client()
        .query_raw(
            "SELECT service, toString(day), toString(sum(effective)) FROM allocations \
             WHERE currency = 'USD' AND kind IN ('direct', 'pool') GROUP BY service, day ORDER BY service, day",
        )
        .fetch_all()
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<(String, Decimal)>> = BTreeMap::new();
    for (service, day, cost) in rows {
        out.entry(service)
            .or_default()
            .push((day, Decimal::from_str(&cost).unwrap()));
    }
    out
}

/// Anomalies as the detector writes them: a spike on each of the three services whose worst day is
/// furthest above their mean day, a month-over-month change, a budget alert, one resolved; the first
/// spike acknowledged in a second version of its row.
async fn alerts(store: &Store) {
    let series = daily_service_costs(store).await;
    let mut spikes: Vec<(Decimal, String, String, Decimal, Decimal)> = series
        .iter()
        .filter(|(_, days)| days.len() >= 60)
        .map(|(service, days)| {
            let mean = days.iter().map(|d| d.1).sum::<Decimal>() / Decimal::from(days.len());
            let (day, worst) = days.iter().max_by_key(|d| d.1).cloned().unwrap();
            let ratio = if mean.is_zero() {
                Decimal::ZERO
            } else {
                worst / mean
            };
            (ratio, service.clone(), day, worst, mean.round_dp(6))
        })
        .collect();
    spikes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut rows = Vec::new();
    // The fourth: an anomaly that is over.
    for (i, (_, service, day, actual, expected)) in spikes.iter().take(4).enumerate() {
        let state = if i == 3 { "resolved" } else { "open" };
        let impact = actual - expected;
        let causes =
            format!(r#"[{{"dimension":"service","value":"{service}","amount":"{impact}"}}]"#);
        rows.push(format!(
            "('spike-{i}', 'spike', 'service', '{service}', 'USD', '{state}', '{day}', '{day}', {actual}, {expected}, {impact}, '{causes}', '{service} spent {actual} USD on {day}, expected {expected}', '', 1, '{day} 06:00:00', 1)"
        ));
    }
    rows.push(
        "('mom-growth', 'month-over-month', 'team', 'growth', 'USD', 'open', '2026-10-01', '2026-10-20', 61000, 52000, 9000, '[]', 'growth is projected at 61000 USD in October, 52000 in September', '', 2, '2026-10-20 06:00:00', 2)"
            .to_string(),
    );
    rows.push(
        "('budget-search', 'budget', 'budget', 'team-search', 'USD', 'acknowledged', '2026-10-01', '2026-10-20', 14800, 14000, 800, '[]', 'team-search is forecast at 14800 USD of its 14000 budget', 'finops@example.com', 1, '2026-10-20 06:00:00', 1)"
            .to_string(),
    );
    rows.push(
        "('spike-eu', 'spike', 'sub-account', 'acme-prod', 'EUR', 'resolved', '2026-09-03', '2026-09-04', 950, 400, 1100, '[]', 'acme-prod spent 950 EUR on 2026-09-04, expected 400', '', 1, '2026-09-06 06:00:00', 1)"
            .to_string(),
    );
    execute(
        store,
        &format!(
            "INSERT INTO alerts {ALERT_COLUMNS} VALUES {}",
            rows.join(", ")
        ),
    )
    .await;
    // The first spike, acknowledged later: a newer version of the same id.
    execute(
        store,
        &format!("INSERT INTO alerts {ALERT_COLUMNS} SELECT id, kind, dimension, key, currency, 'acknowledged', first_day, last_day, \
         actual, expected, impact, causes, summary, 'oncall@example.com', revision, updated_at, version + 10 \
         FROM alerts WHERE id = 'spike-0' AND version = 1"),
    )
    .await;
}

/// A budget's name: `team-<team>`, with `-<currency>` for currencies other than USD (budget_status
/// is keyed by month and budget name, so one name has one currency).
const BUDGET_NAME: &str =
    "concat('team-', team, if(currency = 'USD', '', concat('-', lower(currency))))";

/// A budget per team and currency: 5 % over its September spend, rounded to hundreds; checked every
/// month. October is the current month of the data: its actual is to the 20th, its forecast the
/// month's projection. An earlier check of October (lower actuals) stays behind FINAL.
async fn budgets(store: &Store) {
    for (computed_at, until) in [("2026-10-15 06:00:00", 15), ("2026-10-21 06:00:00", 20)] {
        execute(
            store,
            &format!(
                "INSERT INTO budget_status (month, budget, scope, currency, amount, actual, forecast, computed_at) \
                 SELECT month, budget, scope, currency, amount, actual, \
                   if(month = toDate('2026-10-01'), actual * 31 / {until}, actual) AS forecast, \
                   toDateTime('{computed_at}', 'UTC') \
                 FROM ( \
                   SELECT toStartOfMonth(day) AS month, {budget_name} AS budget, concat('team:', team) AS scope, \
                     currency, sum(effective) AS actual \
                   FROM allocations \
                   WHERE kind IN ('direct', 'pool') AND team NOT IN ('unallocated', 'idle') \
                     AND (day < toDate('2026-10-01') OR toDayOfMonth(day) <= {until}) \
                   GROUP BY month, budget, scope, currency \
                 ) ANY INNER JOIN ( \
                   SELECT {budget_name} AS budget, currency, \
                     toDecimal128(ceil(toFloat64(sum(effective)) * 1.05 / 100) * 100, 18) AS amount \
                   FROM allocations \
                   WHERE kind IN ('direct', 'pool') AND toStartOfMonth(day) = toDate('2026-09-01') \
                   GROUP BY budget, currency \
                 ) USING (budget, currency)",
                budget_name = BUDGET_NAME
            ),
        )
        .await;
    }
}

/// Two computations of the optimizer; dashboards show the latest.
async fn recommendations(store: &Store) {
    execute(
        store,
        "INSERT INTO recommendations (computed_at, id, kind, workload, team, service, currency, current_monthly, \
         proposed_monthly, saving_monthly, summary, evidence) VALUES \
         ('2026-10-30 06:00:00', 'r-1', 'rightsizing', 'k8s://prod/search/indexer', 'search', 'indexer', 'USD', 420, 250, 170, 'indexer requests 4 cores, uses 1.2', '{}'), \
         ('2026-10-30 06:00:00', 'r-2', 'spot', 'slurm://hpc/batch', 'data', 'batch', 'USD', 900, 380, 520, 'batch jobs restart cleanly: run on spot', '{}'), \
         ('2026-10-30 06:00:00', 'r-3', 'rightsizing', 'k8s://prod/payments/ledger', 'payments', 'ledger', 'USD', 300, 200, 100, 'ledger memory request 12 GiB, peak 5', '{}'), \
         ('2026-10-31 06:00:00', 'r-1', 'rightsizing', 'k8s://prod/search/indexer', 'search', 'indexer', 'USD', 430, 250, 180, 'indexer requests 4 cores, uses 1.1', '{}'), \
         ('2026-10-31 06:00:00', 'r-2', 'spot', 'slurm://hpc/batch', 'data', 'batch', 'USD', 910, 380, 530, 'batch jobs restart cleanly: run on spot', '{}'), \
         ('2026-10-31 06:00:00', 'r-4', 'spot', 'k8s://prod/ml/trainer', 'ml-research', 'trainer', 'USD', 8800, 3100, 5700, 'trainer checkpoints every 10 min: spot GPUs', '{}'), \
         ('2026-10-31 06:00:00', 'r-5', 'rightsizing', 'k8s://prod/growth/experiments', 'growth', 'experiments', 'EUR', 210, 150, 60, 'experiments over-requests memory', '{}')",
    )
    .await;
}
