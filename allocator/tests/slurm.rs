//! Slurm jobs by TRES-hours at partition rates, on hand-computed cases.
use allocator::kubernetes::KubernetesConfig;
use allocator::slurm::{expand, JobDay, PartitionConfig, SlurmConfig};
use allocator::{allocate, AllocationConfig, CostGroup, OwnerValue, Rule};
use queries::Dec18;

const ONE: i128 = 1_000_000_000_000_000_000;

fn job(partition: &str, id: &str, account: &str, cpus: i128, hours: i128) -> JobDay {
    JobDay {
        day: 20_000,
        cluster: "hpc".into(),
        partition: partition.into(),
        account: account.into(),
        user: "alice".into(),
        job_id: id.into(),
        cpu_seconds: Dec18(cpus * hours * 3600 * ONE),
        memory_mb_seconds: Dec18(0),
        gpu_seconds: Dec18(0),
    }
}

fn config() -> SlurmConfig {
    let rated = PartitionConfig {
        cpus: Some("4".into()),
        cpu_hourly: Some("1".into()),
        ..PartitionConfig::default()
    };
    let derived = PartitionConfig {
        nodes: Some("arn:aws:ec2:*:instance/i-0slurm*".into()),
        cpus: Some("2".into()),
        ..PartitionConfig::default()
    };
    SlurmConfig {
        partitions: [("gpu".to_string(), rated), ("cpu".to_string(), derived)].into(),
    }
}

#[test]
fn jobs_cost_tres_hours_at_partition_rates_and_unused_capacity_is_idle() {
    assert!(config().problems().is_empty(), "{:?}", config().problems());
    let node_bill = CostGroup {
        day: 20_000,
        provider: "AWS".into(),
        service_name: "Amazon Elastic Compute Cloud".into(),
        resource_id: "arn:aws:ec2:us-east-1:1:instance/i-0slurm01".into(),
        charge_category: "Usage".into(),
        billed: Dec18(48 * ONE),
        effective: Dec18(48 * ONE),
        rows: 24,
        ..CostGroup::default()
    };
    let jobs = vec![
        job("gpu", "101", "team-a", 2, 6),
        job("cpu", "102", "team-b", 1, 12),
        job("debug", "103", "team-c", 1, 1),
    ];
    let out = expand(
        &config(),
        &KubernetesConfig::default(),
        vec![node_bill],
        &jobs,
    );
    assert_eq!(
        out.unpriced_job_days, 1,
        "the debug partition is not configured"
    );
    let cost = |id: &str| {
        out.groups
            .iter()
            .find(|g| g.resource_id.ends_with(id))
            .unwrap()
            .effective
            .to_string()
    };
    // gpu: configured 1/cpu-hour; 2 cpus × 6 h = 12. Capacity 4 × 24 = 96, so 84 idle.
    assert_eq!(cost("/gpu/101"), "12");
    // cpu: the node's $48 a day over 2 cpus × 24 h; 1 cpu × 12 h = a quarter.
    assert_eq!(cost("/cpu/102"), "12");
    let idle: Vec<(String, String)> = out
        .idle
        .iter()
        .map(|a| (a.input_ref.clone(), a.effective.to_string()))
        .collect();
    assert_eq!(
        idle,
        [
            ("slurm://hpc/cpu".to_string(), "36".to_string()),
            ("slurm://hpc/gpu".to_string(), "84".to_string())
        ]
    );
    assert!(
        out.groups
            .iter()
            .all(|g| !g.resource_id.contains("i-0slurm")),
        "node rows are replaced by jobs"
    );

    // Accounts map to teams through an ordinary rule on the slurm_account tag.
    let rules = AllocationConfig {
        rules: vec![Rule {
            name: "slurm".into(),
            when: allocator::Matcher {
                tags: [("slurm_account".to_string(), "*".to_string())].into(),
                ..Default::default()
            },
            service: OwnerValue::FromTags {
                tag: vec!["slurm_partition".into()],
                default: None,
            },
            team: Some(OwnerValue::FromTags {
                tag: vec!["slurm_account".into()],
                default: None,
            }),
            env: None,
        }],
        ..AllocationConfig::default()
    };
    let allocations = allocate(&rules, &out.groups, &[]);
    let teams: Vec<(&str, &str)> = allocations
        .iter()
        .map(|a| (a.service.as_str(), a.team.as_str()))
        .collect();
    assert_eq!(teams, [("cpu", "team-b"), ("gpu", "team-a")]);
}

#[test]
fn configured_rates_are_in_the_partitions_currency_and_node_cost_in_each_billed_one() {
    let mut config = config();
    config.partitions.get_mut("gpu").unwrap().currency = "EUR".into();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let node_bill = |currency: &str, dollars: i128| CostGroup {
        day: 20_000,
        provider: "AWS".into(),
        service_name: "Amazon Elastic Compute Cloud".into(),
        resource_id: "arn:aws:ec2:us-east-1:1:instance/i-0slurm01".into(),
        charge_category: "Usage".into(),
        currency: currency.into(),
        billed: Dec18(dollars * ONE),
        effective: Dec18(dollars * ONE),
        rows: 24,
        ..CostGroup::default()
    };
    let jobs = vec![
        job("gpu", "101", "team-a", 2, 6),
        job("cpu", "102", "team-b", 1, 12),
    ];
    let out = expand(
        &config,
        &KubernetesConfig::default(),
        vec![node_bill("USD", 48), node_bill("JPY", 4800)],
        &jobs,
    );
    let costs: Vec<(String, String, String)> = out
        .groups
        .iter()
        .map(|g| {
            (
                g.resource_id.clone(),
                g.currency.clone(),
                g.effective.to_string(),
            )
        })
        .collect();
    assert_eq!(
        costs,
        [
            (
                "slurm://hpc/cpu/102".to_string(),
                "JPY".to_string(),
                "1200".to_string()
            ),
            (
                "slurm://hpc/cpu/102".to_string(),
                "USD".to_string(),
                "12".to_string()
            ),
            (
                "slurm://hpc/gpu/101".to_string(),
                "EUR".to_string(),
                "12".to_string()
            ),
        ]
    );
    let idle: Vec<(String, String)> = out
        .idle
        .iter()
        .map(|a| (a.currency.clone(), a.effective.to_string()))
        .collect();
    assert_eq!(
        idle,
        [
            ("JPY".to_string(), "3600".to_string()),
            ("USD".to_string(), "36".to_string()),
            ("EUR".to_string(), "84".to_string())
        ]
    );
}

#[test]
fn partition_settings_are_checked() {
    let both = PartitionConfig {
        nodes: Some("x*".into()),
        cpus: Some("2".into()),
        cpu_hourly: Some("1".into()),
        ..Default::default()
    };
    let neither = PartitionConfig::default();
    let bad = PartitionConfig {
        cpu_hourly: Some("cheap".into()),
        ..Default::default()
    };
    let config = SlurmConfig {
        partitions: [
            ("a".to_string(), both),
            ("b".to_string(), neither),
            ("c".to_string(), bad),
        ]
        .into(),
    };
    let keys: Vec<String> = config.problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "allocation.slurm.partitions.a",
            "allocation.slurm.partitions.b",
            "allocation.slurm.partitions.c.cpu_hourly"
        ]
    );
}
