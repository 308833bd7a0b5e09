//! Placement: the cheapest offers that fit a request, best first, and the cheapest way to run N
//! replicas of it on one node shape.
//!
//! Every family in the catalog competes (not only default families): a 4 vCPU / 16 GiB request
//! compares Azure D4s_v5, D4as_v5 and D4_v5 spot in every region with AWS, GCP and the rest.
//!
//! Rules:
//! - vCPUs, memory and GPU count are minimums: an offer fits when it has at least as many of
//!   each. A request with a GPU model is placed only on offers with that model (case-insensitive,
//!   exact: `A100` is not `A100-80GB`); a request without GPUs only on offers without any, so a
//!   CPU service is never put on a GPU machine.
//! - Markets: `Spot` uses the spot price and skips offers without one; `OnDemand` the on-demand
//!   price; `Either` lists both as separate choices. A spot price above the on-demand price
//!   (RunPod's L40S rows) is still that offer's spot price: with `Either` the on-demand choice of
//!   the same offer simply ranks before it.
//! - Zones: each (offer, zone) is a choice of its own; providers without zones (Azure, Lambda)
//!   have one choice per region, with `zone` None.
//! - Order: hourly price, then provider, region, zone (no zone first), instance type, on demand
//!   before spot: the same request always gives the same list.
//!
//! Speed: offers are indexed once, per group (no GPU, or one GPU model) and market, sorted by
//! price, with the largest vCPUs, memory and GPU count of every suffix of the list. A request
//! walks its group's list from the cheapest and stops once it has `limit` choices or nothing
//! further along can fit. Quantities are compared as integers in thousandths (offers rounded
//! down, requests up, so a shape is never taken for larger than it is).
use std::cmp::Ordering;
use std::collections::HashMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::Offer;

/// Which prices a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Market {
    OnDemand,
    Spot,
    Either,
}

/// A GPU model and how many, at least.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuRequest {
    pub model: String,
    pub count: Decimal,
}

impl GpuRequest {
    /// `MODEL:COUNT` (`A100:8`, `L4:1`) or `MODEL` (one).
    pub fn parse(text: &str) -> Result<GpuRequest, PlacementError> {
        let bad = || PlacementError::BadGpus(text.to_string());
        let (model, count) = match text.rsplit_once(':') {
            Some((model, count)) => (
                model.trim(),
                crate::catalog::parse_decimal(count).ok_or_else(bad)?,
            ),
            None => (text.trim(), Decimal::ONE),
        };
        if model.is_empty() || count <= Decimal::ZERO {
            return Err(bad());
        }
        Ok(GpuRequest {
            model: model.to_string(),
            count: count.normalize(),
        })
    }
}

/// What a workload needs (per replica), which market, and where it may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub vcpus: Decimal,
    pub memory_gib: Decimal,
    pub gpu: Option<GpuRequest>,
    pub market: Market,
    /// Empty: every provider.
    pub providers: Vec<String>,
    /// Empty: every region.
    pub regions: Vec<String>,
}

impl Request {
    /// A CPU request in either market, anywhere.
    pub fn cpu(vcpus: Decimal, memory_gib: Decimal) -> Request {
        Request {
            vcpus,
            memory_gib,
            gpu: None,
            market: Market::Either,
            providers: Vec::new(),
            regions: Vec::new(),
        }
    }
}

/// A request that cannot be answered as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    #[error("--gpus {0:?}: expected MODEL:COUNT like A100:8 or L4:1")]
    BadGpus(String),
    #[error("provider {name:?} is not in the catalog (it has {known})")]
    UnknownProvider { name: String, known: String },
    #[error("region {name:?} is not in the catalog")]
    UnknownRegion { name: String },
    #[error("GPU model {name:?} is not in the catalog (it has {known})")]
    UnknownGpu { name: String, known: String },
    #[error("{what} must not be negative")]
    Negative { what: &'static str },
}

/// One answer: an offer in a market at its hourly price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice<'a> {
    pub offer: &'a Offer,
    pub spot: bool,
    pub hourly_usd: Decimal,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    offer: u32,
    provider: u16,
    region: u32,
    spot: bool,
    vcpus: u64,
    memory: u64,
    gpus: u64,
    /// The price in 10^-9 USD, rounded down: for bounds only (totals are exact decimals).
    price_nano: u64,
}

/// Candidates sorted best first, with the largest quantities of each suffix.
#[derive(Debug, Default)]
struct List {
    candidates: Vec<Candidate>,
    suffix_max: Vec<[u64; 3]>,
}

impl List {
    fn build(mut candidates: Vec<Candidate>, offers: &[Offer]) -> List {
        candidates.sort_by(|a, b| compare(offers, a, b));
        let mut suffix_max = vec![[0u64; 3]; candidates.len()];
        let mut max = [0u64; 3];
        for (i, c) in candidates.iter().enumerate().rev() {
            max = [
                max[0].max(c.vcpus),
                max[1].max(c.memory),
                max[2].max(c.gpus),
            ];
            suffix_max[i] = max;
        }
        List {
            candidates,
            suffix_max,
        }
    }
}

fn price_of(offers: &[Offer], c: &Candidate) -> Decimal {
    offers[c.offer as usize]
        .price(c.spot)
        .expect("indexed with a price")
}

fn compare(offers: &[Offer], a: &Candidate, b: &Candidate) -> Ordering {
    let (oa, ob) = (&offers[a.offer as usize], &offers[b.offer as usize]);
    price_of(offers, a)
        .cmp(&price_of(offers, b))
        .then_with(|| oa.provider.cmp(&ob.provider))
        .then_with(|| oa.region.cmp(&ob.region))
        .then_with(|| oa.zone.cmp(&ob.zone))
        .then_with(|| oa.instance_type.cmp(&ob.instance_type))
        .then_with(|| a.spot.cmp(&b.spot))
        .then_with(|| a.offer.cmp(&b.offer))
}

#[derive(Debug, Default)]
struct Lists {
    on_demand: List,
    spot: List,
    either: List,
}

impl Lists {
    fn get(&self, market: Market) -> &List {
        match market {
            Market::OnDemand => &self.on_demand,
            Market::Spot => &self.spot,
            Market::Either => &self.either,
        }
    }
}

/// Thousandths, rounded down (an offer's quantity) or up (a request's).
fn milli(value: Decimal, up: bool) -> u64 {
    let scaled = value * Decimal::from(1000);
    let rounded = if up { scaled.ceil() } else { scaled.floor() };
    rounded.to_u64().unwrap_or(if rounded.is_sign_negative() {
        0
    } else {
        u64::MAX
    })
}

/// 10^-9 units (nano-dollars), rounded down or up; saturating.
fn nano(value: Decimal, up: bool) -> u128 {
    let scaled = value * Decimal::from(1_000_000_000u64);
    let rounded = if up { scaled.ceil() } else { scaled.floor() };
    rounded.to_u128().unwrap_or(if rounded.is_sign_negative() {
        0
    } else {
        u128::MAX
    })
}

/// The offers of a catalog, indexed for placement. Build it once; ask it many times.
#[derive(Debug)]
pub struct PlacementIndex {
    offers: Vec<Offer>,
    providers: Vec<String>,
    regions: HashMap<String, u32>,
    cpu: Lists,
    /// By lowercase GPU model.
    gpu: HashMap<String, Lists>,
    gpu_names: Vec<String>,
}

/// A request resolved against the index.
struct Resolved<'a> {
    list: Option<&'a List>,
    need: [u64; 3],
    providers: Option<Vec<bool>>,
    regions: Option<Vec<bool>>,
}

impl<'a> Resolved<'a> {
    fn allows(&self, c: &Candidate) -> bool {
        self.providers
            .as_ref()
            .is_none_or(|p| p[c.provider as usize])
            && self.regions.as_ref().is_none_or(|r| r[c.region as usize])
    }

    fn fits(&self, c: &Candidate) -> bool {
        c.vcpus >= self.need[0] && c.memory >= self.need[1] && c.gpus >= self.need[2]
    }

    /// Nothing from position `i` on can fit.
    fn exhausted(&self, list: &List, i: usize) -> bool {
        let max = list.suffix_max[i];
        max[0] < self.need[0] || max[1] < self.need[1] || max[2] < self.need[2]
    }
}

impl PlacementIndex {
    pub fn new(offers: Vec<Offer>) -> PlacementIndex {
        let mut providers: Vec<String> = offers.iter().map(|o| o.provider.clone()).collect();
        providers.sort();
        providers.dedup();
        let mut region_names: Vec<&str> = offers.iter().map(|o| o.region.as_str()).collect();
        region_names.sort();
        region_names.dedup();
        let regions: HashMap<String, u32> = region_names
            .iter()
            .enumerate()
            .map(|(i, r)| (r.to_string(), i as u32))
            .collect();
        // (group, market) -> candidates; group None: no GPU.
        let mut groups: HashMap<Option<String>, [Vec<Candidate>; 2]> = HashMap::new();
        let mut gpu_names: Vec<String> = Vec::new();
        for (i, offer) in offers.iter().enumerate() {
            let group = offer.accelerator.as_ref().map(|a| {
                if !gpu_names.iter().any(|n| n.eq_ignore_ascii_case(&a.name)) {
                    gpu_names.push(a.name.clone());
                }
                a.name.to_ascii_lowercase()
            });
            let provider = providers.binary_search(&offer.provider).expect("listed") as u16;
            for spot in [false, true] {
                if offer.price(spot).is_none() {
                    continue;
                }
                groups.entry(group.clone()).or_default()[usize::from(spot)].push(Candidate {
                    offer: i as u32,
                    provider,
                    region: regions[&offer.region],
                    spot,
                    vcpus: milli(offer.vcpus, false),
                    memory: milli(offer.memory_gib, false),
                    gpus: offer
                        .accelerator
                        .as_ref()
                        .map_or(0, |a| milli(a.count, false)),
                    price_nano: nano(offer.price(spot).expect("checked above"), false) as u64,
                });
            }
        }
        gpu_names.sort();
        let mut cpu = Lists::default();
        let mut gpu = HashMap::new();
        for (group, [on_demand, spot]) in groups {
            let either: Vec<Candidate> = on_demand.iter().chain(&spot).copied().collect();
            let lists = Lists {
                on_demand: List::build(on_demand, &offers),
                spot: List::build(spot, &offers),
                either: List::build(either, &offers),
            };
            match group {
                None => cpu = lists,
                Some(name) => {
                    gpu.insert(name, lists);
                }
            }
        }
        PlacementIndex {
            offers,
            providers,
            regions,
            cpu,
            gpu,
            gpu_names,
        }
    }

    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// The providers of the catalog, sorted.
    pub fn providers(&self) -> &[String] {
        &self.providers
    }

    /// The GPU models of the catalog, sorted.
    pub fn gpu_models(&self) -> &[String] {
        &self.gpu_names
    }

    /// The regions of the catalog (of every provider), sorted.
    pub fn regions(&self) -> Vec<&str> {
        let mut regions: Vec<&str> = self.regions.keys().map(String::as_str).collect();
        regions.sort();
        regions
    }

    fn resolve(&self, request: &Request) -> Result<Resolved<'_>, PlacementError> {
        if request.vcpus.is_sign_negative() && !request.vcpus.is_zero() {
            return Err(PlacementError::Negative { what: "vCPUs" });
        }
        if request.memory_gib.is_sign_negative() && !request.memory_gib.is_zero() {
            return Err(PlacementError::Negative { what: "memory" });
        }
        let gpu = request.gpu.as_ref().filter(|g| !g.count.is_zero());
        let list = match gpu {
            None => Some(self.cpu.get(request.market)),
            Some(g) => {
                let lists = self.gpu.get(&g.model.to_ascii_lowercase()).ok_or_else(|| {
                    PlacementError::UnknownGpu {
                        name: g.model.clone(),
                        known: self.gpu_names.join(", "),
                    }
                })?;
                Some(lists.get(request.market))
            }
        };
        let providers = if request.providers.is_empty() {
            None
        } else {
            let mut allowed = vec![false; self.providers.len()];
            for name in &request.providers {
                let i = self
                    .providers
                    .iter()
                    .position(|p| p.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| PlacementError::UnknownProvider {
                        name: name.clone(),
                        known: self.providers.join(", "),
                    })?;
                allowed[i] = true;
            }
            Some(allowed)
        };
        let regions = if request.regions.is_empty() {
            None
        } else {
            let mut allowed = vec![false; self.regions.len()];
            for name in &request.regions {
                let i = self
                    .regions
                    .get(name.trim())
                    .ok_or_else(|| PlacementError::UnknownRegion { name: name.clone() })?;
                allowed[*i as usize] = true;
            }
            Some(allowed)
        };
        Ok(Resolved {
            list,
            need: [
                milli(request.vcpus.max(Decimal::ZERO), true),
                milli(request.memory_gib.max(Decimal::ZERO), true),
                gpu.map_or(0, |g| milli(g.count, true)),
            ],
            providers,
            regions,
        })
    }

    fn choice(&self, c: &Candidate) -> Choice<'_> {
        let offer = &self.offers[c.offer as usize];
        Choice {
            offer,
            spot: c.spot,
            hourly_usd: offer.price(c.spot).expect("indexed with a price"),
        }
    }

    /// The cheapest `limit` choices that fit `request`, best first (see the module notes).
    pub fn place(
        &self,
        request: &Request,
        limit: usize,
    ) -> Result<Vec<Choice<'_>>, PlacementError> {
        let resolved = self.resolve(request)?;
        let mut out = Vec::with_capacity(limit.min(64));
        let Some(list) = resolved.list else {
            return Ok(out);
        };
        for (i, c) in list.candidates.iter().enumerate() {
            if out.len() >= limit || resolved.exhausted(list, i) {
                break;
            }
            if resolved.fits(c) && resolved.allows(c) {
                out.push(self.choice(c));
            }
        }
        Ok(out)
    }

    /// The cheapest way to run `replicas` copies of `request` on nodes of one shape, for the
    /// `limit` best shapes (each offer, zone and market a shape), cheapest total first, equal
    /// totals in the order of [`PlacementIndex::place`]: see [`Packing`]. The walk stops once
    /// no later shape can beat the `limit`-th total.
    pub fn pack(
        &self,
        request: &Request,
        replicas: u64,
        limit: usize,
    ) -> Result<Vec<Packing<'_>>, PlacementError> {
        let resolved = self.resolve(request)?;
        let Some(list) = resolved.list else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let replicas = replicas.max(1);
        // The best `limit` so far, sorted by total; equal totals keep the index's order.
        let mut best: Vec<Packing<'_>> = Vec::new();
        // Once `best` is full: its worst total in 10^-9 USD, rounded up. Compared with prices
        // rounded down, integer bounds below it are safe (never drop a better shape).
        let mut worst_nano = u128::MAX;
        for (i, c) in list.candidates.iter().enumerate() {
            if resolved.exhausted(list, i) {
                break;
            }
            if best.len() >= limit {
                // Prices only grow along the list and the room per node only shrinks, so
                // price × ceil(replicas / the most any later node holds) bounds every later
                // total from below: once it reaches the worst kept total, nothing later can
                // enter the list.
                let (most, _) = replicas_per_node(list.suffix_max[i], resolved.need);
                let bound = c.price_nano as u128 * replicas.div_ceil(most.max(1)) as u128;
                if bound >= worst_nano {
                    break;
                }
            }
            if !(resolved.fits(c) && resolved.allows(c)) {
                continue;
            }
            let (per_node, binding) = replicas_per_node([c.vcpus, c.memory, c.gpus], resolved.need);
            let nodes = replicas.div_ceil(per_node);
            if best.len() >= limit && c.price_nano as u128 * nodes as u128 > worst_nano {
                continue;
            }
            let total = price_of(&self.offers, c) * Decimal::from(nodes);
            if best.len() >= limit
                && best
                    .last()
                    .is_none_or(|worst| total >= worst.total_hourly_usd)
            {
                continue;
            }
            let at = best.partition_point(|p| p.total_hourly_usd <= total);
            best.insert(
                at,
                Packing {
                    choice: self.choice(c),
                    replicas_per_node: per_node,
                    nodes,
                    binding,
                    total_hourly_usd: total,
                },
            );
            best.truncate(limit);
            if best.len() >= limit {
                worst_nano = best
                    .last()
                    .map_or(u128::MAX, |w| nano(w.total_hourly_usd, true));
            }
        }
        let packings = best;
        Ok(packings)
    }
}

/// Which resource limits how many replicas fit on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Vcpus,
    Memory,
    Gpus,
}

/// N replicas on nodes of one shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Packing<'a> {
    pub choice: Choice<'a>,
    /// How many replicas one node holds.
    pub replicas_per_node: u64,
    /// ceil(replicas / replicas_per_node).
    pub nodes: u64,
    /// The resource that allows the fewest replicas per node (vCPUs on ties, then memory).
    pub binding: Dimension,
    /// nodes × the node's hourly price.
    pub total_hourly_usd: Decimal,
}

/// How many items of size `need` fit in `node` (thousandths: vCPUs, memory, GPUs), and the
/// dimension that binds. At least 1 when the item fits at all; a zero need never binds.
fn replicas_per_node(node: [u64; 3], need: [u64; 3]) -> (u64, Dimension) {
    let dims = [Dimension::Vcpus, Dimension::Memory, Dimension::Gpus];
    let mut best = (u64::MAX, Dimension::Vcpus);
    for d in 0..3 {
        if need[d] == 0 {
            continue;
        }
        let fit = node[d] / need[d];
        if fit < best.0 {
            best = (fit, dims[d]);
        }
    }
    if best.0 == u64::MAX {
        // A request of nothing: one per node (a node is still a node).
        best.0 = 1;
    }
    best
}

/// Quantities of one item or one node for [`first_fit_decreasing`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shape {
    pub vcpus: Decimal,
    pub memory_gib: Decimal,
    pub gpus: Decimal,
}

impl Shape {
    fn milli(&self, up: bool) -> [u64; 3] {
        [
            milli(self.vcpus, up),
            milli(self.memory_gib, up),
            milli(self.gpus, up),
        ]
    }

    /// An offer's shape.
    pub fn of(offer: &Offer) -> Shape {
        Shape {
            vcpus: offer.vcpus,
            memory_gib: offer.memory_gib,
            gpus: offer
                .accelerator
                .as_ref()
                .map_or(Decimal::ZERO, |a| a.count),
        }
    }
}

/// Pack `items` onto nodes of shape `node` by first-fit decreasing: items in decreasing order of
/// their largest share of the node (ties: the earlier item first), each into the first open node
/// with room for it in every dimension, else into a new node. Returns each node's item indices,
/// or `Err(i)` with an item that does not fit an empty node. For N equal items this opens
/// ceil(N / k) nodes, k the replicas one node holds by its binding dimension.
pub fn first_fit_decreasing(node: &Shape, items: &[Shape]) -> Result<Vec<Vec<usize>>, usize> {
    let capacity = node.milli(false);
    let sizes: Vec<[u64; 3]> = items.iter().map(|i| i.milli(true)).collect();
    // The largest share as a fraction compared exactly: a/b > c/d ⇔ a·d > c·b.
    let share = |s: &[u64; 3]| -> (u64, u64) {
        let mut best = (0u64, 1u64);
        for d in 0..3 {
            if capacity[d] == 0 {
                if s[d] > 0 {
                    return (1, 0); // infinite: cannot fit
                }
                continue;
            }
            if (s[d] as u128) * (best.1 as u128) > (best.0 as u128) * (capacity[d] as u128) {
                best = (s[d], capacity[d]);
            }
        }
        best
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (share(&sizes[a]), share(&sizes[b]));
        let lhs = (sb.0 as u128) * (sa.1 as u128);
        let rhs = (sa.0 as u128) * (sb.1 as u128);
        lhs.cmp(&rhs).then(a.cmp(&b))
    });
    let mut nodes: Vec<(Vec<usize>, [u64; 3])> = Vec::new();
    for i in order {
        let size = sizes[i];
        if (0..3).any(|d| size[d] > capacity[d]) {
            return Err(i);
        }
        match nodes
            .iter_mut()
            .find(|(_, free)| (0..3).all(|d| free[d] >= size[d]))
        {
            Some((members, free)) => {
                members.push(i);
                for d in 0..3 {
                    free[d] -= size[d];
                }
            }
            None => {
                let mut free = capacity;
                for d in 0..3 {
                    free[d] -= size[d];
                }
                nodes.push((vec![i], free));
            }
        }
    }
    Ok(nodes.into_iter().map(|(members, _)| members).collect())
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
