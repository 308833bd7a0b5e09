//! `costmill ingest kubernetes` and `costmill ingest slurm` through the binary on a real
//! ClickHouse, with dumps recorded from real clusters (ingest/tests/data: kubectl and sacct
//! output); the parsers' depth is tested in the ingest crate, this checks the commands land
//! what the files hold and refuse a bad file whole, naming its line.
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{costmill, Db, BIN};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ingest/tests/data")
        .join(path)
}

fn count(db: &Db, sql: &str) -> u64 {
    db.query(sql).trim().parse().unwrap()
}

#[test]
fn usage_dumps_land_and_a_bad_file_lands_nothing() {
    let (db, dir, config) = common::project("ingest_usage", "");

    // Kubernetes: the nodes, and the pods running on a node, of one kubectl dump.
    let dump: Value =
        serde_json::from_str(&std::fs::read_to_string(data("kubernetes/cluster.json")).unwrap())
            .unwrap();
    let items = dump["items"].as_array().unwrap();
    let nodes = items.iter().filter(|i| i["kind"] == "Node").count() as u64;
    let running = items
        .iter()
        .filter(|i| {
            i["kind"] == "Pod"
                && i["status"]["phase"] == "Running"
                && i["spec"]["nodeName"].is_string()
        })
        .count() as u64;
    let cluster_json = data("kubernetes/cluster.json");
    let metrics_json = data("kubernetes/podmetrics.json");
    costmill(
        dir.path(),
        &config,
        &[
            "ingest",
            "kubernetes",
            cluster_json.to_str().unwrap(),
            metrics_json.to_str().unwrap(),
            "--cluster",
            "prod",
            "--at",
            "2026-11-20T10:00:00Z",
        ],
    );
    assert_eq!(
        count(
            &db,
            "SELECT count() FROM k8s_nodes FINAL WHERE cluster = 'prod'"
        ),
        nodes
    );
    assert_eq!(
        count(
            &db,
            "SELECT uniqExact(namespace, pod) FROM k8s_pod_usage FINAL WHERE cluster = 'prod'"
        ),
        running
    );
    assert_eq!(
        count(
            &db,
            "SELECT count() FROM k8s_pod_usage FINAL WHERE window_start != toDateTime('2026-11-20 10:00:00', 'UTC')"
        ),
        0,
        "one sample at 10:00 opens the 10:00 window"
    );

    // Slurm: every job that started, once (sacct -X: no steps), the running one included.
    let sacct = data("slurm/sacct-22.05-x.txt");
    let text = std::fs::read_to_string(&sacct).unwrap();
    let started = text
        .lines()
        .skip(1)
        .filter(|l| {
            let start = l.split('|').nth(7).unwrap_or("");
            !l.is_empty() && start != "None" && start != "Unknown"
        })
        .count() as u64;
    costmill(
        dir.path(),
        &config,
        &[
            "ingest",
            "slurm",
            sacct.to_str().unwrap(),
            "--cluster",
            "hpc",
        ],
    );
    assert_eq!(count(&db, "SELECT count() FROM slurm_jobs FINAL"), started);
    // Again: the same rows, not twice as many.
    costmill(
        dir.path(),
        &config,
        &[
            "ingest",
            "slurm",
            sacct.to_str().unwrap(),
            "--cluster",
            "hpc",
        ],
    );
    assert_eq!(count(&db, "SELECT count() FROM slurm_jobs FINAL"), started);

    // A file with a broken line: refused whole, the line named, nothing more lands.
    let bad = dir.path().join("bad.txt");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(
        3,
        "hpc|99|broken|debug|team-a|root|cpu=x|2026-12-02T13:08:36|2026-12-02T13:08:37|COMPLETED|1",
    );
    std::fs::write(&bad, lines.join("\n").replace("|1|quick|", "|1001|quick|")).unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["ingest", "slurm", bad.to_str().unwrap(), "--cluster", "hpc"])
        .env("COSTMILL_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bad.txt: line 4") && stderr.contains("AllocTRES"),
        "{stderr}"
    );
    assert_eq!(count(&db, "SELECT count() FROM slurm_jobs FINAL"), started);
    assert_eq!(
        count(&db, "SELECT count() FROM slurm_jobs WHERE job_id = '1001'"),
        0
    );
}

#[test]
fn generated_dumps_land_as_the_generator_says() {
    let (db, dir, config) = common::project("generate_usage", "");
    let k8s = dir.path().join("k8s");
    let k8s_dir = k8s.to_str().unwrap();
    costmill(
        dir.path(),
        &config,
        &[
            "generate",
            "kubernetes",
            "--nodes",
            "12",
            "--pods",
            "150",
            "--seed",
            "5",
            "-o",
            k8s_dir,
        ],
    );
    costmill(
        dir.path(),
        &config,
        &[
            "ingest",
            "kubernetes",
            k8s_dir,
            "--cluster",
            "gen",
            "--at",
            "2026-11-20T10:00:00Z",
        ],
    );
    let truth = ingest::generate_usage::kubernetes::generate(5, 12, 150);
    assert_eq!(
        count(
            &db,
            "SELECT count() FROM k8s_nodes FINAL WHERE cluster = 'gen'"
        ),
        truth.node_truth.len() as u64
    );
    assert_eq!(
        count(
            &db,
            "SELECT uniqExact(namespace, pod) FROM k8s_pod_usage FINAL WHERE cluster = 'gen'"
        ),
        truth.pod_truth.values().filter(|p| p.billable).count() as u64
    );

    for (format, seed) in [("parsable", 9), ("json", 10)] {
        let file = dir.path().join(format!("sacct-{format}"));
        costmill(
            dir.path(),
            &config,
            &[
                "generate",
                "slurm",
                "--jobs",
                "300",
                "--seed",
                &seed.to_string(),
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
            ],
        );
        db.query("TRUNCATE TABLE slurm_jobs");
        costmill(
            dir.path(),
            &config,
            &[
                "ingest",
                "slurm",
                file.to_str().unwrap(),
                "--cluster",
                "hpc",
            ],
        );
        let jobs = ingest::generate_usage::slurm::jobs(seed, 300);
        let (rows, ..) = ingest::generate_usage::slurm::totals(&jobs);
        assert_eq!(
            count(&db, "SELECT count() FROM slurm_jobs FINAL"),
            rows,
            "{format}"
        );
    }
}
