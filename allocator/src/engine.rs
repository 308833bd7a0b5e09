//! The allocation engine, pure and in memory: cost groups (rows aggregated per day and billing
//! dimensions) in, allocations out. Every split is exact (see [`crate::split`]), so for every
//! day and currency: sum of allocations = sum of inputs, for billed and effective cost alike.
//!
//! Each day is allocated on its own: nothing computed for one day (the dominant team of a
//! service, the active services, the weights) depends on another day of the input, so a day's
//! allocation is the same whatever window it was allocated in. Only proportional pools look back
//! in time, at the metric values of up to 31 earlier days, which the caller passes.
//!
//! Amounts of different currencies are never added: pools split each currency's amount on its
//! own, and every output row carries one currency.
use std::collections::{BTreeMap, BTreeSet};

use clickhouse::Row;
use queries::Dec18;
use serde::{Deserialize, Serialize};

use crate::config::{AllocationConfig, MissingMetric, OwnerValue, Pool, PoolMethod, UNALLOCATED};
use crate::split::split_exact;

/// Cost rows of one day sharing their billing dimensions (sql/allocation_inputs.sql).
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct CostGroup {
    /// Days since 1970-01-01 (ClickHouse `Date`).
    pub day: u16,
    pub provider: String,
    pub service_name: String,
    pub service_category: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    pub resource_id: String,
    pub charge_category: String,
    /// FOCUS BillingCurrency, e.g. `USD`.
    pub currency: String,
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub billed: Dec18,
    pub effective: Dec18,
    pub rows: u64,
    /// Kubernetes namespace, for workload rows made from node cost; empty for billing rows.
    pub k8s_namespace: String,
    /// For the day's share of a charge spanning several days: its charge period, `2026-09-01 →
    /// 2026-10-01` (see [`crate::spread`]); empty for single-day charges.
    pub charge_period: String,
}

impl CostGroup {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tag_keys
            .iter()
            .position(|k| k == key)
            .map(|i| self.tag_values[i].as_str())
    }
}

/// One service's value of a metric on one day (sql/allocation_metrics.sql).
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct MetricValue {
    pub day: u16,
    pub metric: String,
    pub service: String,
    pub value: Dec18,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AllocationKind {
    /// Owned by a rule.
    Direct,
    /// Received from a shared pool.
    Pool,
    /// Matched by no rule.
    Unallocated,
}

impl AllocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AllocationKind::Direct => "direct",
            AllocationKind::Pool => "pool",
            AllocationKind::Unallocated => "unallocated",
        }
    }
}

/// One row of the `allocations` table.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct Allocation {
    pub day: u16,
    pub service: String,
    pub team: String,
    pub env: String,
    /// The billing currency of `billed` and `effective`.
    pub currency: String,
    /// `direct`, `pool`, `unallocated` or `idle`.
    pub kind: String,
    /// Pools this amount went through, `kafka > platform`; empty for direct.
    pub pool: String,
    /// `rule:<name>`, `even`, `proportional:<metric>`, `weighted`, `fixed`, with any fallback.
    pub method: String,
    /// Where the money was billed: `<Provider> / <ServiceName>`.
    pub cost_source: String,
    /// The input rows: a ResourceId (or charge category when there is none) for direct and
    /// unallocated amounts, the pooled source for pool amounts.
    pub input_ref: String,
    /// Fraction of the pooled amount this service received in the last split (1 for direct).
    pub share: Dec18,
    pub billed: Dec18,
    pub effective: Dec18,
    pub input_rows: u64,
}

const ONE: i128 = 1_000_000_000_000_000_000;

#[derive(Debug, Clone)]
struct Entry {
    /// False once a pool took it (its amount lives on in the pool's entries).
    live: bool,
    /// The cost group it came from, while it has not been pooled.
    origin: Option<usize>,
    day: u16,
    service: String,
    team: String,
    env: String,
    currency: String,
    kind: AllocationKind,
    pool: String,
    method: String,
    cost_source: String,
    input_ref: String,
    share: i128,
    billed: i128,
    effective: i128,
    input_rows: u64,
}

fn resolve(value: &OwnerValue, row: &CostGroup) -> Option<String> {
    match value {
        OwnerValue::Literal(s) => Some(s.clone()),
        OwnerValue::FromTags { tag, default } => tag
            .iter()
            .find_map(|key| row.tag(key).filter(|v| !v.is_empty()).map(str::to_string))
            .or_else(|| default.clone()),
    }
}

/// Ownership by the first rule that matches and resolves a service.
fn owner(config: &AllocationConfig, row: &CostGroup) -> Option<(String, String, String, String)> {
    config.rules.iter().find_map(|rule| {
        if !rule.when.matches(row) {
            return None;
        }
        let service = resolve(&rule.service, row)?;
        let team = rule
            .team
            .as_ref()
            .and_then(|t| resolve(t, row))
            .unwrap_or_else(|| "unassigned".into());
        let env = rule
            .env
            .as_ref()
            .and_then(|e| resolve(e, row))
            .unwrap_or_default();
        Some((service, team, env, rule.name.clone()))
    })
}

/// Allocate cost groups by the rules, then the pools in order; each day on its own (see the
/// module documentation). `metrics` holds the values proportional pools split by, with up to 31
/// days before the first day for the `previous` fallback.
pub fn allocate(
    config: &AllocationConfig,
    groups: &[CostGroup],
    metrics: &[MetricValue],
) -> Vec<Allocation> {
    let metrics = MetricIndex::new(metrics);
    let mut by_day: BTreeMap<u16, Vec<&CostGroup>> = BTreeMap::new();
    for g in groups {
        by_day.entry(g.day).or_default().push(g);
    }
    let mut out = Vec::new();
    for groups in by_day.values() {
        out.extend(allocate_day(config, groups, &metrics));
    }
    out
}

/// One day's cost groups.
fn allocate_day(
    config: &AllocationConfig,
    groups: &[&CostGroup],
    metrics: &MetricIndex<'_>,
) -> Vec<Allocation> {
    let mut entries: Vec<Entry> = groups
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (service, team, env, kind, method) = match owner(config, row) {
                Some((service, team, env, rule)) => (
                    service,
                    team,
                    env,
                    AllocationKind::Direct,
                    format!("rule:{rule}"),
                ),
                None => (
                    UNALLOCATED.into(),
                    UNALLOCATED.into(),
                    String::new(),
                    AllocationKind::Unallocated,
                    "no rule matched".into(),
                ),
            };
            let mut input_ref = if row.resource_id.is_empty() {
                format!("({})", row.charge_category)
            } else {
                row.resource_id.clone()
            };
            if !row.charge_period.is_empty() {
                input_ref = format!("{input_ref} [spread {}]", row.charge_period);
            }
            Entry {
                live: true,
                origin: Some(i),
                day: row.day,
                service,
                team,
                env,
                currency: row.currency.clone(),
                kind,
                pool: String::new(),
                method,
                cost_source: format!("{} / {}", row.provider, row.service_name),
                input_ref,
                share: ONE,
                billed: row.billed.0,
                effective: row.effective.0,
                input_rows: row.rows,
            }
        })
        .collect();

    let teams = DominantTeams::new(&entries);
    let mut direct = DirectCost::new(&entries);
    let pooled_sources: BTreeSet<&str> = config
        .pools
        .iter()
        .filter_map(|p| p.from_service.as_deref())
        .collect();
    for pool in &config.pools {
        apply_pool(
            pool,
            &mut entries,
            groups,
            &teams,
            &mut direct,
            &pooled_sources,
            metrics,
        );
    }
    aggregate(entries)
}

/// Each service's team on one day: the team owning most of its direct cost that day (ties by
/// name), compared within one currency. A pooled amount in a currency takes the service's team
/// in that currency; a service with no direct cost in it takes its team in the first currency
/// (by code) it has direct cost in.
struct DominantTeams {
    /// service → currency → team
    by_service: BTreeMap<String, BTreeMap<String, String>>,
}

impl DominantTeams {
    fn new(entries: &[Entry]) -> DominantTeams {
        let mut totals: BTreeMap<(&str, &str, &str), i128> = BTreeMap::new();
        for e in entries.iter().filter(|e| e.kind == AllocationKind::Direct) {
            *totals
                .entry((&e.service, &e.currency, &e.team))
                .or_default() += e.effective.abs();
        }
        let mut best: BTreeMap<(&str, &str), (&str, i128)> = BTreeMap::new();
        for ((service, currency, team), total) in totals {
            let slot = best.entry((service, currency)).or_insert((team, total));
            if total > slot.1 {
                *slot = (team, total);
            }
        }
        let mut by_service: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for ((service, currency), (team, _)) in best {
            by_service
                .entry(service.to_string())
                .or_default()
                .insert(currency.to_string(), team.to_string());
        }
        DominantTeams { by_service }
    }

    fn get(&self, service: &str, currency: &str) -> Option<&String> {
        let teams = self.by_service.get(service)?;
        teams.get(currency).or_else(|| teams.values().next())
    }
}

struct MetricIndex<'a> {
    /// metric → day → service → value
    by_metric: BTreeMap<&'a str, BTreeMap<u16, BTreeMap<&'a str, i128>>>,
}

impl<'a> MetricIndex<'a> {
    fn new(values: &'a [MetricValue]) -> MetricIndex<'a> {
        let mut by_metric: BTreeMap<&str, BTreeMap<u16, BTreeMap<&str, i128>>> = BTreeMap::new();
        for v in values {
            by_metric
                .entry(&v.metric)
                .or_default()
                .entry(v.day)
                .or_default()
                .insert(&v.service, v.value.0);
        }
        MetricIndex { by_metric }
    }

    /// The values of `metric` on `day`, or (when allowed) on the latest earlier day within 31 days.
    fn values(
        &self,
        metric: &str,
        day: u16,
        fallback: MissingMetric,
    ) -> Option<(u16, &BTreeMap<&'a str, i128>)> {
        let days = self.by_metric.get(metric)?;
        if let Some(values) = days.get(&day) {
            return Some((day, values));
        }
        if fallback == MissingMetric::Previous {
            return days
                .range(day.saturating_sub(31)..day)
                .next_back()
                .map(|(d, v)| (*d, v));
        }
        None
    }
}

fn date(day: u16) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Days::new(u64::from(day)))
    .to_string()
}

/// One day's direct cost (entries owned by a rule and not taken by a pool yet), per currency and
/// service: what a pool's default targets and `weighted` weights are made of. Kept up to date as
/// pools take direct entries.
struct DirectCost {
    /// currency → service → direct effective cost
    by_currency: BTreeMap<String, BTreeMap<String, i128>>,
}

impl DirectCost {
    fn new(entries: &[Entry]) -> DirectCost {
        let mut by_currency: BTreeMap<String, BTreeMap<String, i128>> = BTreeMap::new();
        for e in entries
            .iter()
            .filter(|e| e.live && e.kind == AllocationKind::Direct)
        {
            let services = match by_currency.get_mut(&e.currency) {
                Some(services) => services,
                None => by_currency.entry(e.currency.clone()).or_default(),
            };
            match services.get_mut(&e.service) {
                Some(total) => *total += e.effective,
                None => {
                    services.insert(e.service.clone(), e.effective);
                }
            }
        }
        DirectCost { by_currency }
    }

    /// A direct entry was taken by a pool.
    fn remove(&mut self, e: &Entry) {
        if let Some(total) = self
            .by_currency
            .get_mut(&e.currency)
            .and_then(|s| s.get_mut(&e.service))
        {
            *total -= e.effective;
        }
    }

    /// Services with direct cost, in any currency: the default targets.
    fn active(&self) -> BTreeSet<&str> {
        self.by_currency
            .values()
            .flat_map(|services| services.iter())
            .filter(|(_, cost)| **cost != 0)
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

/// Targets and weights of a pool on one day for an amount in `currency`, and the method label
/// (with any fallback).
fn targets_and_weights(
    pool: &Pool,
    day: u16,
    currency: &str,
    direct: &DirectCost,
    pooled_sources: &BTreeSet<&str>,
    metrics: &MetricIndex<'_>,
) -> (Vec<String>, Vec<i128>, String) {
    let mut targets: Vec<String> = if pool.method == PoolMethod::Fixed {
        pool.shares.keys().cloned().collect()
    } else if !pool.targets.is_empty() {
        pool.targets.clone()
    } else {
        direct
            .active()
            .into_iter()
            .filter(|s| *s != UNALLOCATED && !pooled_sources.contains(*s))
            .map(|s| s.to_string())
            .collect()
    };
    targets.sort();
    targets.dedup();
    let even = |targets: &Vec<String>| vec![1i128; targets.len()];
    let (weights, label) = match pool.method {
        PoolMethod::Even => (even(&targets), "even".to_string()),
        PoolMethod::Fixed => {
            // Percent as exact Decimal(38, 18) units.
            let weights = targets
                .iter()
                .map(|t| {
                    crate::config::share_units(pool.shares[t])
                        .unwrap_or(0)
                        .max(0)
                })
                .collect();
            (weights, "fixed".to_string())
        }
        PoolMethod::Weighted => {
            let empty = BTreeMap::new();
            let costs = direct.by_currency.get(currency).unwrap_or(&empty);
            let weights = targets
                .iter()
                .map(|t| costs.get(t.as_str()).copied().unwrap_or(0).max(0))
                .collect();
            (weights, "weighted".to_string())
        }
        PoolMethod::Proportional => {
            let metric = pool.metric.as_deref().unwrap_or_default();
            match metrics.values(metric, day, pool.missing_metric) {
                Some((found_day, values)) => {
                    if pool.targets.is_empty() {
                        // Every service reporting the metric takes part.
                        targets = values
                            .keys()
                            .map(|s| s.to_string())
                            .filter(|s| !pooled_sources.contains(s.as_str()))
                            .collect();
                    }
                    let weights = targets
                        .iter()
                        .map(|t| values.get(t.as_str()).copied().unwrap_or(0).max(0))
                        .collect();
                    let label = if found_day == day {
                        format!("proportional:{metric}")
                    } else {
                        format!(
                            "proportional:{metric} (fallback: values of {})",
                            date(found_day)
                        )
                    };
                    (weights, label)
                }
                None => (
                    even(&targets),
                    format!("even (fallback: no {metric} values)"),
                ),
            }
        }
    };
    if !weights.is_empty() && weights.iter().all(|w| *w == 0) {
        return (
            targets.clone(),
            even(&targets),
            format!("even (fallback: {label} weights all zero)"),
        );
    }
    (targets, weights, label)
}

/// A pooled amount: per day, env, billing source and currency.
struct PoolSlot {
    billed: i128,
    effective: i128,
    rows: u64,
    via: String,
    source: String,
}

/// Take what the pool selects out of the live entries and append its split.
fn apply_pool(
    pool: &Pool,
    entries: &mut Vec<Entry>,
    groups: &[&CostGroup],
    teams: &DominantTeams,
    direct: &mut DirectCost,
    pooled_sources: &BTreeSet<&str>,
    metrics: &MetricIndex<'_>,
) {
    let selected = |e: &Entry| {
        let by_rows =
            pool.when.is_empty() || e.origin.is_some_and(|o| pool.when.matches(groups[o]));
        let by_service = pool.from_service.as_deref().is_none_or(|s| e.service == s);
        by_rows && by_service
    };
    // Pooled amounts are split per day, env, billing source and currency.
    let mut sums: BTreeMap<(u16, String, String, String), PoolSlot> = BTreeMap::new();
    for e in entries.iter_mut().filter(|e| e.live) {
        if !selected(e) {
            continue;
        }
        e.live = false;
        if e.kind == AllocationKind::Direct {
            direct.remove(e);
        }
        let key = (
            e.day,
            std::mem::take(&mut e.env),
            std::mem::take(&mut e.cost_source),
            std::mem::take(&mut e.currency),
        );
        // The first entry of a slot names the pool path and the source it came through.
        let slot = sums.entry(key).or_insert_with(|| PoolSlot {
            billed: 0,
            effective: 0,
            rows: 0,
            via: if e.pool.is_empty() {
                pool.name.clone()
            } else {
                format!("{} > {}", e.pool, pool.name)
            },
            source: pool
                .from_service
                .clone()
                .unwrap_or_else(|| e.service.clone()),
        });
        slot.billed += e.billed;
        slot.effective += e.effective;
        slot.rows += e.input_rows;
    }
    for ((day, env, cost_source, currency), slot) in sums {
        let (via, source) = (slot.via.as_str(), slot.source.as_str());
        let (targets, weights, method) =
            targets_and_weights(pool, day, &currency, direct, pooled_sources, metrics);
        if targets.is_empty() {
            // Nobody to split among: the money stays visible where it was, marked as such.
            entries.push(Entry {
                live: true,
                origin: None,
                day,
                service: source.to_string(),
                team: teams
                    .get(source, &currency)
                    .cloned()
                    .unwrap_or_else(|| UNALLOCATED.into()),
                env,
                currency,
                kind: AllocationKind::Pool,
                pool: via.to_string(),
                method: format!("{method} (no targets: kept by source)"),
                cost_source,
                input_ref: source.to_string(),
                share: ONE,
                billed: slot.billed,
                effective: slot.effective,
                input_rows: slot.rows,
            });
            continue;
        }
        let total: i128 = weights.iter().sum();
        let billed_parts = split_exact(slot.billed, &weights);
        let effective_parts = split_exact(slot.effective, &weights);
        let residue_owner = crate::split::residue_owner(&weights);
        for (i, target) in targets.iter().enumerate() {
            if weights[i] == 0 && billed_parts[i] == 0 && effective_parts[i] == 0 {
                continue;
            }
            entries.push(Entry {
                live: true,
                origin: None,
                day,
                service: target.clone(),
                team: teams
                    .get(target, &currency)
                    .cloned()
                    .unwrap_or_else(|| "unassigned".into()),
                env: env.clone(),
                currency: currency.clone(),
                kind: AllocationKind::Pool,
                pool: via.to_string(),
                method: method.clone(),
                cost_source: cost_source.clone(),
                input_ref: source.to_string(),
                share: crate::split::fraction(weights[i], total),
                billed: billed_parts[i],
                effective: effective_parts[i],
                input_rows: if i == residue_owner { slot.rows } else { 0 },
            });
        }
    }
}

/// The live entries summed per output row (same day, owner, currency, kind, pool, method, billing
/// source, input and share), in the order each row first occurs. Hashed by reference rather than
/// kept in a map keyed by the (large) row key: a day has tens of thousands of entries.
fn aggregate(mut entries: Vec<Entry>) -> Vec<Allocation> {
    // For each live entry, the first entry with its key.
    let mut first_of: Vec<usize> = vec![usize::MAX; entries.len()];
    let mut firsts: Vec<usize> = Vec::new();
    {
        let mut seen: std::collections::HashMap<_, usize> =
            std::collections::HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.live) {
            let key = (
                e.day,
                (
                    e.service.as_str(),
                    e.team.as_str(),
                    e.env.as_str(),
                    e.currency.as_str(),
                ),
                e.kind,
                (
                    e.pool.as_str(),
                    e.method.as_str(),
                    e.cost_source.as_str(),
                    e.input_ref.as_str(),
                ),
                e.share,
            );
            let first = *seen.entry(key).or_insert_with(|| {
                firsts.push(i);
                i
            });
            first_of[i] = first;
        }
    }
    let mut sums: Vec<(i128, i128, u64)> = vec![(0, 0, 0); entries.len()];
    for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.live) {
        let slot = &mut sums[first_of[i]];
        slot.0 += e.billed;
        slot.1 += e.effective;
        slot.2 += e.input_rows;
    }
    firsts
        .into_iter()
        .map(|i| {
            let e = &mut entries[i];
            let (billed, effective, rows) = sums[i];
            Allocation {
                day: e.day,
                service: std::mem::take(&mut e.service),
                team: std::mem::take(&mut e.team),
                env: std::mem::take(&mut e.env),
                currency: std::mem::take(&mut e.currency),
                kind: e.kind.as_str().to_string(),
                pool: std::mem::take(&mut e.pool),
                method: std::mem::take(&mut e.method),
                cost_source: std::mem::take(&mut e.cost_source),
                input_ref: std::mem::take(&mut e.input_ref),
                share: Dec18(e.share),
                billed: Dec18(billed),
                effective: Dec18(effective),
                input_rows: rows,
            }
        })
        .collect()
}
