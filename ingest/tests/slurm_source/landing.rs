//! Slurm jobs landed in ClickHouse: the same file twice gives the same rows, a running job's row
//! is replaced when it finishes, and a run with a bad file lands nothing.
use std::collections::BTreeMap;

use ingest::reader::Location;
use ingest::record::SlurmJob;
use ingest::{IngestError, RunOptions};
use queries::rows::SlurmJobRow;
use queries::testing::test_store;
use queries::{Query, Store};

use super::{by_id, generate, n, read_files};

async fn rows(store: &Store) -> Vec<SlurmJobRow> {
    store
        .fetch_all(&Query::new(
            "test",
            "SELECT * FROM slurm_jobs FINAL ORDER BY cluster, job_id",
        ))
        .await
        .unwrap()
}

fn as_jobs(rows: &[SlurmJobRow]) -> BTreeMap<(String, String), SlurmJob> {
    rows.iter()
        .map(|r| {
            let j = SlurmJob {
                cluster: r.cluster.clone(),
                job_id: r.job_id.clone(),
                job_name: r.job_name.clone(),
                partition: r.partition.clone(),
                account: r.account.clone(),
                user: r.user.clone(),
                alloc_cpus: r.alloc_cpus,
                alloc_memory_mb: r.alloc_memory_mb,
                alloc_gpus: r.alloc_gpus,
                start: r.start,
                end: r.end,
                state: r.state.clone(),
            };
            ((j.cluster.clone(), j.job_id.clone()), j)
        })
        .collect()
}

/// `ingested_at` (the row version) has whole seconds: a later run must be in a later second.
async fn next_second() {
    let ms = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(
        1050 - ms.min(1000),
    )))
    .await;
}

#[tokio::test]
async fn landing_is_idempotent_a_finished_job_replaces_its_running_row_and_bad_files_land_nothing()
{
    let store = test_store("slurm_landing").await;
    let options = RunOptions::default();
    let jobs = generate::jobs(7, 200);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("week.txt");
    std::fs::write(&file, generate::parsable(&jobs)).unwrap();
    let expected = by_id(&read_files(std::slice::from_ref(&file)).await.0.jobs);
    let (count, ..) = generate::totals(&jobs);

    let report =
        ingest::runner::ingest_slurm(&store, std::slice::from_ref(&file), "default", &options)
            .await
            .unwrap();
    assert_eq!(report.rows(), count);
    assert_eq!(as_jobs(&rows(&store).await), expected);
    next_second().await;
    ingest::runner::ingest_slurm(&store, std::slice::from_ref(&file), "default", &options)
        .await
        .unwrap();
    assert_eq!(
        as_jobs(&rows(&store).await),
        expected,
        "the same file twice: the same rows"
    );

    // A job seen running, then finished: one row, the final one.
    let header =
        "Cluster|JobID|JobName|Partition|Account|User|AllocTRES|Start|End|State|ElapsedRaw";
    let running = dir.path().join("running.txt");
    std::fs::write(
        &running,
        format!("{header}\nalpha|777|long|gpu|ml|bob|cpu=8,gres/gpu:a100=2,mem=64G,node=1|2026-11-03T10:00:00|Unknown|RUNNING|1800\n"),
    )
    .unwrap();
    ingest::runner::ingest_slurm(&store, &[running], "default", &options)
        .await
        .unwrap();
    let key = ("alpha".to_string(), "777".to_string());
    let row = as_jobs(&rows(&store).await)[&key].clone();
    assert_eq!(
        (row.state.as_str(), row.end - row.start, row.alloc_gpus),
        ("RUNNING", 1800, n(2))
    );
    next_second().await;
    let done = dir.path().join("done.txt");
    std::fs::write(
        &done,
        format!("{header}\nalpha|777|long|gpu|ml|bob|cpu=8,gres/gpu:a100=2,mem=64G,node=1|2026-11-03T10:00:00|2026-11-03T14:00:00|COMPLETED|14400\n"),
    )
    .unwrap();
    ingest::runner::ingest_slurm(&store, &[done], "default", &options)
        .await
        .unwrap();
    let after = rows(&store).await;
    assert_eq!(after.iter().filter(|r| r.job_id == "777").count(), 1);
    let row = &as_jobs(&after)[&key];
    assert_eq!(
        (row.state.as_str(), row.end - row.start),
        ("COMPLETED", 14_400)
    );
    assert_eq!(after.len() as u64, count + 1);

    // A good file with a bad one: the run is refused and nothing of either lands.
    let more = dir.path().join("more.txt");
    std::fs::write(
        &more,
        format!("{header}\nbeta|900|new|spot|chem|dan|cpu=2,mem=4G,node=1|2026-11-04T00:00:00|2026-11-04T01:00:00|COMPLETED|3600\n"),
    )
    .unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        format!("{header}\nbeta|901|x|spot|chem|dan|cpu=2,mem=4G|2026-11-04T00:00:00|2026-11-04T01:00:00|COMPLETED|3600\nbeta|902|x|spot|chem|dan|cpu=two|2026-11-04T00:00:00|2026-11-04T01:00:00|COMPLETED|3600\n"),
    )
    .unwrap();
    let err = ingest::runner::ingest_slurm(&store, &[more, bad.clone()], "default", &options)
        .await
        .unwrap_err();
    let IngestError::Invalid { problems, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(
        (
            &problems[0].file,
            problems[0].location,
            problems[0].column.as_deref()
        ),
        (&bad, Location::Line(3), Some("7 (AllocTRES)"))
    );
    assert!(
        err.to_string()
            .contains("bad.txt: line 3: column 7 (AllocTRES): job 902:"),
        "{err}"
    );
    assert_eq!(rows(&store).await, after, "nothing landed");
}
