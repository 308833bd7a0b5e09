//! `[allocation]` in costmill.toml: ordered ownership rules and shared pools.
use std::collections::{BTreeMap, BTreeSet};

use queries::Dec18;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::matcher::Matcher;

/// The owner every report shows for spend no rule claims.
pub const UNALLOCATED: &str = "unallocated";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationConfig {
    /// Ordered; the first rule that matches a cost row (and resolves its service) owns it.
    pub rules: Vec<Rule>,
    /// Applied in order after the rules; a pool may split what an earlier pool produced.
    pub pools: Vec<Pool>,
    /// Node cost to workloads; its relative unit prices also split Slurm node cost.
    pub kubernetes: crate::kubernetes::KubernetesConfig,
    /// Job cost by partition rates.
    pub slurm: crate::slurm::SlurmConfig,
}

/// A literal owner, or one read from tag keys tried in order (`{ tag = ["service", "app"] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OwnerValue {
    Literal(String),
    FromTags {
        tag: Vec<String>,
        /// Used when none of the keys is present. Without it, the rule does not match.
        #[serde(default)]
        default: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Shown by `costmill explain`.
    pub name: String,
    /// Which rows; empty matches every row.
    #[serde(default)]
    pub when: Matcher,
    pub service: OwnerValue,
    /// Default: the service's team from `[allocation]` rules is unknown, so `unassigned`.
    #[serde(default)]
    pub team: Option<OwnerValue>,
    /// Default: empty.
    #[serde(default)]
    pub env: Option<OwnerValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMethod {
    /// n-way among the targets.
    Even,
    /// By a per-service daily metric (`metric`).
    Proportional,
    /// By the targets' own direct effective cost that day.
    Weighted,
    /// By fixed percentages (`shares`, summing to 100).
    Fixed,
}

/// What a proportional pool does on a day its metric is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingMetric {
    /// The most recent earlier day with values (up to 31 days back), else an even split.
    #[default]
    Previous,
    /// An even split among the targets.
    Even,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub name: String,
    /// Rows to split, by their billing dimensions.
    #[serde(default)]
    pub when: Matcher,
    /// Or: what rules and earlier pools gave to this service.
    #[serde(default)]
    pub from_service: Option<String>,
    pub method: PoolMethod,
    /// Services to split among. Default: every service with direct cost that day that is not
    /// itself split by a pool.
    #[serde(default)]
    pub targets: Vec<String>,
    /// `proportional`: the metric name in the metrics table.
    #[serde(default)]
    pub metric: Option<String>,
    /// `proportional`: fallback for a day without the metric. Default: `previous`.
    #[serde(default)]
    pub missing_metric: MissingMetric,
    /// `fixed`: percent per target service, exact decimals adding up to exactly 100. TOML
    /// integers (`60`), floats (`33.3`) and strings (`"33.3"`) are accepted; a float is read
    /// through its shortest round-trip text, so `33.3` is exactly 33.3, not 33.29999….
    #[serde(default, deserialize_with = "deserialize_shares")]
    pub shares: BTreeMap<String, Decimal>,
}

/// A share as written in the configuration.
#[derive(Deserialize)]
#[serde(untagged)]
enum ShareValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// The exact decimal a configured share stands for.
pub fn share_decimal(text_or_number: &str) -> Result<Decimal, String> {
    let text = text_or_number.trim();
    Decimal::from_str_exact(text).map_err(|_| format!("`{text}` is not a decimal number like 33.3"))
}

fn deserialize_shares<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Decimal>, D::Error> {
    use serde::de::Error;
    let raw: BTreeMap<String, ShareValue> = BTreeMap::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(target, value)| {
            let share = match value {
                ShareValue::Int(i) => Ok(Decimal::from(i)),
                // Rust prints the shortest text that reads back as the same float: 33.3 → "33.3".
                ShareValue::Float(f) if f.is_finite() => share_decimal(&f.to_string()),
                ShareValue::Float(f) => Err(format!("`{f}` is not a finite number")),
                ShareValue::Text(t) => share_decimal(&t),
            };
            share
                .map(|s| (target.clone(), s))
                .map_err(|e| D::Error::custom(format!("shares.{target}: {e}")))
        })
        .collect()
}

/// A fixed share in Decimal(38, 18) units (percent × 10^18); `None` beyond 18 decimals.
pub fn share_units(share: Decimal) -> Option<i128> {
    Dec18::from_decimal_exact(share).map(|d| d.0)
}

impl AllocationConfig {
    /// Problems as `(key, reason)` with keys like `allocation.pools[1].metric`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut push = |key: String, reason: String| problems.push((key, reason));
        for (i, rule) in self.rules.iter().enumerate() {
            let key = format!("allocation.rules[{i}]");
            if rule.name.trim().is_empty() {
                push(format!("{key}.name"), "must not be empty".into());
            }
            for (field, value) in [
                ("service", Some(&rule.service)),
                ("team", rule.team.as_ref()),
                ("env", rule.env.as_ref()),
            ] {
                match value {
                    Some(OwnerValue::Literal(s)) if s.trim().is_empty() => {
                        push(format!("{key}.{field}"), "must not be empty".into())
                    }
                    Some(OwnerValue::FromTags { tag, .. }) if tag.is_empty() => push(
                        format!("{key}.{field}.tag"),
                        "list at least one tag key".into(),
                    ),
                    _ => {}
                }
            }
        }
        let mut names = BTreeSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            let key = format!("allocation.pools[{i}]");
            if !names.insert(pool.name.as_str()) {
                push(
                    format!("{key}.name"),
                    format!("`{}` is used by an earlier pool", pool.name),
                );
            }
            if pool.when.is_empty() && pool.from_service.is_none() {
                push(
                    key.clone(),
                    "select what to split with `when` or `from_service`".into(),
                );
            }
            if let Some(source) = &pool.from_service {
                if pool.targets.contains(source) {
                    push(
                        format!("{key}.targets"),
                        format!("`{source}` is the pool's own source"),
                    );
                }
            }
            match pool.method {
                PoolMethod::Proportional if pool.metric.as_deref().is_none_or(str::is_empty) => {
                    push(
                        format!("{key}.metric"),
                        "method `proportional` needs a metric name".into(),
                    )
                }
                PoolMethod::Fixed => {
                    // Exact: 33.3 + 33.3 + 33.4 is 100, 33.33 × 3 is not.
                    let total: Decimal = pool.shares.values().sum();
                    if pool.shares.is_empty() || total != Decimal::ONE_HUNDRED {
                        push(
                            format!("{key}.shares"),
                            format!(
                                "fixed shares must add up to exactly 100, they add up to {}",
                                total.normalize()
                            ),
                        );
                    }
                    if pool
                        .shares
                        .values()
                        .any(|s| s.is_sign_negative() && !s.is_zero())
                    {
                        push(
                            format!("{key}.shares"),
                            "shares must not be negative".into(),
                        );
                    }
                    for (target, share) in &pool.shares {
                        if share_units(*share).is_none() {
                            push(
                                format!("{key}.shares.{target}"),
                                format!("`{share}` has more than 18 decimals"),
                            );
                        }
                    }
                }
                _ => {}
            }
            if pool.method != PoolMethod::Fixed && !pool.shares.is_empty() {
                push(
                    format!("{key}.shares"),
                    "only method `fixed` takes shares".into(),
                );
            }
        }
        for (key, reason) in self
            .kubernetes
            .problems()
            .into_iter()
            .chain(self.slurm.problems())
        {
            push(key, reason);
        }
        if let Some(cycle) = self.pool_cycle() {
            push(
                "allocation.pools".into(),
                format!("pools split in a cycle: {}", cycle.join(" → ")),
            );
        }
        problems
    }

    /// A cycle of services through pools' sources and explicit targets, if any.
    pub fn pool_cycle(&self) -> Option<Vec<String>> {
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for pool in &self.pools {
            if let Some(source) = &pool.from_service {
                let targets = edges.entry(source).or_default();
                targets.extend(pool.targets.iter().map(String::as_str));
                targets.extend(pool.shares.keys().map(String::as_str));
            }
        }
        fn visit<'a>(
            node: &'a str,
            edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|n| *n == node) {
                let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if !done.insert(node) {
                return None;
            }
            path.push(node);
            for next in edges.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, edges, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for start in edges.keys() {
            if let Some(cycle) = visit(start, &edges, &mut Vec::new(), &mut done) {
                return Some(cycle);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(name: &str, from: &str, targets: &[&str]) -> Pool {
        Pool {
            name: name.into(),
            when: Matcher::default(),
            from_service: Some(from.into()),
            method: PoolMethod::Even,
            targets: targets.iter().map(|s| s.to_string()).collect(),
            metric: None,
            missing_metric: MissingMetric::Previous,
            shares: BTreeMap::new(),
        }
    }

    #[test]
    fn cycles_are_found_and_chains_are_not() {
        let chain = AllocationConfig {
            rules: vec![],
            pools: vec![
                pool("a", "kafka", &["platform"]),
                pool("b", "platform", &["x", "y"]),
            ],
            ..AllocationConfig::default()
        };
        assert_eq!(chain.pool_cycle(), None);
        assert!(chain.problems().is_empty());
        let cycle = AllocationConfig {
            rules: vec![],
            pools: vec![
                pool("a", "kafka", &["platform"]),
                pool("b", "platform", &["kafka"]),
            ],
            ..AllocationConfig::default()
        };
        assert_eq!(
            cycle.pool_cycle(),
            Some(vec!["kafka".into(), "platform".into(), "kafka".into()])
        );
        assert!(cycle
            .problems()
            .iter()
            .any(|(k, r)| k == "allocation.pools" && r.contains("kafka → platform → kafka")));
    }

    #[test]
    fn bad_pools_name_the_key() {
        let mut p = pool("p", "db", &[]);
        p.method = PoolMethod::Proportional;
        let mut f = pool("f", "cache", &[]);
        f.method = PoolMethod::Fixed;
        f.shares = [
            ("a".to_string(), Decimal::from(60)),
            ("b".to_string(), Decimal::from(30)),
        ]
        .into();
        let config = AllocationConfig {
            rules: vec![],
            pools: vec![p, f],
            ..AllocationConfig::default()
        };
        let keys: Vec<String> = config.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["allocation.pools[0].metric", "allocation.pools[1].shares"]
        );
    }

    #[test]
    fn shares_are_exact_decimals_from_integers_floats_and_strings() {
        let pool: Pool = toml::from_str(
            r#"name = "cache"
from_service = "cache"
method = "fixed"
shares = { a = 33.3, b = "33.3", c = 33.4 }"#,
        )
        .unwrap();
        let share = |t: &str| pool.shares[t].to_string();
        assert_eq!(
            (share("a"), share("b"), share("c")),
            ("33.3".into(), "33.3".into(), "33.4".into())
        );
        let config = AllocationConfig {
            pools: vec![pool],
            ..AllocationConfig::default()
        };
        assert!(config.problems().is_empty(), "{:?}", config.problems());

        let thirds: Pool = toml::from_str(
            r#"name = "cache"
from_service = "cache"
method = "fixed"
shares = { a = 33.33, b = 33.33, c = 33.33, d = 0 }"#,
        )
        .unwrap();
        assert_eq!(thirds.shares["d"], Decimal::ZERO);
        let config = AllocationConfig {
            pools: vec![thirds],
            ..AllocationConfig::default()
        };
        assert_eq!(
            config.problems(),
            [(
                "allocation.pools[0].shares".to_string(),
                "fixed shares must add up to exactly 100, they add up to 99.99".to_string()
            )]
        );
        let bad = toml::from_str::<Pool>(
            r#"name = "cache"
from_service = "cache"
method = "fixed"
shares = { a = "a third" }"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("shares.a: `a third` is not a decimal number"),
            "{bad}"
        );
    }
}
