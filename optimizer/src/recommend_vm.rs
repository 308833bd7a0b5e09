//! Recommendations for cloud VMs seen in billing (kinds `vm-family` and `vm-spot`), priced at
//! the rate the user really pays where billing shows it.
//!
//! - **VMs**: billed resources (`ResourceId`) with hourly Usage rows in the window whose charge
//!   description names an instance type ([`billing_text`]: AWS EC2 and Azure VM texts; GCP's
//!   never do). A resource's type is the one with the most hours. Skipped, and counted in each
//!   recommendation's `billing_scan`: resources without an instance type, Kubernetes nodes
//!   (their instance id ends a `k8s_nodes.provider_id`; the Kubernetes recommendations cost
//!   them), other operating systems than Linux (the catalog prices Linux), costs not in USD (the
//!   catalog's currency), types or regions the catalog lacks, and resources without allocated
//!   cost.
//! - **Current cost**: the resource's allocated effective cost over the window (`allocations`,
//!   whose `input_ref` is the ResourceId of resource-level rows), scaled to a month of 730 hours.
//!   Its instance hours cost what its hourly rows cost (effective); the rest of its allocated cost
//!   (data transfer billed to the instance, say) stays as it is in every proposal.
//! - **Rates**: the effective hourly rate billing shows per provider, region and instance type
//!   (effective cost / hours of non-spot Linux USD rows, Kubernetes nodes included), and per
//!   provider the observed discount: effective cost / the catalog's on-demand price × hours, over
//!   the same rows (6 decimals). An on-demand candidate costs its billed effective rate where
//!   billing shows one for its type and region (a reservation of that type may be full: the
//!   evidence gives its hours), else the catalog's on-demand price × the provider's observed
//!   discount, else the catalog's price; the evidence says which.
//! - **vm-family**: the cheapest on-demand shape with at least the VM's vCPUs and memory (and
//!   the same GPU model and count) across every family of the catalog in the VM's provider and
//!   region, at the rates above, for the VM's hours; recommended when it is another type and
//!   saves at least a cent a month.
//! - **vm-spot**: for a VM tagged `costmill.io/spot` = `allowed` (in the billing tags) or already
//!   billed as spot, never for `never`: the cheapest spot shape of the same minimums in its
//!   region at the catalog's spot price (commitments do not discount spot), plus the expected
//!   interruptions (average instances × interruptions per node-month × restart overhead × spot
//!   price), as for Kubernetes workloads.
use std::collections::{HashMap, HashSet};

use queries::{q, Store};
use rust_decimal::Decimal;

use crate::catalog::Offer;
use crate::placement::{Choice, GpuRequest, Market, PlacementIndex, Request};
use crate::recommend::{
    dec, Assumptions, CostRow, RecommendError, Recommendation, HOURS_PER_MONTH,
};

pub mod billed;
pub mod billing_text;
pub mod rates;
pub use billed::{find_vms, NodeRow, Scan, UsageRow, Vm};
pub use billing_text::{billed_instance, catalog_provider, BilledInstance, Purchase};
pub use rates::{BilledRates, CatalogView, RateSource};

pub const KIND_FAMILY: &str = "vm-family";
pub const KIND_SPOT: &str = "vm-spot";
/// The billing tag that lets a VM move to spot (`allowed`) or keeps it off (`never`).
pub const SPOT_TAG: &str = "costmill.io/spot";

/// Every VM recommendation from the window's billing rows, allocated costs and Kubernetes
/// nodes' provider ids, with how the resources were sorted out.
pub fn recommend_all(
    rows: &[UsageRow],
    costs: &[CostRow],
    node_provider_ids: &[String],
    window_hours: Decimal,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<(Vec<Recommendation>, Scan), RecommendError> {
    let view = CatalogView::new(index.offers());
    let rates = BilledRates::new(rows, &view)?;
    let (vms, mut scan) = find_vms(rows)?;
    let node_ids: HashSet<&str> = node_provider_ids
        .iter()
        .map(|p| billing_text::instance_id(p))
        .filter(|id| !id.is_empty())
        .collect();
    // Azure: a node's providerID holds its scale set's or VM's whole resource id.
    let lowercase_ids: Vec<String> = node_provider_ids
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let is_node = |resource: &str| {
        node_ids.contains(billing_text::instance_id(resource))
            || (resource.starts_with('/') && {
                let resource = resource.to_ascii_lowercase();
                lowercase_ids.iter().any(|p| p.contains(&resource))
            })
    };
    let costs: HashMap<(&str, &str), &CostRow> = costs
        .iter()
        .map(|c| ((c.input_ref.as_str(), c.currency.as_str()), c))
        .collect();
    let mut weighed = Vec::new();
    for vm in &vms {
        if is_node(&vm.resource_id) {
            scan.kubernetes_nodes += 1;
        } else if !vm.instance.is_linux() {
            scan.not_linux += 1;
        } else if vm.currency != "USD" {
            scan.not_usd += 1;
        } else {
            let placed = view
                .region(&vm.provider, &vm.region_id, &vm.region_name)
                .and_then(|region| {
                    Some((
                        view.shape(&vm.provider, &vm.instance.types, &region)?,
                        region,
                    ))
                });
            let cost = costs
                .get(&(vm.resource_id.as_str(), vm.currency.as_str()))
                .copied();
            match (placed, cost) {
                (None, _) => scan.not_in_catalog += 1,
                (Some(_), None) => scan.without_allocated_cost += 1,
                (Some((shape, region)), Some(cost)) => weighed.push((vm, shape, region, cost)),
            }
        }
    }
    scan.weighed = weighed.len();
    let mut out = Vec::new();
    for (vm, shape, region, cost) in weighed {
        let weigh = Weigh {
            vm,
            shape,
            region: &region,
            cost,
            window_hours,
            index,
            view: &view,
            rates: &rates,
            assumptions,
            scan: &scan,
        };
        out.extend(weigh.recommend()?);
    }
    Ok((out, scan))
}

/// One VM weighed against the catalog.
struct Weigh<'a> {
    vm: &'a Vm,
    /// The catalog offer of its type: its shape.
    shape: &'a Offer,
    region: &'a str,
    cost: &'a CostRow,
    window_hours: Decimal,
    index: &'a PlacementIndex,
    view: &'a CatalogView<'a>,
    rates: &'a BilledRates,
    assumptions: &'a Assumptions,
    scan: &'a Scan,
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

impl<'a> Weigh<'a> {
    fn request(&self, market: Market) -> Request {
        Request {
            vcpus: self.shape.vcpus,
            memory_gib: self.shape.memory_gib,
            gpu: self.shape.accelerator.as_ref().map(|a| GpuRequest {
                model: a.name.clone(),
                count: a.count,
            }),
            market,
            providers: vec![self.vm.provider.clone()],
            regions: vec![self.region.to_string()],
        }
    }

    /// The cheapest on-demand choice at this user's rates, with its rate and where it comes from.
    fn cheapest_on_demand(
        &self,
    ) -> Result<Option<(Choice<'a>, Decimal, RateSource)>, RecommendError> {
        let mut best: Option<(Choice<'a>, Decimal, RateSource)> = None;
        let mut seen: HashSet<&str> = HashSet::new();
        // Best catalog price first: a type's first choice is its cheapest zone.
        for choice in self
            .index
            .place(&self.request(Market::OnDemand), usize::MAX)?
        {
            if !seen.insert(&choice.offer.instance_type) {
                continue;
            }
            let (rate, source) = self.rates.on_demand(
                &self.vm.provider,
                self.region,
                &choice.offer.instance_type,
                choice.hourly_usd,
            );
            if best.as_ref().is_none_or(|b| rate < b.1) {
                best = Some((choice, rate, source));
            }
        }
        Ok(best)
    }

    fn recommend(&self) -> Result<Vec<Recommendation>, RecommendError> {
        let (vm, w) = (self.vm, self.window_hours);
        let allocated = dec(self.cost.effective, "allocated cost")?;
        let mut out = Vec::new();
        if w <= Decimal::ZERO || allocated <= Decimal::ZERO || vm.hours <= Decimal::ZERO {
            return Ok(out);
        }
        let month = Decimal::from(HOURS_PER_MONTH);
        let current = (allocated / w * month).round_dp(6);
        // Average instances running, their hours a month, and what the rest of the cost is.
        let running = vm.hours / w;
        let hours_month = running * month;
        let other = (allocated - vm.effective).max(Decimal::ZERO) / w * month;
        let rate_now = vm.effective / vm.hours;
        let today_type = &self.shape.instance_type;
        let (list_now, spot_now) = self.view.prices(&vm.provider, today_type, self.region);
        let offer_json = |o: &Offer| {
            serde_json::json!({
                "provider": o.provider,
                "instance_type": o.instance_type,
                "region": o.region,
                "zone": o.zone,
                "vcpus": text(o.vcpus),
                "memory_gib": text(o.memory_gib),
                "gpu": o.accelerator.as_ref().map(|a| format!("{}:{}", a.name, text(a.count))),
                "on_demand_hourly_usd": o.on_demand_hourly_usd.map(text),
                "spot_hourly_usd": o.spot_hourly_usd.map(text),
            })
        };
        let evidence = |candidate: serde_json::Value, assumptions: serde_json::Value| {
            serde_json::json!({
                "resource": {
                    "id": vm.resource_id,
                    "provider": vm.focus_provider,
                    "service": vm.service_name,
                    "region": self.region,
                    "zone": vm.zone,
                    "spot_tag": vm.spot_tag,
                },
                "billing": {
                    "rows": vm.rows,
                    "usage_hours": text(vm.hours),
                    "effective_cost": text(vm.effective),
                    "list_cost": text(vm.list),
                    "effective_hourly_rate": text(rate_now.round_dp(6)),
                    "purchase": vm.instance.purchase,
                    "os": vm.instance.os,
                    "descriptions": vm.descriptions,
                    "pricing_categories": vm.pricing_categories,
                    "commitment_types": vm.commitment_types,
                },
                "current": {
                    "allocated_effective": text(allocated),
                    "currency": self.cost.currency,
                    "days_with_cost": self.cost.days,
                    "window_hours": text(w),
                    "monthly": text(current),
                    "instance_hours_monthly": text(hours_month.round_dp(6)),
                    "other_charges_monthly": text(other.round_dp(6)),
                },
                "today": {
                    "provider": vm.provider,
                    "instance_type": today_type,
                    "region": self.region,
                    "vcpus": text(self.shape.vcpus),
                    "memory_gib": text(self.shape.memory_gib),
                    "on_demand_hourly_usd": list_now.map(text),
                    "spot_hourly_usd": spot_now.map(text),
                    "effective_vs_catalog": list_now
                        .filter(|l| *l > Decimal::ZERO)
                        .map(|l| text((rate_now / l).round_dp(6))),
                },
                "candidate": candidate,
                "observed_discount": self.rates.discount(&vm.provider).map(text),
                "billing_scan": self.scan,
                "assumptions": assumptions,
            })
        };
        let base =
            |kind: &'static str, proposed: Decimal, summary: String, evidence| Recommendation {
                kind,
                workload: vm.resource_id.clone(),
                team: self.cost.team.clone(),
                service: self.cost.service.clone(),
                currency: self.cost.currency.clone(),
                current_monthly: current,
                proposed_monthly: proposed,
                saving_monthly: current - proposed,
                summary,
                evidence,
            };
        let worth = |proposed: Decimal| current - proposed >= Decimal::new(1, 2);

        // Another family, on demand.
        if let Some((choice, rate, source)) = self.cheapest_on_demand()? {
            let offer = choice.offer;
            let proposed = (rate * hours_month + other).round_dp(6);
            if offer.instance_type != *today_type && worth(proposed) {
                let mut candidate = offer_json(offer);
                candidate["hourly_rate"] = text(rate.round_dp(6)).into();
                candidate["rate_source"] = source.describe().into();
                if let RateSource::Billed { hours, effective } = &source {
                    candidate["billed"] = serde_json::json!({"hours": text(*hours), "effective_cost": text(*effective)});
                }
                let summary = format!(
                    "{} ({} {} in {}) → {} on demand at {}/h, the {}: {} → {} USD/month",
                    vm.resource_id,
                    vm.provider,
                    today_type,
                    self.region,
                    offer.instance_type,
                    rate.round_dp(4).normalize(),
                    source.describe(),
                    current.round_dp(2),
                    proposed.round_dp(2),
                );
                let assumptions = serde_json::json!({"hours_per_month": HOURS_PER_MONTH});
                out.push(base(
                    KIND_FAMILY,
                    proposed,
                    summary,
                    evidence(candidate, assumptions),
                ));
            }
        }

        // Spot, where the tag allows it or the VM is on spot already.
        let tag = vm.spot_tag.trim();
        let allowed = !tag.eq_ignore_ascii_case("never")
            && (tag.eq_ignore_ascii_case("allowed") || vm.on_spot());
        if allowed {
            if let Some(choice) = self
                .index
                .place(&self.request(Market::Spot), 1)?
                .into_iter()
                .next()
            {
                let offer = choice.offer;
                let price = choice.hourly_usd;
                let rate = self
                    .assumptions
                    .interruption_rate(&offer.provider, &offer.instance_type);
                let overhead = self.assumptions.restart_overhead_hours;
                let interruptions = (running * rate * overhead * price).round_dp(6);
                let proposed = (price * hours_month + other + interruptions).round_dp(6);
                let same = vm.on_spot() && offer.instance_type == *today_type;
                if !same && worth(proposed) {
                    let mut candidate = offer_json(offer);
                    candidate["hourly_rate"] = text(price).into();
                    candidate["rate_source"] = "catalog spot".into();
                    let summary = format!(
                        "{} ({} {} in {}) → spot {} in {} at {}/h: {} → {} USD/month",
                        vm.resource_id,
                        vm.provider,
                        today_type,
                        self.region,
                        offer.instance_type,
                        offer.zone.as_deref().unwrap_or(&offer.region),
                        price.normalize(),
                        current.round_dp(2),
                        proposed.round_dp(2),
                    );
                    let assumptions = serde_json::json!({
                        "hours_per_month": HOURS_PER_MONTH,
                        "spot_allowed_by": if tag.eq_ignore_ascii_case("allowed") {
                            format!("tag {SPOT_TAG}=allowed")
                        } else {
                            "billed as spot already".to_string()
                        },
                        "average_instances": text(running.round_dp(6)),
                        "interruptions_per_node_month": text(rate),
                        "restart_overhead_hours": text(overhead),
                        "interruption_cost_monthly": text(interruptions),
                    });
                    out.push(base(
                        KIND_SPOT,
                        proposed,
                        summary,
                        evidence(candidate, assumptions),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Every VM recommendation over the window `[from, to)` (Unix seconds).
pub async fn compute(
    store: &Store,
    from: i64,
    to: i64,
    index: &PlacementIndex,
    assumptions: &Assumptions,
) -> Result<Vec<Recommendation>, RecommendError> {
    let bind = |query| crate::recommend::bind_window(query, from, to);
    let rows: Vec<UsageRow> = store.fetch_all(&bind(q::recommend_vm_usage())).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let costs: Vec<CostRow> = store.fetch_all(&bind(q::recommend_vm_costs())).await?;
    let nodes: Vec<NodeRow> = store.fetch_all(&q::recommend_vm_k8s_nodes()).await?;
    let nodes: Vec<String> = nodes.into_iter().map(|n| n.provider_id).collect();
    let window_hours = Decimal::from(to - from) / Decimal::from(3600);
    let (recs, scan) = recommend_all(&rows, &costs, &nodes, window_hours, index, assumptions)?;
    tracing::info!(
        ?scan,
        recommendations = recs.len(),
        "VM recommendations from billing"
    );
    Ok(recs)
}

#[cfg(test)]
#[path = "recommend_vm_tests.rs"]
mod tests;
