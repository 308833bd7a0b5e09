//! Recommendations for Slurm workloads (kind `cloud`): run a partition's jobs of one account on
//! the cheapest cloud capacity instead, written as a SkyPilot task for the user to launch.
//!
//! - **Workload**: the jobs of one account in one partition of one cluster
//!   (`slurm://cluster/partition/account`) that ran in the window, grouped by shape (allocated
//!   CPUs, memory, GPUs) with their jobs and hours (sql/recommend_slurm_workloads.sql).
//! - **Current cost**: the allocated effective cost of those jobs over the window
//!   (sql/recommend_slurm_costs.sql), scaled to 730 hours a month.
//! - **Proposed**: per shape, one node per job on the offer of any provider and region (or
//!   `cloud_providers`) that costs least for the shape's hours, counting for spot the expected
//!   interruptions (interruptions per node-month × node-months × restart overhead × price) and
//!   for every offer the egress of the results (`egress_gb_per_job` × jobs × the provider's price
//!   per GB); scaled to a month like the current cost.
//! - Skipped: workloads with GPU jobs (Slurm accounting gives the GPU count, not the model), costs
//!   not in USD (the catalog's currency), and where no saving remains.
use clickhouse::Row;
use queries::Dec18;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::execute::slurm::workload_id;
use crate::placement::{Choice, Market, PlacementIndex, Request};
use crate::recommend::{dec, Assumptions, RecommendError, Recommendation, HOURS_PER_MONTH};

/// How many of the cheapest offers of a shape are weighed (spot interruptions and egress can
/// reorder them) and kept as the SkyPilot task's choices.
const CANDIDATES: usize = 50;
const TASK_CHOICES: usize = 5;

/// sql/recommend_slurm_workloads.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct ShapeRow {
    pub cluster: String,
    pub partition: String,
    pub account: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub gpus: u32,
    pub jobs: u64,
    pub seconds: u64,
}

/// sql/recommend_slurm_costs.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct SlurmCostRow {
    pub cluster: String,
    pub partition: String,
    pub account: String,
    pub currency: String,
    pub team: String,
    pub service: String,
    pub effective: Dec18,
}

/// One shape's best offer and what it costs over the window.
struct Placed<'a> {
    choice: Choice<'a>,
    choices: Vec<Choice<'a>>,
    compute: Decimal,
    interruptions: Decimal,
    egress: Decimal,
}

impl Placed<'_> {
    fn total(&self) -> Decimal {
        self.compute + self.interruptions + self.egress
    }
}

/// The cheapest way to run `jobs` jobs of a shape for `hours` hours in all.
fn place<'a>(
    shape: &ShapeRow,
    hours: Decimal,
    index: &'a PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Option<Placed<'a>>, RecommendError> {
    let request = Request {
        vcpus: Decimal::from(shape.cpus.max(1)),
        memory_gib: Decimal::from(shape.memory_mb) / Decimal::from(1024),
        gpu: None,
        market: Market::Either,
        providers: assumptions.cloud_providers.clone(),
        regions: Vec::new(),
    };
    let cost = |c: &Choice| {
        let compute = hours * c.hourly_usd;
        let interruptions = if c.spot {
            let rate = assumptions.interruption_rate(&c.offer.provider, &c.offer.instance_type);
            hours / Decimal::from(HOURS_PER_MONTH)
                * rate
                * assumptions.restart_overhead_hours
                * c.hourly_usd
        } else {
            Decimal::ZERO
        };
        let per_gb = assumptions
            .egress_usd_per_gb
            .get(&c.offer.provider)
            .copied()
            .unwrap_or_default();
        let egress = Decimal::from(shape.jobs) * assumptions.egress_gb_per_job * per_gb;
        (compute, interruptions, egress)
    };
    let mut choices = index.place(&request, CANDIDATES)?;
    choices.sort_by_key(|c| {
        let (a, b, e) = cost(c);
        a + b + e
    });
    let Some(best) = choices.first().cloned() else {
        return Ok(None);
    };
    let (compute, interruptions, egress) = cost(&best);
    choices.truncate(TASK_CHOICES);
    Ok(Some(Placed {
        choice: best,
        choices,
        compute,
        interruptions,
        egress,
    }))
}

/// The recommendation for one workload (its shapes and its cost in one currency), if it saves.
pub fn recommend(
    shapes: &[&ShapeRow],
    cost: &SlurmCostRow,
    window_hours: Decimal,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Option<Recommendation>, RecommendError> {
    let effective = dec(cost.effective, "allocated cost")?;
    if window_hours <= Decimal::ZERO
        || effective <= Decimal::ZERO
        || cost.currency != "USD"
        || shapes.is_empty()
        || shapes.iter().any(|s| s.gpus > 0)
    {
        return Ok(None);
    }
    let month = Decimal::from(HOURS_PER_MONTH) / window_hours;
    let current = (effective * month).round_dp(6);
    let mut proposed_window = Decimal::ZERO;
    let mut evidence_shapes = Vec::new();
    let mut task = None;
    let mut busiest = Decimal::ZERO;
    for shape in shapes {
        let hours = Decimal::from(shape.seconds) / Decimal::from(3600);
        let Some(placed) = place(shape, hours, index, assumptions)? else {
            // A shape no catalog offer fits: the workload cannot move as a whole.
            return Ok(None);
        };
        proposed_window += placed.total();
        let offer = placed.choice.offer;
        evidence_shapes.push(serde_json::json!({
            "cpus": shape.cpus,
            "memory_mb": shape.memory_mb,
            "jobs": shape.jobs,
            "hours": hours.round_dp(6).normalize().to_string(),
            "candidate": {
                "provider": offer.provider,
                "region": offer.region,
                "zone": offer.zone,
                "instance_type": offer.instance_type,
                "spot": placed.choice.spot,
                "hourly_usd": placed.choice.hourly_usd.normalize().to_string(),
            },
            "compute_usd": placed.compute.round_dp(6).normalize().to_string(),
            "interruption_usd": placed.interruptions.round_dp(6).normalize().to_string(),
            "egress_usd": placed.egress.round_dp(6).normalize().to_string(),
        }));
        if hours > busiest || task.is_none() {
            busiest = hours;
            let name = format!("{}-{}-{}", shape.cluster, shape.partition, shape.account)
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            task = Some(crate::skypilot::task_yaml(&name, &placed.choices, 1));
        }
    }
    let proposed = (proposed_window * month).round_dp(6);
    if proposed >= current {
        return Ok(None);
    }
    let workload = workload_id(&cost.cluster, &cost.partition, &cost.account);
    let summary = format!(
        "{workload}: {} job shape(s) to the cloud ({}): {} → {} USD/month",
        shapes.len(),
        evidence_shapes
            .iter()
            .map(|s| format!(
                "{} {}{}",
                s["candidate"]["provider"].as_str().unwrap_or_default(),
                s["candidate"]["instance_type"].as_str().unwrap_or_default(),
                if s["candidate"]["spot"] == true {
                    " spot"
                } else {
                    ""
                }
            ))
            .collect::<Vec<_>>()
            .join(", "),
        current.round_dp(2),
        proposed.round_dp(2)
    );
    let egress_prices: serde_json::Map<String, serde_json::Value> = assumptions
        .egress_usd_per_gb
        .iter()
        .map(|(k, v)| (k.clone(), v.normalize().to_string().into()))
        .collect();
    let evidence = serde_json::json!({
        "workload": {"cluster": cost.cluster, "partition": cost.partition, "account": cost.account},
        "current": {
            "allocated_effective": effective.normalize().to_string(),
            "currency": cost.currency,
            "window_hours": window_hours.normalize().to_string(),
            "monthly": current.normalize().to_string(),
        },
        "shapes": evidence_shapes,
        "skypilot_task": task,
        "assumptions": {
            "hours_per_month": HOURS_PER_MONTH,
            "one_node_per_job": true,
            "restart_overhead_hours": assumptions.restart_overhead_hours.normalize().to_string(),
            "egress_gb_per_job": assumptions.egress_gb_per_job.normalize().to_string(),
            "egress_usd_per_gb": egress_prices,
            "providers": assumptions.cloud_providers,
        },
    });
    Ok(Some(Recommendation {
        kind: "cloud",
        workload,
        team: cost.team.clone(),
        service: cost.service.clone(),
        currency: cost.currency.clone(),
        current_monthly: current,
        proposed_monthly: proposed,
        saving_monthly: current - proposed,
        summary,
        evidence,
    }))
}

/// Every `cloud` recommendation over the window `[from, to)` (Unix seconds).
pub async fn compute(
    store: &queries::Store,
    from: i64,
    to: i64,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Vec<Recommendation>, RecommendError> {
    use queries::q;
    let bind = |query| crate::recommend::bind_window(query, from, to);
    let shapes: Vec<ShapeRow> = store
        .fetch_all(&bind(q::recommend_slurm_workloads()))
        .await?;
    let costs: Vec<SlurmCostRow> = store.fetch_all(&bind(q::recommend_slurm_costs())).await?;
    let window_hours = Decimal::from(to - from) / Decimal::from(3600);
    let mut out = Vec::new();
    for cost in &costs {
        let mine: Vec<&ShapeRow> = shapes
            .iter()
            .filter(|s| {
                s.cluster == cost.cluster
                    && s.partition == cost.partition
                    && s.account == cost.account
            })
            .collect();
        out.extend(recommend(&mine, cost, window_hours, index, assumptions)?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "recommend_slurm_tests.rs"]
mod tests;
