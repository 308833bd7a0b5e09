//! Recommendations (`costmill recommend`) for Kubernetes workloads: move to a spot node pool,
//! and right-size requests to observed usage; Slurm workloads to the cloud are
//! [`crate::recommend_slurm`]'s. Each carries its evidence: the allocated cost it starts from,
//! the catalog offer it proposes, and the assumptions.
//!
//! - **Current cost** is the workload's allocated effective cost over the window
//!   (`allocations`, `k8s://cluster/namespace/workload`), scaled to a month of 730 hours.
//! - **Spot**: the workload's replicas (average concurrent pods, rounded up) packed onto the
//!   cheapest spot node shape of its own provider and region (every family in the catalog), plus
//!   the expected cost of interruptions: interruptions per node and month (a default table by
//!   provider, overridable per provider or instance family) × nodes × the hours of work redone
//!   after each (`restart_overhead_hours`) × the node's spot price. Skipped for workloads labelled
//!   `costmill.io/spot: never`, GPU workloads (their GPU model is not in the usage data), costs not
//!   in USD (the catalog's currency), and where no saving remains.
//! - **Rightsize**: where the p95 per-pod CPU or memory usage is under `rightsize_below` of the
//!   request, the request becomes p95 × `headroom` (CPU to the millicore, memory to the MiB above),
//!   never more than today's; the workload is billed by max(request, usage), so its cost scales
//!   with the larger of the two ratios new/old.
use std::collections::BTreeMap;

use clickhouse::Row;
use queries::{q, Dec18, Param, Store, StoreError};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::placement::{Market, PlacementError, PlacementIndex, Request};

/// Hours in a month, as cloud price pages count them.
pub const HOURS_PER_MONTH: u32 = 730;

/// What the recommendations assume; every figure is in the evidence of each recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Interruptions per node and month, by provider or instance family (a family key such as
    /// `m5` or `Standard_D4s` wins over the provider's). Defaults: aws 0.10, gcp 0.15, azure 0.10
    /// (the "5–10 %" and "10–15 %" monthly bands of AWS's Spot Instance Advisor and GCP's spot
    /// preemption guidance, as round figures).
    pub interruptions_per_node_month: BTreeMap<String, Decimal>,
    /// Work redone after an interruption: rescheduling, start-up, lost progress. Default: 0.5 h.
    pub restart_overhead_hours: Decimal,
    /// Requests above p95 usage × this. Default: 1.2.
    pub headroom: Decimal,
    /// Right-size only where p95 usage is under this share of the request. Default: 0.7.
    pub rightsize_below: Decimal,
    /// Data a Slurm job moved to a cloud sends out of it (results back home, in GB). Default: 0;
    /// set it when jobs return or read data over the internet.
    pub egress_gb_per_job: Decimal,
    /// Internet egress USD per GB out of each provider. Defaults: aws 0.09, gcp 0.12, azure 0.087
    /// (their first-tier list prices); others 0.
    pub egress_usd_per_gb: BTreeMap<String, Decimal>,
    /// Providers Slurm jobs may move to (empty: any in the catalog).
    pub cloud_providers: Vec<String>,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            interruptions_per_node_month: [("aws", "0.10"), ("gcp", "0.15"), ("azure", "0.10")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.parse().expect("constant")))
                .collect(),
            restart_overhead_hours: Decimal::new(5, 1),
            headroom: Decimal::new(12, 1),
            rightsize_below: Decimal::new(7, 1),
            egress_gb_per_job: Decimal::ZERO,
            egress_usd_per_gb: [("aws", "0.09"), ("gcp", "0.12"), ("azure", "0.087")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.parse().expect("constant")))
                .collect(),
            cloud_providers: Vec::new(),
        }
    }
}

impl Assumptions {
    /// The rate for an instance type of a provider: the longest family prefix given, else the
    /// provider's, else 0.15.
    pub fn interruption_rate(&self, provider: &str, instance_type: &str) -> Decimal {
        let family = self
            .interruptions_per_node_month
            .iter()
            .filter(|(key, _)| instance_type.starts_with(key.as_str()) && !key.is_empty())
            .max_by_key(|(key, _)| key.len());
        family
            .or_else(|| self.interruptions_per_node_month.get_key_value(provider))
            .map(|(_, rate)| *rate)
            .unwrap_or_else(|| Decimal::new(15, 2))
    }
}

/// sql/recommend_k8s_workloads.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct WorkloadRow {
    pub cluster: String,
    pub namespace: String,
    pub workload_kind: String,
    pub workload: String,
    pub pod_seconds: u64,
    pub cpu_request: Dec18,
    pub memory_request: Dec18,
    pub gpus: Dec18,
    pub cpu_p95: f64,
    pub memory_p95: f64,
    /// `instance_type|provider_id` of the node it mostly ran on ('' unknown).
    pub node: String,
    pub spot_label: String,
}

/// sql/recommend_k8s_costs.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct CostRow {
    pub input_ref: String,
    pub currency: String,
    pub team: String,
    pub service: String,
    pub effective: Dec18,
    pub days: u64,
}

/// One recommendation, as stored in `recommendations` (see `queries::rows::RecommendationRow`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub kind: &'static str,
    pub workload: String,
    pub team: String,
    pub service: String,
    pub currency: String,
    pub current_monthly: Decimal,
    pub proposed_monthly: Decimal,
    pub saving_monthly: Decimal,
    pub summary: String,
    pub evidence: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error("an amount out of range in {0}")]
    Amount(String),
}

/// Where a node runs, from its `provider_id` (`aws:///us-east-1a/i-…`, `gce://project/zone/name`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlace {
    pub instance_type: String,
    pub provider: String,
    pub region: String,
    pub zone: String,
}

pub fn node_place(node: &str) -> Option<NodePlace> {
    let (instance_type, provider_id) = node.split_once('|')?;
    let (scheme, rest) = provider_id.split_once("://")?;
    let provider = match scheme {
        "aws" => "aws",
        "gce" => "gcp",
        "azure" => "azure",
        _ => return None,
    };
    let parts: Vec<&str> = rest.split('/').collect();
    // aws:///zone/id → ["", zone, id]; gce://project/zone/name → [project, zone, name].
    let zone = parts.get(1).filter(|z| !z.is_empty())?.to_string();
    let region = match provider {
        "aws" => zone
            .trim_end_matches(|c: char| c.is_ascii_lowercase())
            .to_string(),
        _ => zone.rsplit_once('-').map(|(r, _)| r.to_string())?,
    };
    Some(NodePlace {
        instance_type: instance_type.to_string(),
        provider: provider.to_string(),
        region,
        zone,
    })
}

pub(crate) fn dec(value: Dec18, what: &str) -> Result<Decimal, RecommendError> {
    value
        .to_decimal()
        .map_err(|_| RecommendError::Amount(what.to_string()))
}

fn gib(bytes: Decimal) -> Decimal {
    bytes / Decimal::from(1u64 << 30)
}

/// Round up to a multiple of `step`.
fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).ceil() * step
}

/// The workload's id in allocations (`k8s://cluster/namespace/workload`).
pub fn workload_ref(w: &WorkloadRow) -> String {
    format!("k8s://{}/{}/{}", w.cluster, w.namespace, w.workload)
}

/// Recommendations for one workload and its cost (one currency), best saving first.
pub fn recommend(
    w: &WorkloadRow,
    cost: &CostRow,
    window_hours: Decimal,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Vec<Recommendation>, RecommendError> {
    let mut out = Vec::new();
    let effective = dec(cost.effective, "allocated cost")?;
    if window_hours <= Decimal::ZERO || effective <= Decimal::ZERO {
        return Ok(out);
    }
    let current = (effective / window_hours * Decimal::from(HOURS_PER_MONTH)).round_dp(6);
    let cpu = dec(w.cpu_request, "cpu request")?;
    let memory = dec(w.memory_request, "memory request")?;
    let gpus = dec(w.gpus, "gpu request")?;
    let replicas = (Decimal::from(w.pod_seconds) / (window_hours * Decimal::from(3600)))
        .ceil()
        .to_u64()
        .unwrap_or(1)
        .max(1);
    let base = |kind: &'static str, proposed: Decimal, summary: String, evidence| Recommendation {
        kind,
        workload: workload_ref(w),
        team: cost.team.clone(),
        service: cost.service.clone(),
        currency: cost.currency.clone(),
        current_monthly: current,
        proposed_monthly: proposed,
        saving_monthly: current - proposed,
        summary,
        evidence,
    };
    let workload_evidence = serde_json::json!({
        "cluster": w.cluster, "namespace": w.namespace, "kind": w.workload_kind, "name": w.workload,
    });
    let current_evidence = serde_json::json!({
        "allocated_effective": effective.normalize().to_string(),
        "currency": cost.currency,
        "days_with_cost": cost.days,
        "window_hours": window_hours.normalize().to_string(),
        "monthly": current.normalize().to_string(),
    });

    // Spot.
    let place = node_place(&w.node);
    if let (Some(place), true) = (
        &place,
        w.spot_label != "never" && gpus.is_zero() && cost.currency == "USD" && cpu > Decimal::ZERO,
    ) {
        let request = Request {
            vcpus: cpu,
            memory_gib: gib(memory),
            gpu: None,
            market: Market::Spot,
            providers: vec![place.provider.clone()],
            regions: vec![place.region.clone()],
        };
        if let Some(best) = index.pack(&request, replicas, 1)?.into_iter().next() {
            let offer = best.choice.offer;
            let rate = assumptions.interruption_rate(&offer.provider, &offer.instance_type);
            let nodes = Decimal::from(best.nodes);
            let interruptions =
                (nodes * rate * assumptions.restart_overhead_hours * best.choice.hourly_usd)
                    .round_dp(6);
            let compute = best.total_hourly_usd * Decimal::from(HOURS_PER_MONTH);
            let proposed = compute + interruptions;
            if proposed < current {
                let summary = format!(
                    "{} replica(s) of {} to spot {} ×{} in {}: {} → {} USD/month",
                    replicas,
                    workload_ref(w),
                    offer.instance_type,
                    best.nodes,
                    offer.zone.as_deref().unwrap_or(&offer.region),
                    current.round_dp(2),
                    proposed.round_dp(2)
                );
                let evidence = serde_json::json!({
                    "workload": workload_evidence,
                    "current": current_evidence,
                    "today": {"instance_type": place.instance_type, "provider": place.provider, "zone": place.zone},
                    "candidate": {
                        "provider": offer.provider,
                        "instance_type": offer.instance_type,
                        "region": offer.region,
                        "zone": offer.zone,
                        "spot_hourly_usd": best.choice.hourly_usd.normalize().to_string(),
                        "on_demand_hourly_usd": offer.on_demand_hourly_usd.map(|p| p.normalize().to_string()),
                        "nodes": best.nodes,
                        "replicas_per_node": best.replicas_per_node,
                        "total_hourly_usd": best.total_hourly_usd.normalize().to_string(),
                    },
                    "per_replica": {"vcpus": cpu.normalize().to_string(), "memory_gib": gib(memory).round_dp(6).normalize().to_string()},
                    "replicas": replicas,
                    "assumptions": {
                        "hours_per_month": HOURS_PER_MONTH,
                        "interruptions_per_node_month": rate.normalize().to_string(),
                        "restart_overhead_hours": assumptions.restart_overhead_hours.normalize().to_string(),
                        "interruption_cost_monthly": interruptions.normalize().to_string(),
                    },
                });
                out.push(base("spot", proposed, summary, evidence));
            }
        }
    }

    // Rightsize.
    let (cpu_p95, memory_p95) = (
        Decimal::from_f64(w.cpu_p95).unwrap_or_default(),
        Decimal::from_f64(w.memory_p95).unwrap_or_default(),
    );
    if cpu > Decimal::ZERO && memory > Decimal::ZERO {
        let low = |p95: Decimal, request: Decimal| p95 < request * assumptions.rightsize_below;
        if low(cpu_p95, cpu) || low(memory_p95, memory) {
            let new_cpu = ceil_to(cpu_p95 * assumptions.headroom, Decimal::new(1, 3))
                .max(Decimal::new(1, 2))
                .min(cpu);
            let mib = Decimal::from(1u64 << 20);
            let new_memory = ceil_to(memory_p95 * assumptions.headroom, mib)
                .max(Decimal::from(16) * mib)
                .min(memory);
            let ratio = (new_cpu / cpu).max(new_memory / memory);
            let proposed = (current * ratio).round_dp(6);
            if current - proposed >= Decimal::new(1, 2) {
                let summary = format!(
                    "{}: requests {} CPU / {} MiB → {} CPU / {} MiB per pod (p95 {} CPU / {} MiB): {} → {} {}/month",
                    workload_ref(w),
                    cpu.normalize(),
                    (memory / mib).round_dp(0),
                    new_cpu.normalize(),
                    (new_memory / mib).round_dp(0),
                    cpu_p95.round_dp(3).normalize(),
                    (memory_p95 / mib).round_dp(0),
                    current.round_dp(2),
                    proposed.round_dp(2),
                    cost.currency
                );
                let evidence = serde_json::json!({
                    "workload": workload_evidence,
                    "current": current_evidence,
                    "requests": {"cpu": cpu.normalize().to_string(), "memory_bytes": memory.normalize().to_string()},
                    "p95_usage": {"cpu": w.cpu_p95, "memory_bytes": w.memory_p95},
                    "proposed_requests": {"cpu": new_cpu.normalize().to_string(), "memory_bytes": new_memory.normalize().to_string()},
                    "cost_ratio": ratio.round_dp(6).normalize().to_string(),
                    "assumptions": {
                        "headroom": assumptions.headroom.normalize().to_string(),
                        "rightsize_below": assumptions.rightsize_below.normalize().to_string(),
                    },
                });
                out.push(base("rightsize", proposed, summary, evidence));
            }
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.saving_monthly));
    Ok(out)
}

/// The window `[from, to)` in Unix seconds: the last `days` whole UTC days of usage data.
pub async fn default_window(
    store: &Store,
    days: i64,
) -> Result<Option<(i64, i64)>, RecommendError> {
    #[derive(Row, Deserialize)]
    struct Span {
        first: u32,
        last: u32,
    }
    // The latest of each kind of usage data the recommendations read.
    let mut span: Vec<Span> = Vec::new();
    for query in [
        q::recommend_k8s_span(),
        q::recommend_slurm_span(),
        q::recommend_vm_span(),
    ] {
        span.extend(
            store
                .fetch_all::<Span>(&query)
                .await?
                .into_iter()
                .filter(|s| s.last > 0),
        );
    }
    let span: Vec<Span> = span
        .into_iter()
        .reduce(|a, b| Span {
            first: a.first.min(b.first),
            last: a.last.max(b.last),
        })
        .into_iter()
        .collect();
    // Whole UTC days, as the allocated cost is per day: the window's hours and its cost agree.
    const DAY: i64 = 86_400;
    Ok(span.first().filter(|s| s.last > 0).map(|s| {
        let to = (i64::from(s.last) + DAY - 1).div_euclid(DAY) * DAY;
        let first = i64::from(s.first).div_euclid(DAY) * DAY;
        ((to - days * DAY).max(first), to)
    }))
}

/// A query of a window `[from, to)` of Unix seconds.
pub(crate) fn bind_window(query: queries::Query, from: i64, to: i64) -> queries::Query {
    query
        .bind("from", Param::DateTime(from))
        .bind("to", Param::DateTime(to))
}

/// Every recommendation over the window `[from, to)` (Unix seconds), best saving first.
pub async fn compute(
    store: &Store,
    from: i64,
    to: i64,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Vec<Recommendation>, RecommendError> {
    let bind = |query| bind_window(query, from, to);
    let workloads: Vec<WorkloadRow> = store.fetch_all(&bind(q::recommend_k8s_workloads())).await?;
    let costs: Vec<CostRow> = store.fetch_all(&bind(q::recommend_k8s_costs())).await?;
    let window_hours = Decimal::from(to - from) / Decimal::from(3600);
    let mut out = Vec::new();
    for w in &workloads {
        let id = workload_ref(w);
        for cost in costs.iter().filter(|c| c.input_ref == id) {
            out.extend(recommend(w, cost, window_hours, index, assumptions)?);
        }
    }
    out.extend(crate::recommend_slurm::compute(store, from, to, index, assumptions).await?);
    out.extend(crate::recommend_vm::compute(store, from, to, index, assumptions).await?);
    out.sort_by(|a, b| {
        b.saving_monthly
            .cmp(&a.saving_monthly)
            .then_with(|| a.workload.cmp(&b.workload))
    });
    Ok(out)
}

/// Store one computation: every row gets the same `computed_at`, later than any before (readers
/// take the latest computation of each kind, so two in one second must not mix), and an id
/// stable per kind and workload.
pub async fn save(
    store: &Store,
    recommendations: &[Recommendation],
) -> Result<u32, RecommendError> {
    #[derive(Row, Deserialize)]
    struct Latest {
        latest: u32,
    }
    let latest: Vec<Latest> = store.fetch_all(&q::recommendations_latest()).await?;
    let computed_at = (chrono::Utc::now().timestamp() as u32)
        .max(latest.first().map_or(0, |l| l.latest.saturating_add(1)));
    let mut rows = Vec::with_capacity(recommendations.len());
    for r in recommendations {
        let exact = |d: Decimal| {
            Dec18::from_decimal_exact(d.round_dp(18))
                .ok_or_else(|| RecommendError::Amount(r.workload.clone()))
        };
        rows.push(queries::rows::RecommendationRow {
            computed_at,
            id: format!("{}:{}", r.kind, r.workload),
            kind: r.kind.to_string(),
            workload: r.workload.clone(),
            team: r.team.clone(),
            service: r.service.clone(),
            currency: r.currency.clone(),
            current_monthly: exact(r.current_monthly)?,
            proposed_monthly: exact(r.proposed_monthly)?,
            saving_monthly: exact(r.saving_monthly)?,
            summary: r.summary.clone(),
            evidence: r.evidence.to_string(),
        });
    }
    store.insert_rows("recommendations", &rows).await?;
    Ok(computed_at)
}

#[cfg(test)]
#[path = "recommend_tests.rs"]
mod tests;
