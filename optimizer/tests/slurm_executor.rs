//! The Slurm executor against a real single-node Slurm with accounting: testing/slurm/cluster.sh
//! brings it up in a temp dir for this test and stops it at the end, also on failure (the
//! directory is then kept for its logs). The packages come from scripts/setup.sh; without them
//! the test fails. The node is filled by one job so that the jobs submitted after it stay pending.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use optimizer::execute::slurm::{self, SlurmClusterConfig, SlurmExecutor, SlurmExecutorConfig};
use optimizer::execute::{ExecError, Executor, Outcome};
use optimizer::migration::{MigrationRow, Proposal};
use rust_decimal::Decimal;

#[path = "../../testing/slurm/harness.rs"]
mod slurm_harness;
use slurm_harness::{wait_until, Cluster, CLUSTER};

fn row(p: Proposal) -> MigrationRow {
    MigrationRow {
        id: "mig-slurm-test".into(),
        created_at: 0,
        created_by: "test".into(),
        kind: p.kind,
        workload: p.workload,
        team: p.team,
        service: p.service,
        env: p.env,
        from_placement: p.from_placement,
        to_placement: p.to_placement,
        spec_before: p.spec_before,
        spec_after: p.spec_after,
        saving_month: Default::default(),
        currency: p.currency,
        evidence: p.evidence,
        status: "approved".into(),
        updated_at: 0,
        updated_by: String::new(),
        events: 0,
    }
}

fn migration(from: &str, account: &str, to: &str) -> MigrationRow {
    row(slurm::proposal(
        CLUSTER,
        from,
        account,
        to,
        true,
        Decimal::new(4200, 2),
        "USD",
        serde_json::json!({}),
        "team-a",
        "training",
    ))
}

fn id_set(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|j| match j {
            serde_json::Value::String(s) => s.clone(),
            j => j["job_id"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_the_pending_jobs_of_an_account_to_spot_and_back() {
    let started = Instant::now();
    let c = Cluster::start();
    let filler = c.sbatch("filler", &["-p", "debug", "-A", "team-b", "-c", "2"]);
    wait_until("the filler job runs", Duration::from_secs(20), || {
        c.job(&filler)["JobState"] == "RUNNING"
    });
    let a1 = c.sbatch(
        "a1",
        &[
            "-p",
            "debug",
            "-A",
            "team-a",
            "--gres=gpu:1",
            "--no-requeue",
        ],
    );
    let a2 = c.sbatch("a2", &["-p", "debug", "-A", "team-a", "--no-requeue"]);
    let a3 = c.sbatch("a3", &["-p", "debug", "-A", "team-a", "--gres=gpu:1"]);
    let b1 = c.sbatch("b1", &["-p", "debug", "-A", "team-b"]);
    let s1 = c.sbatch("s1", &["-p", "spot", "-A", "team-a"]);
    let team_a = set(&[&a1, &a2, &a3]);

    let executor = SlurmExecutor::new(SlurmExecutorConfig {
        clusters: vec![SlurmClusterConfig {
            name: CLUSTER.into(),
            slurm_conf: Some(c.conf()),
            bin_dir: None,
        }],
        ..SlurmExecutorConfig::default()
    })
    .unwrap();
    let m = migration("debug", "team-a", "spot");
    assert_eq!(m.workload, format!("slurm://{CLUSTER}/debug/team-a"));
    let before = |c: &Cluster| {
        [&a1, &a2, &a3, &b1, &s1]
            .map(|id| c.partition_and_requeue(id))
            .to_vec()
    };
    let original = before(&c);
    assert_eq!(
        original,
        [
            ("debug", "0"),
            ("debug", "0"),
            ("debug", "1"),
            ("debug", "1"),
            ("spot", "1")
        ]
        .map(|(p, r)| (p.to_string(), r.to_string()))
    );

    // Preview: exactly the pending team-a jobs of debug, and the commands; nothing changes.
    let preview = executor.preview(&m).await.unwrap();
    assert!(preview.ok);
    assert_eq!(id_set(&preview.spec_before["jobs"]), team_a);
    for job in preview.spec_before["jobs"].as_array().unwrap() {
        let id = job["job_id"].as_str().unwrap();
        assert_eq!(job["partition"], "debug");
        assert_eq!(job["account"], "team-a");
        assert_eq!(job["user"], "root");
        assert_eq!(job["requeue"], id == a3, "job {id}");
    }
    let mut requests = preview.requests.clone();
    requests.sort();
    let mut expected: Vec<String> = team_a
        .iter()
        .map(|id| format!("scontrol update JobId={id} Partition=spot Requeue=1"))
        .collect();
    expected.sort();
    assert_eq!(requests, expected);
    assert_eq!(before(&c), original, "the preview changed a job");
    let everyone = executor
        .preview(&migration("debug", "*", "spot"))
        .await
        .unwrap();
    assert_eq!(
        id_set(&everyone.spec_before["jobs"]),
        set(&[&a1, &a2, &a3, &b1])
    );

    // Apply: the team-a jobs move to spot with Requeue=1; the others stay.
    let applied = executor.apply(&m).await.unwrap();
    assert!(applied.ok, "{}", applied.message);
    assert_eq!(id_set(&applied.spec_after["jobs"]), team_a);
    assert_eq!(id_set(&applied.spec_before["jobs"]), team_a);
    assert_eq!(applied.requests.len(), 3);
    for id in &team_a {
        assert_eq!(c.partition_and_requeue(id), ("spot".into(), "1".into()));
    }
    assert_eq!(before(&c)[3..], original[3..]);
    assert_eq!(c.job(&filler)["Partition"], "debug");
    let ids = [a1.as_str(), a2.as_str(), a3.as_str(), b1.as_str()];
    let in_accounting = |c: &Cluster, partition: &str| {
        let rows = c.sacct(&ids);
        team_a
            .iter()
            .all(|id| rows.get(id) == Some(&(partition.to_string(), "team-a".to_string())))
            && rows.get(&b1) == Some(&("debug".to_string(), "team-b".to_string()))
    };
    wait_until("sacct shows the moves", Duration::from_secs(15), || {
        in_accounting(&c, "spot")
    });

    // Rollback: back to debug, with the requeue setting each job had.
    let rolled = executor.rollback(&m, &applied).await.unwrap();
    assert!(rolled.ok, "{}", rolled.message);
    assert_eq!(id_set(&rolled.spec_after["jobs"]), team_a);
    assert_eq!(before(&c), original);
    wait_until("sacct shows the jobs back", Duration::from_secs(15), || {
        in_accounting(&c, "debug")
    });

    // Nothing pending, or nothing valid: refused or invalid, and nothing sent.
    for (what, m) in [
        (
            "no team-b job on spot",
            migration("spot", "team-b", "debug"),
        ),
        ("no such account", migration("debug", "team-z", "spot")),
    ] {
        match executor.preview(&m).await {
            Err(ExecError::Refused { reason, .. }) => assert!(reason.contains("nothing to move")),
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            matches!(executor.apply(&m).await, Err(ExecError::Refused { .. })),
            "{what}"
        );
    }
    let mut unknown = m.clone();
    unknown.workload = "slurm://elsewhere/debug/team-a".into();
    let nowhere = migration("debug", "team-a", "nowhere");
    for m in [&unknown, &nowhere] {
        let got = executor.apply(m).await;
        assert!(matches!(got, Err(ExecError::Invalid { .. })), "{got:?}");
    }
    c.run("scontrol", &["update", "PartitionName=spot", "State=DOWN"]);
    match executor.preview(&m).await {
        Err(ExecError::Refused { reason, .. }) => assert!(reason.contains("DOWN"), "{reason}"),
        other => panic!("spot is down: {other:?}"),
    }
    c.run("scontrol", &["update", "PartitionName=spot", "State=UP"]);
    assert_eq!(before(&c), original);

    // A job that runs on spot cannot move back: reported, and the rollback is not ok.
    let applied = executor.apply(&m).await.unwrap();
    assert_eq!(id_set(&applied.spec_after["jobs"]), team_a);
    c.run("scancel", &[&filler]);
    // Two jobs of one CPU fill the node again; then no other job starts.
    wait_until("the node is full again", Duration::from_secs(20), || {
        c.run("squeue", &["-h", "-t", "R", "-o", "%i"])
            .lines()
            .count()
            == 2
    });
    assert_eq!(c.job(&a1)["JobState"], "RUNNING");
    let running: BTreeSet<String> = team_a
        .iter()
        .filter(|id| c.job(id)["JobState"] != "PENDING")
        .cloned()
        .collect();
    let rolled: Outcome = executor.rollback(&m, &applied).await.unwrap();
    assert!(!rolled.ok, "{}", rolled.message);
    assert_eq!(id_set(&rolled.spec_after["not_movable"]), running);
    assert!(rolled.message.contains("not movable"), "{}", rolled.message);
    for id in &team_a {
        let (partition, _) = c.partition_and_requeue(id);
        let expected = if running.contains(id) {
            "spot"
        } else {
            "debug"
        };
        assert_eq!(partition, expected, "job {id}");
    }
    assert_eq!(
        id_set(&rolled.spec_after["jobs"]),
        team_a.difference(&running).cloned().collect()
    );
    assert_eq!(running, set(&[&a1, &a2]), "the first two jobs start first");

    // A job that starts between the listing and its move is skipped, not an error. The race is
    // forced through `bin_dir`: its scontrol frees a slot and waits until a3 runs, then runs
    // the real scontrol.
    let bin = c.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} not on PATH"))
    };
    let wrapper = format!(
        "#!/bin/sh\nif [ \"$1\" = update ]; then\n  scancel {a1}\n  i=0\n  \
         while [ $i -lt 100 ] && [ \"$(squeue -h -j {a3} -o %T)\" != RUNNING ]; do \
         sleep 0.2; i=$((i+1)); done\nfi\nexec {} \"$@\"\n",
        real("scontrol").display()
    );
    std::fs::write(bin.join("scontrol"), wrapper).unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(bin.join("scontrol"), executable).unwrap();
    std::os::unix::fs::symlink(real("squeue"), bin.join("squeue")).unwrap();
    let racing = SlurmExecutor::new(SlurmExecutorConfig {
        clusters: vec![SlurmClusterConfig {
            name: CLUSTER.into(),
            slurm_conf: Some(c.conf()),
            bin_dir: Some(bin),
        }],
        ..SlurmExecutorConfig::default()
    })
    .unwrap();
    match racing.apply(&m).await {
        Err(ExecError::Refused { reason, .. }) => {
            assert!(reason.contains(&format!("{a3} (RUNNING)")), "{reason}")
        }
        other => panic!("a3 started before its move: {other:?}"),
    }
    assert_eq!(c.job(&a3)["Partition"], "debug");
    drop(c);
    eprintln!("whole test: {:.1?}", started.elapsed());
}
