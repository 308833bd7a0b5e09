//! Which cost rows a rule or pool applies to. Every field given must match; patterns take `*`.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::CostGroup;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Matcher {
    /// FOCUS Provider, e.g. `AWS`.
    pub provider: Option<String>,
    /// FOCUS ServiceName pattern, e.g. `Amazon ElastiCache` or `Amazon *`.
    pub service_name: Option<String>,
    pub service_category: Option<String>,
    /// SubAccountId or SubAccountName.
    pub sub_account: Option<String>,
    /// ResourceId pattern, e.g. `arn:aws:kafka:*`.
    pub resource_id: Option<String>,
    pub charge_category: Option<String>,
    /// Kubernetes namespace pattern (workload rows only).
    pub namespace: Option<String>,
    /// Tag values (and, on workload rows, pod labels) by key; `*` matches any value of a present key.
    pub tags: BTreeMap<String, String>,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl Matcher {
    pub fn is_empty(&self) -> bool {
        *self == Matcher::default()
    }

    pub fn matches(&self, row: &CostGroup) -> bool {
        let field = |pattern: &Option<String>, value: &str| {
            pattern.as_deref().is_none_or(|p| glob(p, value))
        };
        field(&self.provider, &row.provider)
            && field(&self.service_name, &row.service_name)
            && field(&self.service_category, &row.service_category)
            && self
                .sub_account
                .as_deref()
                .is_none_or(|p| glob(p, &row.sub_account_id) || glob(p, &row.sub_account_name))
            && field(&self.resource_id, &row.resource_id)
            && field(&self.charge_category, &row.charge_category)
            && field(&self.namespace, &row.k8s_namespace)
            && self
                .tags
                .iter()
                .all(|(key, pattern)| row.tag(key).is_some_and(|value| glob(pattern, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("Amazon *", "Amazon ElastiCache"));
        assert!(glob(
            "arn:aws:kafka:*:cluster/*",
            "arn:aws:kafka:us-east-1:1:cluster/x"
        ));
        assert!(glob("*", ""));
        assert!(!glob("Amazon *", "AWS Lambda"));
        assert!(!glob("a*b*c", "acb"));
        assert!(glob("exact", "exact"));
    }
}
