//! Slurm accounting files: `sacct --parsable2` and `sacct --json` of Slurm 21.08 to 24.11 parsed
//! to exact allocations, bad input refused with its file, line and column, and the jobs landed in
//! ClickHouse idempotently (a running job's row replaced when it finishes).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use ingest::reader::Location;
use ingest::record::{Records, SlurmJob, SourceEvent};
use ingest::sources::slurm::{Slurm, SlurmConfig, SlurmSummary};
use ingest::{IngestError, Problem, Source, SourceConfig};
use queries::Dec18;
use rust_decimal::Decimal;

use ingest::generate_usage::slurm as generate;
#[path = "slurm_source/landing.rs"]
mod landing;

const UNIT: i128 = 1_000_000_000_000_000_000;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/slurm")
        .join(name)
}

fn dec(d: Dec18) -> Decimal {
    d.to_decimal().unwrap()
}

fn n(v: i64) -> Dec18 {
    Dec18(i128::from(v) * UNIT)
}

/// Everything a source yields in one run.
struct Read {
    jobs: Vec<SlurmJob>,
    problems: Vec<Problem>,
    checkpoint: Option<String>,
    error: Option<IngestError>,
}

async fn read(source: &dyn Source) -> Read {
    let mut r = Read {
        jobs: Vec::new(),
        problems: Vec::new(),
        checkpoint: None,
        error: None,
    };
    let mut stream = source.read(None);
    while let Some(event) = stream.next().await {
        match event {
            Ok(SourceEvent::Records(Records::SlurmJobs(jobs))) => r.jobs.extend(jobs),
            Ok(SourceEvent::Records(_)) => panic!("a Slurm source yields Slurm jobs only"),
            Ok(SourceEvent::Problem(p)) => r.problems.push(p),
            Ok(SourceEvent::Checkpoint(c)) => r.checkpoint = Some(c),
            Err(e) => r.error = Some(e),
        }
    }
    r
}

async fn read_files(paths: &[PathBuf]) -> (Read, SlurmSummary) {
    let source = Slurm::from_files("slurm-test", "default", paths);
    let r = read(&source).await;
    (r, source.last_summary())
}

fn by_id(jobs: &[SlurmJob]) -> BTreeMap<(String, String), SlurmJob> {
    jobs.iter()
        .map(|j| ((j.cluster.clone(), j.job_id.clone()), j.clone()))
        .collect()
}

/// (job id, cpus, memory MB, GPUs, start, end, state) of the jobs of one cluster.
type Expect<'a> = (&'a str, i64, i64, i64, u32, u32, &'a str);

fn check(jobs: &[SlurmJob], cluster: &str, expected: &[Expect]) {
    let got = by_id(jobs);
    assert_eq!(
        got.len(),
        expected.len(),
        "jobs: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    for &(id, cpus, mem, gpus, start, end, state) in expected {
        let j = got
            .get(&(cluster.to_string(), id.to_string()))
            .unwrap_or_else(|| panic!("job {cluster}/{id} missing: {:?}", got.keys()));
        assert_eq!(
            (
                j.alloc_cpus,
                j.alloc_memory_mb,
                j.alloc_gpus,
                j.start,
                j.end,
                j.state.as_str()
            ),
            (n(cpus), n(mem), n(gpus), start, end, state),
            "job {id}"
        );
    }
}

/// The jobs of the JSON fixtures written after published sacct/slurmrestd captures of each
/// version (see tests/data/slurm): 2026-11-26T00:00:00Z plus offsets.
const S: u32 = 1_795_651_200;

fn fixture_jobs(gpus_1002: i64) -> Vec<Expect<'static>> {
    vec![
        ("1001", 4, 16_384, 0, S, S + 3600, "COMPLETED"),
        ("1002", 8, 65_536, gpus_1002, S + 600, S + 7800, "FAILED"),
        ("1003_1", 1, 2048, 0, S + 60, S + 960, "COMPLETED"),
        ("1003_2", 1, 2048, 0, S + 60, S + 1260, "TIMEOUT"),
        // Running: ends at start + elapsed (when sacct looked).
        ("1006", 16, 131_072, 4, S + 1000, S + 6000, "RUNNING"),
    ]
}

#[tokio::test]
async fn sacct_json_of_every_version_reads_the_same_allocations() {
    for (file, cluster, format) in [
        (
            "sacct-21.08.json",
            "mesa",
            "openapi/dbv0.0.37, Slurm 21.08.8-2",
        ),
        (
            "sacct-23.02.json",
            "butte",
            "data_parser/v0.0.39, Slurm 23.02.6",
        ),
        (
            "sacct-23.11.json",
            "ridge",
            "data_parser/v0.0.40, Slurm 23.11.10",
        ),
        (
            "sacct-24.05.json",
            "summit",
            "data_parser/v0.0.41, Slurm 24.05.3",
        ),
        (
            "slurmrestd-24.11-v0.0.42.json",
            "canyon",
            "data_parser/v0.0.42, Slurm 24.11.7",
        ),
    ] {
        let (r, summary) = read_files(&[data(file)]).await;
        assert!(
            r.problems.is_empty() && r.error.is_none(),
            "{file}: {:?}",
            r.problems
        );
        // 24.05 lists gres/gpu=2 and gres/gpu:a100=2 (the same two GPUs); 24.11 gpu:a100=1 and
        // gpu:h100=1 only: two GPUs either way.
        check(&r.jobs, cluster, &fixture_jobs(2));
        assert_eq!(
            (
                summary.finished,
                summary.running,
                summary.cancelled_before_start
            ),
            (4, 1, 1),
            "{file}"
        );
        assert_eq!(
            summary.formats,
            [format!("sacct --json ({format})")],
            "{file}"
        );
        assert_eq!(r.checkpoint, None, "files leave no checkpoint");
    }
}

/// Captured from the test cluster (Slurm 22.05.8): `sacct --parsable2` with steps and
/// `sacct -X --parsable2`, then `sacct --json` a second later (the running job's elapsed differs).
#[tokio::test]
async fn a_real_slurm_22_05_reads_the_same_from_json_and_parsable2() {
    const T: u32 = 1_796_216_916; // 2026-12-02T13:08:36Z
    let expected = |running_end: u32| {
        vec![
            ("1", 1, 128, 0, T, T + 1, "COMPLETED"),
            ("2", 1, 300, 1, T, T + 2, "COMPLETED"),
            ("3_1", 1, 128, 0, T + 3, T + 4, "COMPLETED"),
            ("3_2", 1, 128, 0, T + 3, T + 4, "COMPLETED"),
            ("3_3", 1, 128, 0, T + 6, T + 7, "COMPLETED"),
            ("4", 2, 256, 0, T + 9, running_end, "RUNNING"),
        ]
    };
    let (json, summary) = read_files(&[data("sacct-22.05.json")]).await;
    assert!(json.problems.is_empty(), "{:?}", json.problems);
    check(&json.jobs, "costmill-test", &expected(T + 9 + 27));
    // Job 5 was cancelled while pending; the two components of het job 8 are still pending.
    assert_eq!(
        (summary.cancelled_before_start, summary.not_started),
        (1, 2)
    );
    assert_eq!(
        summary.formats,
        ["sacct --json (openapi/dbv0.0.38, Slurm 22.05.8)"]
    );

    let (x, summary) = read_files(&[data("sacct-22.05-x.txt")]).await;
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    check(&x.jobs, "costmill-test", &expected(T + 9 + 26));
    assert_eq!(
        (
            summary.cancelled_before_start,
            summary.not_started,
            summary.steps
        ),
        (1, 2, 0)
    );

    let (steps, summary) = read_files(&[data("sacct-22.05-steps.txt")]).await;
    assert!(steps.problems.is_empty(), "{:?}", steps.problems);
    check(&steps.jobs, "costmill-test", &expected(T + 9 + 26));
    assert_eq!(
        summary.steps, 6,
        "1.batch, 2.batch, 4.batch, 3_1.batch, 3_2.batch, 3_3.batch"
    );
}

#[tokio::test]
async fn generated_accounting_totals_are_exact_in_both_formats() {
    let jobs = generate::jobs(42, 320);
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("sacct.txt");
    std::fs::write(&text, generate::parsable(&jobs)).unwrap();
    let json = dir.path().join("sacct.json");
    std::fs::write(
        &json,
        serde_json::to_vec_pretty(&generate::json_document(&jobs)).unwrap(),
    )
    .unwrap();
    let (rows, cpu_s, mem_s, gpu_s) = generate::totals(&jobs);
    let started = jobs.iter().filter(|j| j.started()).count();
    assert_eq!(rows as usize, started);
    assert!(rows > 250 && gpu_s > Decimal::ZERO, "a meaningful sample");

    let mut landed = Vec::new();
    for path in [&text, &json] {
        let (r, summary) = read_files(std::slice::from_ref(path)).await;
        assert!(
            r.problems.is_empty(),
            "{path:?}: {:?}",
            &r.problems[..r.problems.len().min(3)]
        );
        let sum = |f: fn(&SlurmJob) -> Dec18| -> Decimal {
            r.jobs
                .iter()
                .map(|j| dec(f(j)) * Decimal::from(j.end - j.start))
                .sum()
        };
        assert_eq!(r.jobs.len() as u64, rows, "{path:?}");
        assert_eq!(sum(|j| j.alloc_cpus), cpu_s, "{path:?}: cpu-seconds");
        assert_eq!(sum(|j| j.alloc_memory_mb), mem_s, "{path:?}: MB-seconds");
        assert_eq!(sum(|j| j.alloc_gpus), gpu_s, "{path:?}: GPU-seconds");
        let never = jobs.iter().filter(|j| !j.started()).count() as u64;
        assert_eq!(summary.cancelled_before_start + summary.not_started, never);
        assert_eq!(
            summary.running,
            jobs.iter()
                .filter(|j| j.started() && j.end.is_none())
                .count() as u64
        );
        landed.push(by_id(&r.jobs));
    }
    assert_eq!(landed[0], landed[1], "both formats give the same jobs");
    // Every job as generated: ids as sacct prints them, owners, and each allocation.
    for j in jobs.iter().filter(|j| j.started()) {
        let got = &landed[0][&(j.cluster.to_string(), j.job_id.clone())];
        assert_eq!(
            (
                got.partition.as_str(),
                got.account.as_str(),
                got.user.as_str(),
                got.job_name.as_str()
            ),
            (j.partition, j.account, j.user, j.name.as_str())
        );
        assert_eq!(
            (got.alloc_gpus, got.state.as_str()),
            (n(j.gpus), j.state),
            "{}",
            j.job_id
        );
    }
    assert!(
        landed[0].keys().any(|(_, id)| id.contains('_')),
        "array tasks"
    );
    assert!(
        landed[0].keys().any(|(_, id)| id.contains('+')),
        "het components"
    );
}

fn problems_of(r: Read) -> Vec<Problem> {
    assert!(r.error.is_none(), "{:?}", r.error);
    r.problems
}

#[tokio::test]
async fn bad_input_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let header =
        "Cluster|JobID|JobName|Partition|Account|User|AllocTRES|Start|End|State|ElapsedRaw";
    let good = "c1|10|ok|debug|a|u|cpu=1,mem=1G,node=1|2026-11-22T19:05:14|2026-11-22T19:06:14|COMPLETED|60";
    let cases = [
        (
            "c1|11|short|debug|a|u|cpu=1|2026-11-22T19:05:14|COMPLETED|60",
            None,
            "expected 11 fields",
        ),
        (
            "c1|12|tres|debug|a|u|cpu=1,mem=lots,node=1|2026-11-22T19:05:14|2026-11-22T19:06:14|COMPLETED|60",
            Some("7 (AllocTRES)"),
            "memory amount",
        ),
        (
            "c1|13|time|debug|a|u|cpu=1,mem=1G|22/11/2026 19:05|2026-11-22T19:06:14|COMPLETED|60",
            Some("8 (Start)"),
            "expected a time like 2026-11-22T19:05:14",
        ),
        (
            "c1|14|order|debug|a|u|cpu=1,mem=1G|2026-11-22T19:07:14|2026-11-22T19:06:14|COMPLETED|60",
            None,
            "ends (2026-11-22T19:06:14) before it starts",
        ),
        (
            "c1|15|state|debug|a|u|cpu=1,mem=1G|2026-11-22T19:05:14|2026-11-22T19:06:14|done|60",
            Some("10 (State)"),
            "expected a job state",
        ),
    ];
    for (line, column, message) in cases {
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, format!("{header}\n{good}\n\n{line}\n")).unwrap();
        let (r, _) = read_files(std::slice::from_ref(&path)).await;
        let problems = problems_of(r);
        assert_eq!(problems.len(), 1, "{line}: {problems:?}");
        let p = &problems[0];
        assert_eq!((&p.file, p.location), (&path, Location::Line(4)), "{line}");
        assert_eq!(p.column.as_deref(), column, "{line}");
        assert!(p.message.contains(message), "{line}: {}", p.message);
    }

    let no_header = dir.path().join("noheader.txt");
    std::fs::write(&no_header, format!("{good}\n")).unwrap();
    let p = problems_of(read_files(&[no_header]).await.0);
    assert!(
        p[0].message.contains("run sacct without --noheader"),
        "{}",
        p[0].message
    );

    // JSON: syntax errors at their line and column; a bad field at its job's line and path.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"jobs\": [\n    {\"job_id\": 1,}\n  ]\n}\n").unwrap();
    let p = problems_of(read_files(std::slice::from_ref(&broken)).await.0);
    assert_eq!(
        (p[0].location, p[0].column.as_deref()),
        (Location::Line(3), Some("18"))
    );
    let bad_field = dir.path().join("field.json");
    std::fs::write(
        &bad_field,
        r#"{"jobs": [
  {"job_id": 5, "state": {"current": "COMPLETED"}, "time": {"start": 100, "end": 200},
   "tres": {"allocated": []}},
  {"job_id": 6, "state": {"current": "COMPLETED"},
   "time": {"start": 100, "end": 200},
   "tres": {"allocated": [{"type": "cpu", "count": "many"}]}}
]}"#,
    )
    .unwrap();
    let p = problems_of(read_files(std::slice::from_ref(&bad_field)).await.0);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].location,
        Location::Line(6),
        "the line of the job's tres"
    );
    assert_eq!(
        p[0].column.as_deref(),
        Some("jobs[1].tres.allocated[0].count")
    );
    assert!(
        p[0].message.starts_with("job 6: expected a whole number"),
        "{}",
        p[0].message
    );
    let errors = dir.path().join("errors.json");
    std::fs::write(
        &errors,
        r#"{"jobs": [], "errors": [{"description": "Unable to query jobs", "error_number": 2017, "error": "Invalid job id specified"}]}"#,
    )
    .unwrap();
    let p = problems_of(read_files(&[errors]).await.0);
    assert!(
        p[0].message
            .contains("Unable to query jobs: Invalid job id specified"),
        "{}",
        p[0].message
    );
}

#[tokio::test]
async fn json_shapes_across_versions_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    // A bare list of jobs; times, ids and offsets as {set, infinite, number}; state as a list;
    // a het component; a missing cluster (the default); an infinite time limit.
    let path = dir.path().join("shapes.json");
    std::fs::write(
        &path,
        r#"[
 {"job_id": 71, "het": {"job_id": 70, "job_offset": {"set": true, "infinite": false, "number": 1}},
  "array": {"job_id": 0, "task_id": {"set": false, "infinite": false, "number": 0}},
  "association": {"account": "ml", "user": "bob", "cluster": ""},
  "name": "het", "partition": "gpu",
  "state": {"current": ["COMPLETED", "RECONFIG_FAIL"]},
  "time": {"start": {"set": true, "infinite": false, "number": 1000},
           "end": {"set": true, "infinite": false, "number": 4600},
           "limit": {"set": false, "infinite": true, "number": 0}},
  "exit_code": {"status": ["SUCCESS"], "return_code": {"set": true, "infinite": false, "number": 0}},
  "tres": {"allocated": [{"type": "cpu", "name": null, "count": 2},
                         {"type": "mem", "name": "", "count": 1536},
                         {"type": "gres", "name": "gpu:l40s", "count": 1},
                         {"type": "billing", "name": "", "count": 2.5}]}}
]"#,
    )
    .unwrap();
    let (r, _) = read_files(&[path]).await;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.jobs.len(), 1);
    let j = &r.jobs[0];
    assert_eq!(
        (
            j.cluster.as_str(),
            j.job_id.as_str(),
            j.account.as_str(),
            j.user.as_str()
        ),
        ("default", "70+1", "ml", "bob")
    );
    assert_eq!(
        (j.start, j.end, j.state.as_str()),
        (1000, 4600, "COMPLETED")
    );
    assert_eq!(
        (j.alloc_cpus, j.alloc_memory_mb, j.alloc_gpus),
        (n(2), n(1536), n(1))
    );
}

#[tokio::test]
async fn times_without_a_zone_are_utc_unless_an_offset_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cet.txt");
    std::fs::write(
        &path,
        "JobID|AllocTRES|Start|End|State\n9|cpu=1,mem=1G|2026-11-22T19:05:14|2026-11-22T20:05:14|COMPLETED\n",
    )
    .unwrap();
    let utc = Slurm::from_files("s", "c", std::slice::from_ref(&path));
    let j = read(&utc).await.jobs.remove(0);
    assert_eq!(
        (j.start, j.end),
        (1_795_374_314, 1_795_377_914),
        "2026-11-22T19:05:14Z"
    );
    let mut config = SlurmConfig::files("s", "c", std::slice::from_ref(&path));
    config.timezone = Some("+01:00".into());
    let j = read(&Slurm::new(config)).await.jobs.remove(0);
    assert_eq!(
        (j.start, j.end),
        (1_795_374_314 - 3600, 1_795_377_914 - 3600),
        "19:05:14+01:00"
    );
    assert_eq!(j.cluster, "c", "no Cluster column: the configured cluster");
}

#[test]
fn the_config_has_documented_defaults_and_refuses_unknown_keys() {
    let config: SourceConfig = serde_json::from_value(
        serde_json::json!({"type": "slurm", "name": "hpc", "cluster": "c1"}),
    )
    .unwrap();
    let SourceConfig::Slurm(c) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(c, &SlurmConfig::live("hpc", "c1"));
    assert_eq!(
        (c.overlap_minutes, c.start.as_str(), c.sacct.to_str()),
        (60, "7d", Some("sacct"))
    );
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let unknown = serde_json::from_value::<SourceConfig>(
        serde_json::json!({"type": "slurm", "name": "hpc", "cluster": "c1", "overlap": 5}),
    );
    assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    let bad: SourceConfig = serde_json::from_value(serde_json::json!({
        "type": "slurm", "name": "hpc", "cluster": "", "start": "a week",
        "timezone": "+01:00", "clusters": ["a,b"], "schedule": "hourly"
    }))
    .unwrap();
    let keys: Vec<String> = bad.problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["schedule", "cluster", "start", "clusters", "timezone"]
    );
    let args = ingest::sources::slurm::sacct_args(c, 1_795_374_314, 1_795_377_914);
    assert_eq!(
        args,
        [
            "--allusers",
            "--allocations",
            "--parsable2",
            "--noconvert",
            "--format=Cluster,JobID,JobName,Partition,Account,User,AllocTRES,Start,End,State,ElapsedRaw,NodeList",
            "--starttime=2026-11-22T19:05:14",
            "--endtime=2026-11-22T20:05:14",
        ]
    );
}
