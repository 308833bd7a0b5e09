//! Usage records are idempotent (the same window twice counts once; a restated window replaces),
//! and days and billing months are UTC whatever the server's own timezone.
use std::collections::BTreeMap;
use std::str::FromStr;

use futures::stream::BoxStream;
use ingest::generate::{self, GenerateOptions};
use ingest::record::{NodeWindow, PodWindow, Records, SlurmJob, SourceEvent};
use ingest::{IngestError, RunOptions, Source};
use queries::testing::test_store;
use queries::{ClickHouseConfig, Dec18, Param, Query, Store};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

const UNIT: i128 = 1_000_000_000_000_000_000;
const DAY: u32 = 1_788_220_800; // 2026-09-01 00:00:00 UTC

/// A cluster as a Kubernetes source would see it over one day: nodes and pods per hour.
struct Cluster {
    seed: u64,
    /// Scale CPU usage in this hour by 3 (a restatement of that window).
    restate_hour: Option<u32>,
    bad_window: bool,
}

fn dec(units: i128) -> Dec18 {
    Dec18(units * UNIT)
}

impl Cluster {
    fn records(&self) -> (Vec<NodeWindow>, Vec<PodWindow>, Vec<SlurmJob>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut nodes = Vec::new();
        let mut pods = Vec::new();
        for cluster in ["prod-eu", "prod-us"] {
            for n in 0..12 {
                let spot = n % 3 == 0;
                for hour in 0..24 {
                    let start = DAY + hour * 3600;
                    nodes.push(NodeWindow {
                        cluster: cluster.into(),
                        node: format!("ip-10-0-{n}-{}.ec2.internal", 10 + n),
                        provider_id: format!(
                            "aws:///eu-west-1a/i-0{:015x}",
                            self.seed * 100 + n as u64
                        ),
                        instance_type: if spot { "m5.2xlarge" } else { "m5.4xlarge" }.into(),
                        cpu_cores: dec(if spot { 8 } else { 16 }),
                        memory_bytes: dec(if spot { 32 } else { 64 } << 30),
                        gpus: dec(0),
                        window_start: start,
                        window_end: start + 3600,
                    });
                    for p in 0..14 {
                        let usage = rng.gen_range(50..1500) as i128;
                        let scale = if self.restate_hour == Some(hour) {
                            3
                        } else {
                            1
                        };
                        pods.push(PodWindow {
                            cluster: cluster.into(),
                            node: format!("ip-10-0-{n}-{}.ec2.internal", 10 + n),
                            namespace: ["payments", "search", "checkout", "ml"][p % 4].into(),
                            pod: format!("app-{p}-{n}-7d9f8"),
                            workload_kind: "Deployment".into(),
                            workload: format!("app-{p}"),
                            labels: vec![
                                ("app".into(), format!("app-{p}")),
                                ("team".into(), format!("team-{}", p % 5)),
                            ],
                            window_start: start,
                            window_end: if self.bad_window && n == 3 && hour == 5 {
                                start
                            } else {
                                start + 3600
                            },
                            cpu_request_cores: Dec18(500 * UNIT / 1000),
                            cpu_usage_cores: Dec18(usage * scale * UNIT / 1000),
                            memory_request_bytes: dec(1 << 30),
                            memory_usage_bytes: dec(rng.gen_range(1..3) << 29),
                            gpu_request: dec(0),
                        });
                    }
                }
            }
        }
        let jobs = (0..500)
            .map(|j| SlurmJob {
                cluster: "hpc".into(),
                job_id: format!("{}", 100_000 + j),
                job_name: format!("train-{j}"),
                partition: if j % 5 == 0 { "gpu" } else { "batch" }.into(),
                account: format!("account-{}", j % 7),
                user: format!("user-{}", j % 23),
                alloc_cpus: dec(1 + j as i128 % 32),
                alloc_memory_mb: dec(4096),
                alloc_gpus: dec(if j % 5 == 0 { 2 } else { 0 }),
                start: DAY + j * 120,
                end: DAY + j * 120 + 1800 + (j % 9) * 600,
                state: "COMPLETED".into(),
            })
            .collect();
        (nodes, pods, jobs)
    }
}

impl Source for Cluster {
    fn name(&self) -> &str {
        "k8s-prod"
    }

    fn read(
        &self,
        _checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let (nodes, pods, jobs) = self.records();
        let mut events = vec![Ok(SourceEvent::Records(Records::K8sNodes(nodes)))];
        for chunk in pods.chunks(1000) {
            events.push(Ok(SourceEvent::Records(Records::K8sPods(chunk.to_vec()))));
        }
        events.push(Ok(SourceEvent::Records(Records::SlurmJobs(jobs))));
        Box::pin(futures::stream::iter(events))
    }
}

#[derive(Debug, PartialEq, clickhouse::Row, serde::Deserialize)]
struct Usage {
    rows: u64,
    cpu_core_seconds: Dec18,
}

async fn pod_usage(store: &Store) -> Usage {
    store
        .fetch_all::<Usage>(&Query::new(
            "test",
            "SELECT count() AS rows, sum(cpu_usage_cores * toUInt32(window_end - window_start)) AS cpu_core_seconds FROM k8s_pod_usage FINAL",
        ))
        .await
        .unwrap()
        .remove(0)
}

async fn count(store: &Store, table: &str) -> u64 {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct N {
        n: u64,
    }
    store
        .fetch_all::<N>(
            &Query::new("test", "SELECT count() AS n FROM {t:Identifier} FINAL")
                .bind_ident("t", table),
        )
        .await
        .unwrap()[0]
        .n
}

fn expected(pods: &[PodWindow]) -> Usage {
    Usage {
        rows: pods.len() as u64,
        cpu_core_seconds: Dec18(pods.iter().map(|p| p.cpu_usage_cores.0 * 3600).sum()),
    }
}

#[tokio::test]
async fn the_same_usage_window_landed_twice_counts_once_and_a_restatement_replaces_it() {
    let store = test_store("usage").await;
    let cluster = Cluster {
        seed: 7,
        restate_hour: None,
        bad_window: false,
    };
    let (nodes, pods, jobs) = cluster.records();
    let report = ingest::run_source(&store, &cluster, &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.rows() as usize,
        nodes.len() + pods.len() + jobs.len()
    );
    assert_eq!(
        report.days,
        Some(((DAY / 86_400) as u16, (DAY / 86_400) as u16 + 1))
    );
    assert_eq!(pod_usage(&store).await, expected(&pods));

    ingest::run_source(&store, &cluster, &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        pod_usage(&store).await,
        expected(&pods),
        "landed twice, counted once"
    );
    assert_eq!(count(&store, "k8s_nodes").await, nodes.len() as u64);
    assert_eq!(count(&store, "slurm_jobs").await, jobs.len() as u64);

    let restated = Cluster {
        seed: 7,
        restate_hour: Some(13),
        bad_window: false,
    };
    let (_, new_pods, _) = restated.records();
    ingest::run_source(&store, &restated, &RunOptions::default())
        .await
        .unwrap();
    assert_ne!(expected(&new_pods), expected(&pods));
    assert_eq!(pod_usage(&store).await, expected(&new_pods));

    // A bad window refuses the whole run; nothing of it lands.
    let bad = Cluster {
        seed: 8,
        restate_hour: None,
        bad_window: true,
    };
    let error = ingest::run_source(&store, &bad, &RunOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the window must end after it starts"),
        "{error}"
    );
    assert_eq!(pod_usage(&store).await, expected(&new_pods));
}

#[tokio::test]
async fn days_and_billing_months_are_utc_on_a_server_in_another_timezone() {
    let dir = tempfile::tempdir().unwrap();
    let state = queries::server::start_in_timezone(dir.path(), "Asia/Kolkata").unwrap();
    let config = ClickHouseConfig {
        url: Some(state.url()),
        database: "utc_check".into(),
        ..ClickHouseConfig::default()
    };
    let result = async {
        let store = Store::open(&config, dir.path()).await.unwrap();
        let bill = dir.path().join("bill.csv");
        let options = GenerateOptions {
            rows: 8_000,
            seed: 77,
            ..GenerateOptions::default()
        };
        generate::write_csv(&options, std::fs::File::create(&bill).unwrap()).unwrap();
        ingest::ingest_focus(&store, &[bill.clone()], "billing", &RunOptions::default())
            .await
            .unwrap();

        // From the file: BilledCost per UTC charge day and per billing month.
        let mut reader = csv::Reader::from_path(&bill).unwrap();
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (start, period, billed) = (
            col("ChargePeriodStart"),
            col("BillingPeriodStart"),
            col("BilledCost"),
        );
        let mut by_day: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut by_month: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut september = Decimal::ZERO;
        for r in reader.records() {
            let r = r.unwrap();
            let amount = Decimal::from_str(&r[billed]).unwrap();
            *by_day.entry(r[start][..10].to_string()).or_default() += amount;
            *by_month.entry(r[period][..7].replace('-', "")).or_default() += amount;
            if r[start].starts_with("2026-09") {
                september += amount;
            }
        }
        #[derive(clickhouse::Row, serde::Deserialize)]
        struct Group {
            key: String,
            billed: Dec18,
        }
        let fetch = |sql: &'static str| {
            let store = store.clone();
            async move {
                store
                    .fetch_all::<Group>(&Query::new("test", sql))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|g| (g.key, g.billed.to_decimal().unwrap()))
                    .collect::<BTreeMap<_, _>>()
            }
        };
        let tz = fetch("SELECT timezone() AS key, toDecimal128(0, 18) AS billed").await;
        assert_eq!(tz.keys().collect::<Vec<_>>(), ["Asia/Kolkata"]);
        assert_eq!(
            fetch("SELECT toString(toDate(ChargePeriodStart)) AS key, sum(BilledCost) AS billed FROM focus_costs GROUP BY key").await,
            by_day
        );
        assert_eq!(
            fetch("SELECT partition AS key, toDecimal128(0, 18) AS billed FROM system.parts WHERE database = currentDatabase() AND table = 'focus_costs' AND active GROUP BY key")
                .await
                .keys()
                .map(|p| p.rsplit(',').next().unwrap().trim_end_matches(')').to_string())
                .collect::<std::collections::BTreeSet<_>>(),
            by_month.keys().cloned().collect(),
            "billing-month partitions are the UTC months"
        );
        // Bound DateTime parameters are UTC too.
        let window = Query::new(
            "test",
            "SELECT 'september' AS key, sum(BilledCost) AS billed FROM focus_costs WHERE ChargePeriodStart >= {from:DateTime} AND ChargePeriodStart < {to:DateTime}",
        )
        .bind("from", Param::DateTime(i64::from(DAY)))
        .bind("to", Param::DateTime(i64::from(DAY) + 30 * 86_400));
        let got: Vec<Group> = store.fetch_all(&window).await.unwrap();
        assert_eq!(got[0].billed.to_decimal().unwrap(), september);
    };
    use futures::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(result).catch_unwind().await;
    queries::server::stop(dir.path()).unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
