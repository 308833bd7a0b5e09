//! Slurm: a job costs its TRES-hours (cpu, memory, gres/gpu) at its partition's rates. Rates are
//! configured, or derived each day from the billing rows of the partition's nodes split over the
//! partition's capacity; capacity no job used is idle. Jobs carry their account, user, partition
//! and cluster as tags (`slurm_account`, …), so ownership rules map accounts to teams. Node cost
//! billed in several currencies is split per currency; configured rates are in the partition's
//! `currency`.
use std::collections::BTreeMap;

use clickhouse::Row;
use ethnum::I256;
use queries::Dec18;
use serde::{Deserialize, Serialize};

use crate::capacity::{self, PerResource};
use crate::engine::{Allocation, CostGroup};
use crate::kubernetes::{currency_problem, KubernetesConfig, DEFAULT_CURRENCY, PRICE_SOURCE};
use crate::matcher::glob;
use crate::split::units;

/// A job's TRES-seconds on one day (sql/slurm_job_days.sql).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct JobDay {
    pub day: u16,
    pub cluster: String,
    pub partition: String,
    pub account: String,
    pub user: String,
    pub job_id: String,
    pub cpu_seconds: Dec18,
    pub memory_mb_seconds: Dec18,
    pub gpu_seconds: Dec18,
}

/// `[allocation.slurm.partitions.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartitionConfig {
    /// ResourceId pattern of the partition's nodes; their billing rows are its daily cost.
    pub nodes: Option<String>,
    /// Capacity of the partition: splits node cost into rates, and bounds idle.
    pub cpus: Option<String>,
    pub memory_gb: Option<String>,
    pub gpus: Option<String>,
    /// Configured rates per hour, used when `nodes` is not set.
    pub cpu_hourly: Option<String>,
    pub memory_gb_hourly: Option<String>,
    pub gpu_hourly: Option<String>,
    /// Currency of the configured rates (ISO 4217 code). Default: `USD`.
    pub currency: String,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            nodes: None,
            cpus: None,
            memory_gb: None,
            gpus: None,
            cpu_hourly: None,
            memory_gb_hourly: None,
            gpu_hourly: None,
            currency: DEFAULT_CURRENCY.into(),
        }
    }
}

/// `[allocation.slurm]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmConfig {
    pub partitions: BTreeMap<String, PartitionConfig>,
}

const ONE: i128 = 1_000_000_000_000_000_000;
const DAY_SECONDS: i128 = 86_400;

fn opt_units(value: &Option<String>) -> i128 {
    value.as_deref().and_then(units).unwrap_or(0)
}

impl SlurmConfig {
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (name, p) in &self.partitions {
            let key = format!("allocation.slurm.partitions.{name}");
            let fields = [
                ("cpus", &p.cpus),
                ("memory_gb", &p.memory_gb),
                ("gpus", &p.gpus),
                ("cpu_hourly", &p.cpu_hourly),
                ("memory_gb_hourly", &p.memory_gb_hourly),
                ("gpu_hourly", &p.gpu_hourly),
            ];
            for (field, value) in fields {
                if let Some(v) = value {
                    if units(v).is_none() {
                        problems.push((
                            format!("{key}.{field}"),
                            format!("`{v}` is not a non-negative decimal"),
                        ));
                    }
                }
            }
            if let Some(problem) = currency_problem(&p.currency) {
                problems.push((format!("{key}.currency"), problem));
            }
            let has_rates =
                p.cpu_hourly.is_some() || p.memory_gb_hourly.is_some() || p.gpu_hourly.is_some();
            let has_capacity = p.cpus.is_some() || p.memory_gb.is_some() || p.gpus.is_some();
            match (&p.nodes, has_rates) {
                (Some(_), true) => problems.push((key, "give either `nodes` (rates derived from their cost) or rates, not both".into())),
                (Some(_), false) if !has_capacity => {
                    problems.push((key, "`nodes` needs the partition's capacity (cpus, memory_gb, gpus) to derive rates".into()))
                }
                (None, false) => problems.push((key, "give `nodes` with capacity, or cpu_hourly/memory_gb_hourly/gpu_hourly".into())),
                _ => {}
            }
        }
        problems
    }
}

/// Billing rows with the partitions' node costs taken out, job rows in, plus idle.
#[derive(Debug, Default)]
pub struct Expanded {
    pub groups: Vec<CostGroup>,
    pub idle: Vec<Allocation>,
    /// Job-days in partitions without configuration: they get no cost.
    pub unpriced_job_days: usize,
}

pub fn expand(
    config: &SlurmConfig,
    relative: &KubernetesConfig,
    groups: Vec<CostGroup>,
    jobs: &[JobDay],
) -> Expanded {
    let mut out = Expanded::default();
    // Partition cost per day and currency from its nodes' billing rows, with the first row.
    type NodeCost = BTreeMap<String, (i128, i128, CostGroup)>;
    let mut node_cost: BTreeMap<(&str, u16), NodeCost> = BTreeMap::new();
    let partition_of = |g: &CostGroup| {
        config.partitions.iter().find(|(_, p)| {
            p.nodes
                .as_deref()
                .is_some_and(|pattern| !g.resource_id.is_empty() && glob(pattern, &g.resource_id))
        })
    };
    // Only the partitions' node rows are taken out; the others stay where they are.
    let mut groups = groups;
    let node_rows: Vec<CostGroup> = if config.partitions.values().any(|p| p.nodes.is_some()) {
        groups
            .extract_if(.., |g| partition_of(g).is_some())
            .collect()
    } else {
        Vec::new()
    };
    out.groups = groups;
    for g in node_rows {
        match partition_of(&g) {
            Some((name, _)) => {
                let by_currency = node_cost.entry((name.as_str(), g.day)).or_default();
                match by_currency.get_mut(&g.currency) {
                    Some(slot) => {
                        slot.0 += g.billed.0;
                        slot.1 += g.effective.0;
                    }
                    None => {
                        by_currency.insert(g.currency.clone(), (g.billed.0, g.effective.0, g));
                    }
                }
            }
            None => out.groups.push(g),
        }
    }
    let mut by_partition_day: BTreeMap<(&str, u16), Vec<&JobDay>> = BTreeMap::new();
    for j in jobs {
        by_partition_day
            .entry((j.partition.as_str(), j.day))
            .or_default()
            .push(j);
    }
    let mut days: std::collections::BTreeSet<(&str, u16)> =
        by_partition_day.keys().copied().collect();
    days.extend(node_cost.keys().copied());

    for (partition, day) in days {
        let jobs = by_partition_day
            .get(&(partition, day))
            .cloned()
            .unwrap_or_default();
        let Some(p) = config.partitions.get(partition) else {
            out.unpriced_job_days += jobs.len();
            continue;
        };
        let capacity = [
            opt_units(&p.cpus),
            opt_units(&p.memory_gb),
            opt_units(&p.gpus),
        ]
        .map(|c| c * DAY_SECONDS);
        let used = |j: &JobDay| {
            [
                j.cpu_seconds.0,
                j.memory_mb_seconds.0 / 1024,
                j.gpu_seconds.0,
            ]
        };
        let cluster = jobs.first().map(|j| j.cluster.clone()).unwrap_or_default();
        // One (source, cost per resource) per currency.
        let priced: Vec<(CostGroup, [(i128, i128); 3])> = if p.nodes.is_some() {
            let Some(by_currency) = node_cost.remove(&(partition, day)) else {
                out.unpriced_job_days += jobs.len();
                continue;
            };
            by_currency
                .into_values()
                .map(|(billed, effective, source)| {
                    let costs = capacity::by_resource(
                        (billed, effective),
                        capacity,
                        capacity::relative_prices(relative),
                    );
                    (source, costs)
                })
                .collect()
        } else {
            // Configured rates: cost of the whole capacity (or of what the jobs used, if larger).
            let rates = [
                opt_units(&p.cpu_hourly),
                opt_units(&p.memory_gb_hourly),
                opt_units(&p.gpu_hourly),
            ];
            let costs = [0, 1, 2].map(|r| {
                let used_total: i128 = jobs.iter().map(|j| used(j)[r]).sum();
                let amount = (I256::from(capacity[r].max(used_total)) * I256::from(rates[r])
                    / I256::from(3600 * ONE))
                .as_i128();
                (amount, amount)
            });
            let source = CostGroup {
                day,
                provider: PRICE_SOURCE.into(),
                service_name: format!("slurm partition {partition}"),
                service_category: "Compute".into(),
                charge_category: "Usage".into(),
                currency: p.currency.clone(),
                ..CostGroup::default()
            };
            vec![(source, costs)]
        };
        let usage: Vec<PerResource> = jobs.iter().map(|j| used(j)).collect();
        for (source, resource_costs) in priced {
            let (job_cost, (idle_billed, idle_effective)) =
                capacity::to_consumers(resource_costs, capacity, &usage);
            for (j, (billed, effective)) in jobs.iter().zip(job_cost) {
                out.groups.push(CostGroup {
                    day,
                    provider: source.provider.clone(),
                    service_name: source.service_name.clone(),
                    service_category: source.service_category.clone(),
                    sub_account_id: source.sub_account_id.clone(),
                    sub_account_name: source.sub_account_name.clone(),
                    resource_id: format!("slurm://{}/{}/{}", j.cluster, j.partition, j.job_id),
                    charge_category: "Usage".into(),
                    currency: source.currency.clone(),
                    tag_keys: vec![
                        "slurm_account".into(),
                        "slurm_user".into(),
                        "slurm_partition".into(),
                        "slurm_cluster".into(),
                    ],
                    tag_values: vec![
                        j.account.clone(),
                        j.user.clone(),
                        j.partition.clone(),
                        j.cluster.clone(),
                    ],
                    billed: Dec18(billed),
                    effective: Dec18(effective),
                    rows: 0,
                    k8s_namespace: String::new(),
                    charge_period: String::new(),
                });
            }
            if idle_billed != 0 || idle_effective != 0 {
                out.idle.push(Allocation {
                    day,
                    service: "idle".into(),
                    team: "idle".into(),
                    env: String::new(),
                    currency: source.currency.clone(),
                    kind: "idle".into(),
                    pool: String::new(),
                    method: "slurm idle capacity".into(),
                    cost_source: format!("{} / {}", source.provider, source.service_name),
                    input_ref: format!("slurm://{cluster}/{partition}"),
                    share: Dec18(ONE),
                    billed: Dec18(idle_billed),
                    effective: Dec18(idle_effective),
                    input_rows: source.rows,
                });
            }
        }
    }
    out
}
