//! The allocation engine, pure and in memory: cost groups (rows aggregated per day and billing
//! dimensions) in, allocations out. Every split is exact (see [`crate::split`]), so for every
//! day: sum of allocations = sum of inputs, for billed and effective cost alike.
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
    pub tag_keys: Vec<String>,
    pub tag_values: Vec<String>,
    pub billed: Dec18,
    pub effective: Dec18,
    pub rows: u64,
    /// Kubernetes namespace, for workload rows made from node cost; empty for billing rows.
    pub k8s_namespace: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
    /// `direct`, `pool` or `unallocated`.
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
    /// The cost group it came from, while it has not been pooled.
    origin: Option<usize>,
    day: u16,
    service: String,
    team: String,
    env: String,
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

/// Allocate cost groups by the rules, then the pools in order.
pub fn allocate(
    config: &AllocationConfig,
    groups: &[CostGroup],
    metrics: &[MetricValue],
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
            Entry {
                origin: Some(i),
                day: row.day,
                service,
                team,
                env,
                kind,
                pool: String::new(),
                method,
                cost_source: format!("{} / {}", row.provider, row.service_name),
                input_ref: if row.resource_id.is_empty() {
                    format!("({})", row.charge_category)
                } else {
                    row.resource_id.clone()
                },
                share: ONE,
                billed: row.billed.0,
                effective: row.effective.0,
                input_rows: row.rows,
            }
        })
        .collect();

    let teams = dominant_teams(&entries);
    let pooled_sources: BTreeSet<&str> = config
        .pools
        .iter()
        .filter_map(|p| p.from_service.as_deref())
        .collect();
    let metrics = MetricIndex::new(metrics);
    for pool in &config.pools {
        entries = apply_pool(pool, entries, groups, &teams, &pooled_sources, &metrics);
    }
    aggregate(entries)
}

/// Each service's team: the team owning most of its direct cost (ties by name).
fn dominant_teams(entries: &[Entry]) -> BTreeMap<String, String> {
    let mut totals: BTreeMap<(&str, &str), i128> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind == AllocationKind::Direct) {
        *totals.entry((&e.service, &e.team)).or_default() += e.effective.abs();
    }
    let mut best: BTreeMap<String, (String, i128)> = BTreeMap::new();
    for ((service, team), total) in totals {
        let slot = best
            .entry(service.to_string())
            .or_insert_with(|| (team.to_string(), total));
        if total > slot.1 {
            *slot = (team.to_string(), total);
        }
    }
    best.into_iter().map(|(s, (t, _))| (s, t)).collect()
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

/// Targets and weights of a pool on one day, and the method label (with any fallback).
fn targets_and_weights(
    pool: &Pool,
    day: u16,
    direct_by_service: &BTreeMap<&str, i128>,
    pooled_sources: &BTreeSet<&str>,
    metrics: &MetricIndex<'_>,
) -> (Vec<String>, Vec<i128>, String) {
    let mut targets: Vec<String> = if pool.method == PoolMethod::Fixed {
        pool.shares.keys().cloned().collect()
    } else if !pool.targets.is_empty() {
        pool.targets.clone()
    } else {
        direct_by_service
            .iter()
            .filter(|(s, cost)| **cost != 0 && **s != UNALLOCATED && !pooled_sources.contains(**s))
            .map(|(s, _)| s.to_string())
            .collect()
    };
    targets.sort();
    targets.dedup();
    let even = |targets: &Vec<String>| vec![1i128; targets.len()];
    let (weights, label) = match pool.method {
        PoolMethod::Even => (even(&targets), "even".to_string()),
        PoolMethod::Fixed => {
            // Percent with 6 decimals, as integers: exact enough and deterministic.
            let weights = targets
                .iter()
                .map(|t| (pool.shares[t] * 1e6).round() as i128)
                .collect();
            (weights, "fixed".to_string())
        }
        PoolMethod::Weighted => {
            let weights = targets
                .iter()
                .map(|t| {
                    direct_by_service
                        .get(t.as_str())
                        .copied()
                        .unwrap_or(0)
                        .max(0)
                })
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

fn apply_pool(
    pool: &Pool,
    entries: Vec<Entry>,
    groups: &[CostGroup],
    teams: &BTreeMap<String, String>,
    pooled_sources: &BTreeSet<&str>,
    metrics: &MetricIndex<'_>,
) -> Vec<Entry> {
    let selected = |e: &Entry| {
        let by_rows =
            pool.when.is_empty() || e.origin.is_some_and(|o| pool.when.matches(&groups[o]));
        let by_service = pool.from_service.as_deref().is_none_or(|s| e.service == s);
        by_rows && by_service
    };
    let (chosen, mut kept): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(selected);

    // Direct cost per service per day: the active services and the `weighted` weights.
    let mut direct: BTreeMap<u16, BTreeMap<&str, i128>> = BTreeMap::new();
    for e in kept.iter().filter(|e| e.kind == AllocationKind::Direct) {
        *direct
            .entry(e.day)
            .or_default()
            .entry(e.service.as_str())
            .or_default() += e.effective;
    }
    // Pooled amounts are split per day, env and billing source.
    let mut sums: BTreeMap<(u16, String, String), (i128, i128, u64, String, String)> =
        BTreeMap::new();
    for e in chosen {
        let source = pool
            .from_service
            .clone()
            .unwrap_or_else(|| e.service.clone());
        let via = if e.pool.is_empty() {
            pool.name.clone()
        } else {
            format!("{} > {}", e.pool, pool.name)
        };
        // The first entry of a slot names the pool path and the source it came through.
        let slot = sums
            .entry((e.day, e.env, e.cost_source))
            .or_insert_with(|| (0, 0, 0, via, source));
        slot.0 += e.billed;
        slot.1 += e.effective;
        slot.2 += e.input_rows;
    }
    let empty = BTreeMap::new();
    let mut produced = Vec::new();
    for ((day, env, cost_source), (billed, effective, rows, via, source)) in sums {
        let (via, source) = (via.as_str(), source.as_str());
        let direct_today = direct.get(&day).unwrap_or(&empty);
        let (targets, weights, method) =
            targets_and_weights(pool, day, direct_today, pooled_sources, metrics);
        if targets.is_empty() {
            // Nobody to split among: the money stays visible where it was, marked as such.
            produced.push(Entry {
                origin: None,
                day,
                service: source.to_string(),
                team: teams
                    .get(source)
                    .cloned()
                    .unwrap_or_else(|| UNALLOCATED.into()),
                env,
                kind: AllocationKind::Pool,
                pool: via.to_string(),
                method: format!("{method} (no targets: kept by source)"),
                cost_source,
                input_ref: source.to_string(),
                share: ONE,
                billed,
                effective,
                input_rows: rows,
            });
            continue;
        }
        let total: i128 = weights.iter().sum();
        let billed_parts = split_exact(billed, &weights);
        let effective_parts = split_exact(effective, &weights);
        for (i, target) in targets.iter().enumerate() {
            if weights[i] == 0 && billed_parts[i] == 0 && effective_parts[i] == 0 {
                continue;
            }
            produced.push(Entry {
                origin: None,
                day,
                service: target.clone(),
                team: teams
                    .get(target)
                    .cloned()
                    .unwrap_or_else(|| "unassigned".into()),
                env: env.clone(),
                kind: AllocationKind::Pool,
                pool: via.to_string(),
                method: method.clone(),
                cost_source: cost_source.clone(),
                input_ref: source.to_string(),
                share: crate::split::fraction(weights[i], total),
                billed: billed_parts[i],
                effective: effective_parts[i],
                input_rows: if i == crate::split::residue_owner(&weights) {
                    rows
                } else {
                    0
                },
            });
        }
    }
    kept.extend(produced);
    kept
}

fn aggregate(entries: Vec<Entry>) -> Vec<Allocation> {
    type Key = (
        u16,
        String,
        String,
        String,
        AllocationKind,
        String,
        String,
        String,
        String,
        i128,
    );
    let mut sums: BTreeMap<Key, (i128, i128, u64)> = BTreeMap::new();
    for e in entries {
        let key = (
            e.day,
            e.service,
            e.team,
            e.env,
            e.kind,
            e.pool,
            e.method,
            e.cost_source,
            e.input_ref,
            e.share,
        );
        let slot = sums.entry(key).or_default();
        slot.0 += e.billed;
        slot.1 += e.effective;
        slot.2 += e.input_rows;
    }
    sums.into_iter()
        .map(
            |(
                (day, service, team, env, kind, pool, method, cost_source, input_ref, share),
                (billed, effective, rows),
            )| Allocation {
                day,
                service,
                team,
                env,
                kind: kind.as_str().to_string(),
                pool,
                method,
                cost_source,
                input_ref,
                share: Dec18(share),
                billed: Dec18(billed),
                effective: Dec18(effective),
                input_rows: rows,
            },
        )
        .collect()
}
