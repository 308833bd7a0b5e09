//! Kubernetes: a node's cost (its billing rows, matched by instance id, or a configured hourly
//! price) is split into CPU, RAM and GPU by the node's capacity weighted with relative unit
//! prices (OpenCost's method when only the node total is known); each workload gets
//! max(request, usage) × unit price × time, GPUs by request; what no workload used is idle,
//! shown per cluster and node, or shared to the node's workloads by their cost. A node billed in
//! several currencies has each currency's cost split on its own.
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use clickhouse::Row;
use ethnum::I256;
use queries::Dec18;
use serde::{Deserialize, Serialize};

use crate::capacity::{self, PerResource};
use crate::engine::{Allocation, CostGroup};
use crate::split::{split_exact, units};

/// Node capacity of one day in resource-seconds (sql/k8s_node_days.sql).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct NodeDay {
    pub day: u16,
    pub cluster: String,
    pub node: String,
    pub provider_id: String,
    pub instance_type: String,
    pub cpu_core_seconds: Dec18,
    pub memory_byte_seconds: Dec18,
    pub gpu_seconds: Dec18,
    pub seconds: u64,
}

/// A workload's use of one node on one day (sql/k8s_pod_days.sql).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct PodDay {
    pub day: u16,
    pub cluster: String,
    pub node: String,
    pub namespace: String,
    pub workload: String,
    pub label_keys: Vec<String>,
    pub label_values: Vec<String>,
    pub cpu_core_seconds: Dec18,
    pub memory_byte_seconds: Dec18,
    pub gpu_seconds: Dec18,
}

/// `[allocation.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Hourly price per instance type, for nodes without billing rows. Default: none.
    pub instance_prices: BTreeMap<String, String>,
    /// Relative unit prices that split a node's cost into CPU, RAM and GPU.
    /// Defaults: OpenCost's 0.031611 per core-hour, 0.004237 per GiB-hour, 0.95 per GPU-hour.
    pub cpu_core_hourly: String,
    pub ram_gib_hourly: String,
    pub gpu_hourly: String,
    /// Share each node's idle cost among its workloads by their cost. Default: false (idle shown).
    pub share_idle: bool,
    /// Currency of `instance_prices` (ISO 4217 code). Default: `USD`.
    pub currency: String,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            instance_prices: BTreeMap::new(),
            cpu_core_hourly: "0.031611".into(),
            ram_gib_hourly: "0.004237".into(),
            gpu_hourly: "0.95".into(),
            share_idle: false,
            currency: DEFAULT_CURRENCY.into(),
        }
    }
}

/// The currency of configured prices when none is set.
pub const DEFAULT_CURRENCY: &str = "USD";

/// A problem with a configured currency code, if any.
pub fn currency_problem(code: &str) -> Option<String> {
    (code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()))
        .then(|| format!("`{code}` is not a currency code like USD or EUR"))
}

impl KubernetesConfig {
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let key = "allocation.kubernetes";
        for (field, value) in [
            ("cpu_core_hourly", &self.cpu_core_hourly),
            ("ram_gib_hourly", &self.ram_gib_hourly),
            ("gpu_hourly", &self.gpu_hourly),
        ] {
            if units(value).is_none() {
                problems.push((
                    format!("{key}.{field}"),
                    format!("`{value}` is not a non-negative decimal like 0.031611"),
                ));
            }
        }
        if let Some(problem) = currency_problem(&self.currency) {
            problems.push((format!("{key}.currency"), problem));
        }
        for (instance, price) in &self.instance_prices {
            if units(price).is_none() {
                problems.push((
                    format!("{key}.instance_prices.{instance}"),
                    format!("`{price}` is not a non-negative decimal like 0.192"),
                ));
            }
        }
        problems
    }
}

/// Billing rows with the nodes' costs taken out and replaced by workload rows, plus idle.
#[derive(Debug, Default)]
pub struct Expanded {
    pub groups: Vec<CostGroup>,
    pub idle: Vec<Allocation>,
    /// Node-days with neither billing rows nor a configured price: their workloads get no cost.
    pub unpriced_node_days: usize,
}

/// Marks costs from configured prices (not billing rows); the conservation check leaves them out.
pub const PRICE_SOURCE: &str = "price:configured";

/// The instance id in a providerID or a ResourceId: the last `/`-separated segment.
fn instance_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A node's billing rows of one currency: their sum, and the first row (for its dimensions).
struct NodeCost {
    billed: i128,
    effective: i128,
    source: CostGroup,
}

pub fn expand(
    config: &KubernetesConfig,
    groups: Vec<CostGroup>,
    nodes: &[NodeDay],
    pods: &[PodDay],
) -> Expanded {
    let mut by_instance: BTreeMap<(u16, &str), usize> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if !n.provider_id.is_empty() {
            by_instance.insert((n.day, instance_id(&n.provider_id)), i);
        }
    }
    // Per node, per currency.
    let mut costs: Vec<BTreeMap<String, NodeCost>> =
        nodes.iter().map(|_| BTreeMap::new()).collect();
    let mut out = Expanded::default();
    // Only the nodes' billing rows are taken out; the others stay where they are.
    let node_of = |g: &CostGroup| {
        by_instance
            .get(&(g.day, instance_id(&g.resource_id)))
            .filter(|_| !g.resource_id.is_empty())
            .copied()
    };
    let mut groups = groups;
    let node_rows: Vec<CostGroup> = if by_instance.is_empty() {
        Vec::new()
    } else {
        groups.extract_if(.., |g| node_of(g).is_some()).collect()
    };
    out.groups = groups;
    for g in node_rows {
        match node_of(&g) {
            Some(i) => match costs[i].entry(g.currency.clone()) {
                Entry::Occupied(mut slot) => {
                    let slot = slot.get_mut();
                    slot.billed += g.billed.0;
                    slot.effective += g.effective.0;
                }
                Entry::Vacant(slot) => {
                    slot.insert(NodeCost {
                        billed: g.billed.0,
                        effective: g.effective.0,
                        source: g,
                    });
                }
            },
            None => out.groups.push(g),
        }
    }
    let mut pods_by_node: BTreeMap<(u16, &str, &str), Vec<&PodDay>> = BTreeMap::new();
    for p in pods {
        pods_by_node
            .entry((p.day, &p.cluster, &p.node))
            .or_default()
            .push(p);
    }
    let unit = |text: &str| units(text).unwrap_or(0);
    let prices = capacity::relative_prices(config);
    const GIB: i128 = 1 << 30;

    for (node, node_costs) in nodes.iter().zip(costs) {
        let priced: Vec<(i128, i128, CostGroup)> = if !node_costs.is_empty() {
            node_costs
                .into_values()
                .map(|c| (c.billed, c.effective, c.source))
                .collect()
        } else if let Some(price) = config.instance_prices.get(&node.instance_type) {
            let amount =
                (I256::from(unit(price)) * I256::from(node.seconds) / I256::from(3600)).as_i128();
            let source = CostGroup {
                day: node.day,
                provider: PRICE_SOURCE.into(),
                service_name: node.instance_type.clone(),
                service_category: "Compute".into(),
                charge_category: "Usage".into(),
                currency: config.currency.clone(),
                resource_id: node.provider_id.clone(),
                rows: 0,
                ..CostGroup::default()
            };
            vec![(amount, amount, source)]
        } else {
            out.unpriced_node_days += 1;
            continue;
        };
        let workloads = pods_by_node
            .get(&(node.day, node.cluster.as_str(), node.node.as_str()))
            .cloned()
            .unwrap_or_default();
        // Memory in GiB, so the relative price per GiB-hour applies.
        let capacity = [
            node.cpu_core_seconds.0,
            node.memory_byte_seconds.0 / GIB,
            node.gpu_seconds.0,
        ];
        let usage: Vec<PerResource> = workloads
            .iter()
            .map(|p| {
                [
                    p.cpu_core_seconds.0,
                    p.memory_byte_seconds.0 / GIB,
                    p.gpu_seconds.0,
                ]
            })
            .collect();
        for (billed, effective, source) in priced {
            let parts = capacity::by_resource((billed, effective), capacity, prices);
            let (pod_costs, (idle_billed, idle_effective)) =
                capacity::to_consumers(parts, capacity, &usage);
            // Pod labels are matched and read like tags; the namespace has a matcher of its own.
            let workload_group =
                |p: &PodDay, billed: i128, effective: i128, resource_id: String| CostGroup {
                    day: node.day,
                    provider: source.provider.clone(),
                    service_name: source.service_name.clone(),
                    service_category: source.service_category.clone(),
                    sub_account_id: source.sub_account_id.clone(),
                    sub_account_name: source.sub_account_name.clone(),
                    resource_id,
                    charge_category: "Usage".into(),
                    currency: source.currency.clone(),
                    tag_keys: p.label_keys.clone(),
                    tag_values: p.label_values.clone(),
                    billed: Dec18(billed),
                    effective: Dec18(effective),
                    rows: 0,
                    k8s_namespace: p.namespace.clone(),
                    charge_period: String::new(),
                };
            for (i, p) in workloads.iter().enumerate() {
                out.groups.push(workload_group(
                    p,
                    pod_costs[i].0,
                    pod_costs[i].1,
                    format!("k8s://{}/{}/{}", p.cluster, p.namespace, p.workload),
                ));
            }
            let weights: Vec<i128> = pod_costs.iter().map(|c| c.1.max(0)).collect();
            if config.share_idle && weights.iter().any(|w| *w > 0) {
                let (b, e) = (
                    split_exact(idle_billed, &weights),
                    split_exact(idle_effective, &weights),
                );
                for (i, p) in workloads.iter().enumerate() {
                    if b[i] != 0 || e[i] != 0 {
                        out.groups.push(workload_group(
                            p,
                            b[i],
                            e[i],
                            format!("k8s-idle://{}/{}", node.cluster, node.node),
                        ));
                    }
                }
            } else if idle_billed != 0 || idle_effective != 0 {
                out.idle.push(Allocation {
                    day: node.day,
                    service: "idle".into(),
                    team: "idle".into(),
                    env: String::new(),
                    currency: source.currency.clone(),
                    kind: "idle".into(),
                    pool: String::new(),
                    method: "kubernetes idle capacity".into(),
                    cost_source: format!("{} / {}", source.provider, source.service_name),
                    input_ref: format!("{}/{}", node.cluster, node.node),
                    share: Dec18(1_000_000_000_000_000_000),
                    billed: Dec18(idle_billed),
                    effective: Dec18(idle_effective),
                    input_rows: source.rows,
                });
            }
        }
    }
    out
}
