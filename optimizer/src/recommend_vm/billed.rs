//! The VMs of a window's billing rows: resources whose hourly Usage rows name an instance type.
use std::collections::{BTreeMap, BTreeSet};

use clickhouse::Row;
use queries::Dec18;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::billing_text::{self, billed_instance, catalog_provider, BilledInstance, Purchase};
use crate::recommend::{dec, RecommendError};

/// sql/recommend_vm_usage.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct UsageRow {
    pub provider: String,
    pub resource_id: String,
    pub region_id: String,
    pub region_name: String,
    pub zone: String,
    pub service_name: String,
    pub description: String,
    pub currency: String,
    pub pricing_category: String,
    pub commitment_type: String,
    pub pricing_unit: String,
    pub consumed_unit: String,
    pub pricing_quantity: Dec18,
    pub consumed_quantity: Dec18,
    pub effective: Dec18,
    pub list: Dec18,
    pub rows: u64,
    pub spot_tag: String,
}

impl UsageRow {
    /// The hours of the row: the consumed quantity where it counts hours, else the priced one.
    pub fn hours(&self) -> Result<Decimal, RecommendError> {
        let consumed = dec(self.consumed_quantity, "consumed quantity")?;
        if billing_text::is_hours(&self.consumed_unit) && consumed > Decimal::ZERO {
            return Ok(consumed);
        }
        if billing_text::is_hours(&self.pricing_unit) {
            return dec(self.pricing_quantity, "pricing quantity");
        }
        Ok(Decimal::ZERO)
    }
}

/// sql/recommend_vm_k8s_nodes.sql
#[derive(Debug, Clone, Row, Deserialize)]
pub struct NodeRow {
    pub provider_id: String,
}

/// How the billed resources of the window were sorted out (in every VM recommendation's
/// evidence, and logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// Resources with hourly usage in the window.
    pub resources: usize,
    /// No row of theirs names an instance type: not VMs, or a text without one (GCP).
    pub without_instance_type: usize,
    pub kubernetes_nodes: usize,
    pub not_linux: usize,
    pub not_usd: usize,
    /// Their type or region is not in the catalog.
    pub not_in_catalog: usize,
    pub without_allocated_cost: usize,
    /// VMs weighed for a recommendation.
    pub weighed: usize,
}

/// One VM: a billed resource with an instance type, its hours in the window and their cost.
#[derive(Debug, Clone)]
pub struct Vm {
    pub resource_id: String,
    pub currency: String,
    pub focus_provider: String,
    /// The catalog's name of the provider.
    pub provider: String,
    pub region_id: String,
    pub region_name: String,
    pub zone: String,
    pub service_name: String,
    /// As billed, for the type with the most hours.
    pub instance: BilledInstance,
    pub spot_tag: String,
    /// Instance hours (every type of the resource) and their effective cost.
    pub hours: Decimal,
    pub effective: Decimal,
    /// The list cost billing gives for the same hours.
    pub list: Decimal,
    pub rows: u64,
    pub descriptions: BTreeSet<String>,
    pub pricing_categories: BTreeSet<String>,
    pub commitment_types: BTreeSet<String>,
}

impl Vm {
    pub fn on_spot(&self) -> bool {
        self.instance.purchase == Purchase::Spot || self.pricing_categories.contains("Dynamic")
    }
}

/// Hours of a resource per billed instance.
type HoursByInstance = BTreeMap<BilledInstance, Decimal>;

/// The VMs among usage rows (per resource and currency), and how many resources name no type.
pub fn find_vms(rows: &[UsageRow]) -> Result<(Vec<Vm>, Scan), RecommendError> {
    let mut scan = Scan::default();
    let mut resources: BTreeSet<&str> = BTreeSet::new();
    // (resource, currency) → the VM so far, and hours per billed instance.
    let mut found: BTreeMap<(&str, &str), (Vm, HoursByInstance)> = BTreeMap::new();
    for row in rows {
        resources.insert(&row.resource_id);
        let provider = catalog_provider(&row.provider);
        let Some(instance) = billed_instance(&provider, &row.description) else {
            continue;
        };
        let hours = row.hours()?;
        let effective = dec(row.effective, "effective cost")?;
        let (vm, by_instance) = found
            .entry((&row.resource_id, &row.currency))
            .or_insert_with(|| {
                let vm = Vm {
                    resource_id: row.resource_id.clone(),
                    currency: row.currency.clone(),
                    focus_provider: row.provider.clone(),
                    provider: provider.clone(),
                    region_id: row.region_id.clone(),
                    region_name: row.region_name.clone(),
                    zone: row.zone.clone(),
                    service_name: row.service_name.clone(),
                    instance: instance.clone(),
                    spot_tag: row.spot_tag.clone(),
                    hours: Decimal::ZERO,
                    effective: Decimal::ZERO,
                    list: Decimal::ZERO,
                    rows: 0,
                    descriptions: BTreeSet::new(),
                    pricing_categories: BTreeSet::new(),
                    commitment_types: BTreeSet::new(),
                };
                (vm, BTreeMap::new())
            });
        vm.hours += hours;
        vm.effective += effective;
        vm.list += dec(row.list, "list cost")?;
        vm.rows += row.rows;
        vm.descriptions.insert(row.description.clone());
        for (set, value) in [
            (&mut vm.pricing_categories, &row.pricing_category),
            (&mut vm.commitment_types, &row.commitment_type),
        ] {
            if !value.is_empty() {
                set.insert(value.clone());
            }
        }
        if !row.spot_tag.is_empty() {
            vm.spot_tag = row.spot_tag.clone();
        }
        *by_instance.entry(instance).or_default() += hours;
    }
    let typed: BTreeSet<&str> = found.keys().map(|(resource, _)| *resource).collect();
    scan.resources = resources.len();
    scan.without_instance_type = resources.len() - typed.len();
    let vms = found
        .into_values()
        .map(|(mut vm, by_instance)| {
            // The instance with the most hours (ties: the first by type).
            if let Some((key, _)) = by_instance
                .into_iter()
                .reduce(|a, b| if b.1 > a.1 { b } else { a })
            {
                vm.instance = key;
            }
            vm
        })
        .collect();
    Ok((vms, scan))
}
