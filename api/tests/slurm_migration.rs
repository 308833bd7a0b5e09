//! A Slurm migration through the binary against a real single-node Slurm
//! (testing/slurm/cluster.sh): `migrations propose-slurm`, `approve`, `execute` (a dry run, then
//! with the policy's dry_run off) moves the pending jobs of one account to the spot partition,
//! seen in `scontrol`; `rollback` and the next run move them back.
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{costmill, Db};

#[path = "../../testing/slurm/harness.rs"]
mod slurm_harness;
use slurm_harness::{wait_until, Cluster, CLUSTER};

#[test]
fn pending_jobs_of_an_account_move_to_spot_and_back_through_the_cli() {
    let c = Cluster::start();
    let filler = c.sbatch("filler", &["-p", "debug", "-A", "team-b", "-c", "2"]);
    wait_until("the filler job runs", Duration::from_secs(20), || {
        c.job(&filler)["JobState"] == "RUNNING"
    });
    let a1 = c.sbatch("a1", &["-p", "debug", "-A", "team-a", "--gres=gpu:1"]);
    let a2 = c.sbatch("a2", &["-p", "debug", "-A", "team-a", "--no-requeue"]);
    let b1 = c.sbatch("b1", &["-p", "debug", "-A", "team-b"]);
    let partition = |id: &str| c.job(id)["Partition"].clone();

    let db = Db::new("slurm_migration");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("costmill.toml");
    let write_config = |dry_run: bool| {
        std::fs::write(
            &config,
            format!(
                "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n\
                 [migrations.policy]\ndry_run = {dry_run}\n\n\
                 [migrations.slurm]\nclusters = [{{ name = \"{CLUSTER}\", slurm_conf = \"{}\" }}]\n",
                db.url,
                db.database,
                c.conf().display()
            ),
        )
        .unwrap()
    };
    write_config(true);
    costmill(dir.path(), &config, &["db", "migrate"]);
    let out = costmill(
        dir.path(),
        &config,
        &[
            "migrations",
            "propose-slurm",
            "--cluster",
            CLUSTER,
            "--partition",
            "debug",
            "--account",
            "team-a",
            "--team",
            "research",
        ],
    );
    let id = common::proposed_id(&out);
    costmill(dir.path(), &config, &["migrations", "approve", &id]);
    let execute = || -> Vec<Value> {
        serde_json::from_str(&costmill(
            dir.path(),
            &config,
            &["migrations", "execute", "--format", "json"],
        ))
        .unwrap()
    };

    // Dry run (the policy says so): the commands it would run, and no job moved.
    let items = execute();
    assert_eq!(items[0]["result"], "would apply", "{items:?}");
    let mut would: Vec<String> = items[0]["outcome"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    would.sort();
    let mut expected = vec![
        format!("scontrol update JobId={a1} Partition=spot Requeue=1"),
        format!("scontrol update JobId={a2} Partition=spot Requeue=1"),
    ];
    expected.sort();
    assert_eq!(would, expected);
    assert_eq!([partition(&a1), partition(&a2)], ["debug", "debug"]);

    // The policy allows it: team-a's pending jobs move, team-b's stays.
    write_config(false);
    let items = execute();
    assert_eq!(items[0]["result"], "applied", "{items:?}");
    assert_eq!([partition(&a1), partition(&a2)], ["spot", "spot"]);
    assert_eq!(
        c.job(&a2)["Requeue"],
        "1",
        "a preempted spot job is requeued"
    );
    assert_eq!(partition(&b1), "debug");
    let shown: Value =
        serde_json::from_str(&costmill(dir.path(), &config, &["migrations", "show", &id])).unwrap();
    assert_eq!(shown["status"], "applied");

    // A person asks for the move to be undone; the next run moves the jobs back.
    costmill(dir.path(), &config, &["migrations", "rollback", &id]);
    let items = execute();
    assert_eq!(items[0]["step"], "rollback", "{items:?}");
    assert_eq!(items[0]["result"], "rolled back", "{items:?}");
    assert_eq!([partition(&a1), partition(&a2)], ["debug", "debug"]);
    assert_eq!(c.job(&a2)["Requeue"], "0", "its own setting restored");
}
