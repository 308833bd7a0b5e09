//! The planner: spot and cloud recommendations become workload migration proposals
//! ([`crate::migration`]), one per workload that has no migration under way. A proposal moves
//! nothing: a person approves it, and an executor applies it.
use queries::rows::RecommendationRow;
use queries::{q, Param, Store};
use rust_decimal::Decimal;

use crate::migration::{self, Filter, MigrationError, Proposal, Status};

/// Where spot pods go: the node label (and taint) of the spot pool.
#[derive(Debug, Clone)]
pub struct SpotPool {
    pub label: String,
    pub value: String,
}

impl Default for SpotPool {
    /// Karpenter's capacity-type label.
    fn default() -> Self {
        SpotPool {
            label: "karpenter.sh/capacity-type".into(),
            value: "spot".into(),
        }
    }
}

impl SpotPool {
    /// The strategic merge patch of the workload's pod template: select the spot pool and
    /// tolerate its taint.
    pub fn patch(&self) -> serde_json::Value {
        serde_json::json!({
            "spec": {"template": {"spec": {
                "nodeSelector": {&self.label: &self.value},
                "tolerations": [{
                    "key": &self.label,
                    "operator": "Equal",
                    "value": &self.value,
                    "effect": "NoSchedule",
                }],
            }}}
        })
    }
}

/// The statuses of a migration still under way (a new proposal would duplicate it).
const UNDER_WAY: [Status; 5] = [
    Status::Proposed,
    Status::Approved,
    Status::Applied,
    Status::Failed,
    Status::RollbackRequested,
];

/// A proposal for one spot recommendation.
pub fn proposal(rec: &RecommendationRow, pool: &SpotPool) -> Result<Proposal, MigrationError> {
    let evidence: serde_json::Value = serde_json::from_str(&rec.evidence).unwrap_or_default();
    let candidate = &evidence["candidate"];
    let today = &evidence["today"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let saving = rec
        .saving_monthly
        .to_decimal()
        .map_err(MigrationError::Store)?;
    Ok(Proposal {
        kind: "kubernetes".into(),
        workload: rec.workload.clone(),
        team: rec.team.clone(),
        service: rec.service.clone(),
        env: String::new(),
        from_placement: format!(
            "{} {} on demand",
            text(&today["provider"]),
            text(&today["instance_type"])
        ),
        to_placement: format!(
            "{} {} spot in {} ({}={})",
            text(&candidate["provider"]),
            text(&candidate["instance_type"]),
            text(&candidate["region"]),
            pool.label,
            pool.value
        ),
        // The executor reads the live object when it applies the patch and records it then.
        spec_before: String::new(),
        spec_after: pool.patch().to_string(),
        saving_month: saving,
        currency: rec.currency.clone(),
        evidence: rec.evidence.clone(),
    })
}

/// A proposal for one `cloud` recommendation (Slurm jobs to another cloud): the SkyPilot task
/// its evidence carries, for the SkyPilot executor to write out.
pub fn skypilot_proposal(rec: &RecommendationRow) -> Result<Proposal, MigrationError> {
    let evidence: serde_json::Value = serde_json::from_str(&rec.evidence).unwrap_or_default();
    let task = evidence["skypilot_task"].as_str().unwrap_or_default();
    let w = &evidence["workload"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let choices: Vec<String> = evidence["shapes"]
        .as_array()
        .map(|shapes| {
            shapes
                .iter()
                .map(|s| {
                    let c = &s["candidate"];
                    format!(
                        "{} {} {}{}",
                        text(&c["provider"]),
                        text(&c["region"]),
                        text(&c["instance_type"]),
                        if c["spot"] == true { " spot" } else { "" }
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Proposal {
        kind: "skypilot".into(),
        workload: rec.workload.clone(),
        team: rec.team.clone(),
        service: rec.service.clone(),
        env: String::new(),
        from_placement: format!(
            "Slurm cluster {}, partition {} (account {})",
            text(&w["cluster"]),
            text(&w["partition"]),
            text(&w["account"])
        ),
        to_placement: format!("SkyPilot task: {}", choices.join(", ")),
        spec_before: String::new(),
        spec_after: serde_json::json!({ "task": task }).to_string(),
        saving_month: rec
            .saving_monthly
            .to_decimal()
            .map_err(MigrationError::Store)?,
        currency: rec.currency.clone(),
        evidence: rec.evidence.clone(),
    })
}

/// Propose a migration for every latest spot recommendation (a pod-template patch toward the
/// spot pool) and every latest cloud recommendation (a SkyPilot task) saving at least
/// `min_saving` a month whose workload has none under way. Returns the new proposals' ids and
/// workloads.
pub async fn plan(
    store: &Store,
    pool: &SpotPool,
    min_saving: Decimal,
    created_by: &str,
) -> Result<Vec<(String, String)>, MigrationError> {
    let mut recs: Vec<RecommendationRow> = Vec::new();
    for kind in ["spot", "cloud"] {
        recs.extend(
            store
                .fetch_all::<RecommendationRow>(
                    &q::api_recommendations()
                        .bind_str("kind", kind)
                        .bind("teams", Param::StrArray(vec![]))
                        .bind("offset", Param::Int(0))
                        .bind("limit", Param::Int(u64::MAX.into())),
                )
                .await?,
        );
    }
    let mut under_way: std::collections::BTreeSet<String> = migration::list(
        store,
        &Filter {
            statuses: UNDER_WAY.to_vec(),
            ..Filter::default()
        },
    )
    .await?
    .into_iter()
    .map(|m| m.workload)
    .collect();
    let mut out = Vec::new();
    for rec in recs {
        let saving = rec
            .saving_monthly
            .to_decimal()
            .map_err(MigrationError::Store)?;
        if saving < min_saving || under_way.contains(&rec.workload) {
            continue;
        }
        let proposal = if rec.kind == "cloud" {
            skypilot_proposal(&rec)?
        } else {
            proposal(&rec, pool)?
        };
        let id = migration::propose(store, &proposal, created_by).await?;
        under_way.insert(rec.workload.clone());
        out.push((id, rec.workload));
    }
    Ok(out)
}
