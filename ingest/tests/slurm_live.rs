//! The live Slurm source against a real single-node Slurm with accounting
//! (testing/slurm/cluster.sh, brought up in a temp dir for this test and stopped at the end; kept
//! for its logs on failure). Packages: scripts/setup.sh; without them the test fails.
//!
//! The node has 2 CPUs and 2 GPUs. A long GPU job holds one CPU, so a 2-CPU job stays pending
//! and is cancelled before it starts; short jobs (a GPU one, an array) run on the other CPU.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ingest::sources::slurm::{Slurm, SlurmConfig};
use ingest::RunOptions;
use queries::rows::SlurmJobRow;
use queries::testing::test_store;
use queries::{Dec18, Query, Store};

#[path = "../../testing/slurm/harness.rs"]
mod slurm_harness;
use slurm_harness::{Cluster, CLUSTER};

const UNIT: i128 = 1_000_000_000_000_000_000;

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `sacct -X` of these jobs: job id (as printed) → (state, end).
fn accounting(cluster: &Cluster, ids: &[&str]) -> BTreeMap<String, (String, String)> {
    let list = ids.join(",");
    cluster
        .run(
            "sacct",
            &[
                "-X",
                "-n",
                "--parsable2",
                "-o",
                "JobID,State,End",
                "-j",
                &list,
            ],
        )
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 3).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string())))
        })
        .collect()
}

/// Submit a job; its id.
fn sbatch(cluster: &Cluster, name: &str, args: &[&str], wrap: &str) -> String {
    let output = format!("--output={}/job-%j.out", cluster.dir.display());
    let mut all = vec!["--parsable", "-J", name, output.as_str()];
    all.extend_from_slice(args);
    all.extend(["--wrap", wrap]);
    let out = cluster.run("sbatch", &all);
    out.trim().split(';').next().unwrap().to_string()
}

async fn rows(store: &Store) -> BTreeMap<String, SlurmJobRow> {
    store
        .fetch_all::<SlurmJobRow>(&Query::new(
            "test",
            "SELECT * FROM slurm_jobs FINAL ORDER BY cluster, job_id",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.job_id.clone(), r))
        .collect()
}

fn utc(sacct_time: &str) -> u32 {
    chrono::NaiveDateTime::parse_from_str(sacct_time, "%Y-%m-%dT%H:%M:%S")
        .unwrap_or_else(|e| panic!("{sacct_time}: {e}"))
        .and_utc()
        .timestamp() as u32
}

/// `ingested_at` (the row version) has whole seconds: a later run must be in a later second.
async fn next_second() {
    let ms = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1050 - ms.min(1000)))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sacct_lands_jobs_and_replaces_a_running_job_when_it_ends() {
    let started = Instant::now();
    let store = test_store("slurm_live").await;
    let cluster = Cluster::start();

    let long = cluster.sbatch("long", &["-p", "debug", "-A", "team-b", "--gres=gpu:1"]);
    wait_until("the long job runs", Duration::from_secs(20), || {
        cluster.job(&long)["JobState"] == "RUNNING"
    });
    // Needs both CPUs while one is taken: pending, then cancelled before it ever starts.
    let wide = sbatch(
        &cluster,
        "wide",
        &["-p", "debug", "-A", "team-a", "-c", "2"],
        "sleep 1",
    );
    wait_until("the wide job is pending", Duration::from_secs(10), || {
        cluster.job(&wide)["JobState"] == "PENDING"
    });
    cluster.run("scancel", &[&wide]);
    let quick = sbatch(
        &cluster,
        "quick",
        &["-p", "debug", "-A", "team-a"],
        "sleep 1",
    );
    let gpu = sbatch(
        &cluster,
        "gpu",
        &["-p", "spot", "-A", "team-b", "--gres=gpu:1", "--mem=300M"],
        "sleep 1",
    );
    let array = sbatch(
        &cluster,
        "sweep",
        &["-p", "spot", "-A", "team-a", "-a", "1-2"],
        "sleep 1",
    );
    let (task1, task2) = (format!("{array}_1"), format!("{array}_2"));
    let finished = [wide.as_str(), quick.as_str(), gpu.as_str(), &task1, &task2];
    wait_until(
        "accounting has the short jobs' ends",
        Duration::from_secs(30),
        || {
            let seen = accounting(&cluster, &[&wide, &quick, &gpu, &array]);
            finished
                .iter()
                .all(|id| seen.get(*id).is_some_and(|(_, end)| end != "Unknown"))
        },
    );

    let mut config = SlurmConfig::live("slurm-live", CLUSTER);
    config.slurm_conf = Some(cluster.conf());
    let source = Slurm::new(config);
    let before = chrono::Utc::now().timestamp() as u32;
    let report = ingest::run_source(&store, &source, &RunOptions::default())
        .await
        .unwrap();
    let after = chrono::Utc::now().timestamp() as u32;
    let summary = source.last_summary();
    assert_eq!((summary.finished, summary.running), (4, 1), "{summary:?}");
    assert_eq!(
        summary.cancelled_before_start, 1,
        "the wide job: {summary:?}"
    );
    assert_eq!(report.rows(), 5);

    let landed = rows(&store).await;
    let ids: Vec<&str> = landed.keys().map(String::as_str).collect();
    let mut want = vec![long.as_str(), quick.as_str(), gpu.as_str(), &task1, &task2];
    want.sort();
    assert_eq!(ids, want, "the cancelled-before-start job is not there");
    let one = Dec18(UNIT);
    let owner = |id: &str| {
        let r = &landed[id];
        (
            r.cluster.as_str(),
            r.partition.as_str(),
            r.account.as_str(),
            r.user.as_str(),
        )
    };
    assert_eq!(owner(&quick), (CLUSTER, "debug", "team-a", "root"));
    assert_eq!(owner(&gpu), (CLUSTER, "spot", "team-b", "root"));
    assert_eq!(owner(&task1), (CLUSTER, "spot", "team-a", "root"));
    assert_eq!(owner(&long), (CLUSTER, "debug", "team-b", "root"));
    let alloc = |id: &str| {
        let r = &landed[id];
        (
            r.alloc_cpus,
            r.alloc_memory_mb,
            r.alloc_gpus,
            r.state.as_str(),
        )
    };
    // DefMemPerCPU=128 (MB) unless --mem says otherwise.
    assert_eq!(
        alloc(&quick),
        (one, Dec18(128 * UNIT), Dec18(0), "COMPLETED")
    );
    assert_eq!(alloc(&gpu), (one, Dec18(300 * UNIT), one, "COMPLETED"));
    assert_eq!(
        alloc(&task2),
        (one, Dec18(128 * UNIT), Dec18(0), "COMPLETED")
    );
    assert_eq!(alloc(&long), (one, Dec18(128 * UNIT), one, "RUNNING"));
    let seen = accounting(&cluster, &[&quick, &gpu, &array]);
    for id in [&quick, &gpu, &task1, &task2] {
        let r = &landed[id.as_str()];
        assert_eq!(
            r.end,
            utc(&seen[id.as_str()].1),
            "job {id} ends when sacct says (UTC)"
        );
        assert!(r.end > r.start, "job {id}");
    }
    let running = &landed[&long];
    assert!(
        (before..=after).contains(&running.end),
        "a running job is counted up to the run: {} not in {before}..={after}",
        running.end
    );
    let latest_end = [&quick, &gpu, &task1, &task2]
        .iter()
        .map(|id| landed[id.as_str()].end)
        .max()
        .unwrap();
    let checkpoint = ingest::runner::load_checkpoint(&store, "slurm-live")
        .await
        .unwrap();
    let expected_checkpoint = chrono::DateTime::from_timestamp(i64::from(latest_end), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    assert_eq!(checkpoint.as_deref(), Some(expected_checkpoint.as_str()));

    // The long job ends: the next run replaces its row.
    cluster.run("scancel", &[&long]);
    wait_until(
        "accounting has the long job's end",
        Duration::from_secs(20),
        || {
            accounting(&cluster, &[&long])
                .get(&long)
                .is_some_and(|(_, end)| end != "Unknown")
        },
    );
    next_second().await;
    ingest::run_source(&store, &source, &RunOptions::default())
        .await
        .unwrap();
    let again = rows(&store).await;
    assert_eq!(again.len(), 5, "{:?}", again.keys());
    let ended = &again[&long];
    let (state, end) = accounting(&cluster, &[&long])[&long].clone();
    assert_eq!(
        (state.as_str(), ended.state.as_str()),
        ("CANCELLED by 0", "CANCELLED")
    );
    assert_eq!((ended.start, ended.end), (running.start, utc(&end)));
    assert_eq!(ended.alloc_gpus, one);
    for id in [&quick, &gpu, &task1, &task2] {
        let (a, b) = (&landed[id.as_str()], &again[id.as_str()]);
        assert_eq!(
            (a.end, &a.state),
            (b.end, &b.state),
            "job {id} read again in the overlap"
        );
    }
    let summary = source.last_summary();
    assert_eq!((summary.finished, summary.running), (5, 0), "{summary:?}");
    assert_eq!(
        ingest::runner::load_checkpoint(&store, "slurm-live")
            .await
            .unwrap(),
        Some(format!("{}Z", end)),
        "the checkpoint moves to the latest end"
    );
    drop(cluster);
    eprintln!("slurm_live took {:.1?}", started.elapsed());
}
