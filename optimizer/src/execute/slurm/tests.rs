use rust_decimal::Decimal;
use serde_json::json;

use super::cli::parse_squeue;
use super::*;

#[test]
fn workload_ids_parse_and_reject_what_could_reach_a_command_line() {
    let w = parse_workload("m", "slurm://hpc/debug/team-a").unwrap();
    assert_eq!(
        w,
        Workload {
            cluster: "hpc".into(),
            partition: "debug".into(),
            account: Some("team-a".into())
        }
    );
    assert_eq!(
        w,
        parse_workload("m", &workload_id("hpc", "debug", "team-a")).unwrap()
    );
    assert_eq!(
        parse_workload("m", "slurm://hpc/debug/*").unwrap().account,
        None
    );
    for bad in [
        "k8s://hpc/debug/a",
        "slurm://hpc/debug",
        "slurm://hpc/debug/a/b",
        "slurm://hpc/-p/a",
        "slurm://hpc/debug/a b",
        "slurm://hpc/debug/a;rm",
        "slurm:///debug/a",
    ] {
        assert!(
            matches!(parse_workload("m", bad), Err(ExecError::Invalid { .. })),
            "{bad}"
        );
    }
    assert!(valid_job_id("12") && valid_job_id("12_3"));
    for bad in ["", "12_", "_3", "1 2", "12_[1-3]", "-1", "1,2"] {
        assert!(!valid_job_id(bad), "{bad}");
    }
}

#[test]
fn squeue_records_parse_and_odd_lines_are_errors() {
    let jobs =
        parse_squeue("2|debug|team-a|root|1|PENDING|\n5_3|debug,spot|b|u|0|RUNNING|\n").unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].job_id, "5_3");
    assert_eq!(jobs[1].partition, "debug,spot");
    assert!(jobs[0].requeue && !jobs[1].requeue);
    assert_eq!(jobs[1].state, "RUNNING");
    assert!(parse_squeue("2|debug|team-a\n").is_err());
    assert!(parse_squeue("2 x|debug|a|u|1|PENDING|\n").is_err());
}

#[test]
fn a_proposal_carries_the_workload_and_the_spec_the_executor_reads() {
    let p = proposal(
        "hpc",
        "debug",
        "team-a",
        "spot",
        true,
        Decimal::new(1250, 2),
        "USD",
        json!({"why": "test"}),
        "team-a",
        "training",
    );
    assert_eq!(p.kind, "slurm");
    assert_eq!(p.workload, "slurm://hpc/debug/team-a");
    let spec: SlurmSpec = serde_json::from_str(&p.spec_after).unwrap();
    assert_eq!(
        spec,
        SlurmSpec {
            partition: "spot".into(),
            requeue: true
        }
    );
    assert!(p.to_placement.contains("spot") && p.from_placement.contains("debug"));
}

#[test]
fn the_config_has_defaults_and_is_checked() {
    let config: SlurmExecutorConfig =
        serde_json::from_str(r#"{"clusters": [{"name": "hpc"}]}"#).unwrap();
    assert_eq!(config.command_timeout_secs, 30);
    assert_eq!(config.clusters[0].slurm_conf, None);
    assert!(SlurmExecutor::new(config.clone()).is_ok());
    assert!(serde_json::from_str::<SlurmExecutorConfig>(r#"{"cluster": []}"#).is_err());
    let mut twice = config.clone();
    twice.clusters.push(config.clusters[0].clone());
    let mut bad_name = config.clone();
    bad_name.clusters[0].name = "a b".into();
    let no_time = SlurmExecutorConfig {
        command_timeout_secs: 0,
        ..config
    };
    for bad in [twice, bad_name, no_time] {
        assert!(matches!(
            SlurmExecutor::new(bad),
            Err(ExecError::Invalid { .. })
        ));
    }
}
