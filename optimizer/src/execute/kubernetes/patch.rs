//! The pod-template changes of a migration, as pure functions of JSON: what the planner asks for
//! (its intent), the patch that moves the workload, and the patch that puts it back.
//!
//! The planner's `spec_after` (`SpotPool::patch`) is a strategic merge patch, but it is read as
//! an intent only: `tolerations` has no merge key in strategic merge, so sending the planner's
//! list as is would replace the workload's own tolerations. The patch sent is built from the
//! live object instead: node selector entries added, tolerations = live ∪ wanted.
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// What a migration asks of the pod template.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Intent {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Value>,
}

/// Read the planner's patch (`{"spec":{"template":{"spec":{"nodeSelector":…,"tolerations":…}}}}`).
/// Anything else in it is refused rather than silently dropped.
pub(super) fn parse_intent(spec_after: &str) -> Result<Intent, String> {
    let value: Value = serde_json::from_str(spec_after).map_err(|e| {
        format!("spec_after is not JSON ({e}); expected the planner's pod-template patch")
    })?;
    let only = |v: &Value, key: &str, at: &str| -> Result<(), String> {
        match v.as_object() {
            Some(map) => match map.keys().find(|k| k.as_str() != key) {
                Some(other) => Err(format!(
                    "spec_after sets `{at}{other}`; the Kubernetes executor only adds nodeSelector entries and tolerations"
                )),
                None => Ok(()),
            },
            None => Err(format!("spec_after: `{at}` is not an object")),
        }
    };
    only(&value, "spec", "")?;
    only(&value["spec"], "template", "spec.")?;
    only(&value["spec"]["template"], "spec", "spec.template.")?;
    let spec = value["spec"]["template"]["spec"]
        .as_object()
        .ok_or("spec_after has no spec.template.spec object")?;
    let mut intent = Intent {
        node_selector: BTreeMap::new(),
        tolerations: Vec::new(),
    };
    for (key, v) in spec {
        match key.as_str() {
            "nodeSelector" => {
                let map = v.as_object().ok_or("spec_after: nodeSelector is not an object")?;
                for (k, v) in map {
                    let v = v
                        .as_str()
                        .ok_or_else(|| format!("spec_after: nodeSelector `{k}` is not a string"))?;
                    intent.node_selector.insert(k.clone(), v.to_string());
                }
            }
            "tolerations" => {
                let list = v.as_array().ok_or("spec_after: tolerations is not a list")?;
                for t in list {
                    if !t.is_object() || t.get("key").is_some_and(|k| !k.is_string()) {
                        return Err(format!("spec_after: toleration {t} is not a toleration object"));
                    }
                    intent.tolerations.push(t.clone());
                }
            }
            other => {
                return Err(format!(
                    "spec_after sets `spec.template.spec.{other}`; the Kubernetes executor only adds nodeSelector entries and tolerations"
                ))
            }
        }
    }
    if intent.node_selector.is_empty() && intent.tolerations.is_empty() {
        return Err("spec_after asks for no nodeSelector entry and no toleration".into());
    }
    Ok(intent)
}

/// The placement part of a pod template: what a migration changes and a rollback restores.
/// Empty and absent are the same here, as they are to Kubernetes (`omitempty`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Placement {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Value>,
    pub affinity: Option<Value>,
}

impl Placement {
    /// `{"nodeSelector": …, "tolerations": […], "affinity": …}`, `null` for absent.
    pub fn to_json(&self) -> Value {
        json!({
            "nodeSelector": if self.node_selector.is_empty() { Value::Null } else { json!(self.node_selector) },
            "tolerations": if self.tolerations.is_empty() { Value::Null } else { Value::Array(self.tolerations.clone()) },
            "affinity": self.affinity.clone().unwrap_or(Value::Null),
        })
    }

    pub fn from_json(value: &Value) -> Result<Placement, String> {
        let mut node_selector = BTreeMap::new();
        match &value["nodeSelector"] {
            Value::Null => {}
            Value::Object(map) => {
                for (k, v) in map {
                    let v = v
                        .as_str()
                        .ok_or_else(|| format!("nodeSelector `{k}` is not a string"))?;
                    node_selector.insert(k.clone(), v.to_string());
                }
            }
            other => return Err(format!("nodeSelector {other} is not an object")),
        }
        let tolerations = match &value["tolerations"] {
            Value::Null => Vec::new(),
            Value::Array(list) => list.clone(),
            other => return Err(format!("tolerations {other} is not a list")),
        };
        let affinity = match &value["affinity"] {
            Value::Null => None,
            v @ Value::Object(_) => Some(v.clone()),
            other => return Err(format!("affinity {other} is not an object")),
        };
        Ok(Placement {
            node_selector,
            tolerations,
            affinity,
        })
    }

    /// This placement with the intent added: its selector entries set, its tolerations added
    /// unless an existing one already covers them. Affinity untouched.
    pub fn with(&self, intent: &Intent) -> Placement {
        let mut after = self.clone();
        for (k, v) in &intent.node_selector {
            after.node_selector.insert(k.clone(), v.clone());
        }
        for want in &intent.tolerations {
            if !after.tolerations.iter().any(|have| covers(have, want)) {
                after.tolerations.push(want.clone());
            }
        }
        after
    }

    /// Whether pods with this placement already have everything the intent asks for.
    pub fn satisfies(&self, intent: &Intent) -> bool {
        intent
            .node_selector
            .iter()
            .all(|(k, v)| self.node_selector.get(k) == Some(v))
            && intent
                .tolerations
                .iter()
                .all(|want| self.tolerations.iter().any(|have| covers(have, want)))
    }
}

fn text<'a>(t: &'a Value, key: &str) -> &'a str {
    t.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether toleration `have` tolerates every taint that `want` tolerates (Kubernetes defaults:
/// operator `Equal`, empty effect = every effect, no `tolerationSeconds` = forever).
pub(super) fn covers(have: &Value, want: &Value) -> bool {
    fn op(t: &Value) -> &str {
        match text(t, "operator") {
            "" => "Equal",
            other => other,
        }
    }
    let effect_ok = text(have, "effect").is_empty() || text(have, "effect") == text(want, "effect");
    let key_ok = match (op(have), op(want)) {
        ("Exists", _) => text(have, "key").is_empty() || text(have, "key") == text(want, "key"),
        ("Equal", "Equal") => {
            text(have, "key") == text(want, "key") && text(have, "value") == text(want, "value")
        }
        _ => false,
    };
    let seconds_ok = match (have.get("tolerationSeconds"), want.get("tolerationSeconds")) {
        (None | Some(Value::Null), _) => true,
        (Some(h), Some(w)) => h.as_i64().unwrap_or(0) >= w.as_i64().unwrap_or(i64::MAX),
        (Some(_), None) => false,
    };
    effect_ok && key_ok && seconds_ok
}

/// The strategic merge patch from `before` to `after` (which only adds): the selector entries
/// that change, and the whole toleration list (lists without a merge key are replaced). With
/// `resource_version`, the API server refuses the patch (409) if the object changed since read.
pub(super) fn forward_patch(
    before: &Placement,
    after: &Placement,
    resource_version: Option<&str>,
) -> Value {
    let mut spec = Map::new();
    let selector: Map<String, Value> = after
        .node_selector
        .iter()
        .filter(|(k, v)| before.node_selector.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    if after.tolerations != before.tolerations {
        spec.insert(
            "tolerations".into(),
            Value::Array(after.tolerations.clone()),
        );
    }
    let mut patch = json!({"spec": {"template": {"spec": spec}}});
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    patch
}

/// The placement a rollback leaves: `live` without what the move added (`before` → `after`),
/// and with what it changed or removed put back, where `live` still has the move's value.
/// Whatever a person changed since the move stays (a three-way restore); affinity, which a move
/// never touches, is left as it is.
pub(super) fn restored(before: &Placement, after: &Placement, live: &Placement) -> Placement {
    let mut node_selector = live.node_selector.clone();
    for (k, moved) in &after.node_selector {
        if before.node_selector.get(k) == Some(moved) || live.node_selector.get(k) != Some(moved) {
            continue;
        }
        match before.node_selector.get(k) {
            Some(prior) => node_selector.insert(k.clone(), prior.clone()),
            None => node_selector.remove(k),
        };
    }
    for (k, prior) in &before.node_selector {
        if !after.node_selector.contains_key(k) && !live.node_selector.contains_key(k) {
            node_selector.insert(k.clone(), prior.clone());
        }
    }
    let added: Vec<&Value> = after
        .tolerations
        .iter()
        .filter(|t| !before.tolerations.contains(t))
        .collect();
    let tolerations = live
        .tolerations
        .iter()
        .filter(|t| !added.contains(t))
        .cloned()
        .collect();
    Placement {
        node_selector,
        tolerations,
        affinity: live.affinity.clone(),
    }
}

/// The JSON merge patch (RFC 7386) from `live` to `target`: selector entries set or removed
/// (`null`), the tolerations list replaced when it differs (`null` for none); with `live`'s
/// resourceVersion, so that the API refuses it if the object changed since it was read.
pub(super) fn restore_patch(
    live: &Placement,
    target: &Placement,
    resource_version: Option<&str>,
) -> Value {
    let mut selector = Map::new();
    for (k, v) in &target.node_selector {
        if live.node_selector.get(k) != Some(v) {
            selector.insert(k.clone(), Value::String(v.clone()));
        }
    }
    for k in live.node_selector.keys() {
        if !target.node_selector.contains_key(k) {
            selector.insert(k.clone(), Value::Null);
        }
    }
    let mut spec = Map::new();
    if !selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(selector));
    }
    if live.tolerations != target.tolerations {
        spec.insert(
            "tolerations".into(),
            target.to_json()["tolerations"].clone(),
        );
    }
    let mut patch = json!({"spec": {"template": {"spec": spec}}});
    if let Some(rv) = resource_version {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    patch
}

/// What changes, for people: `nodeSelector a=b; toleration k=v:NoSchedule`.
pub(super) fn describe(before: &Placement, after: &Placement) -> String {
    let mut parts = Vec::new();
    for (k, v) in &after.node_selector {
        match before.node_selector.get(k) {
            Some(prior) if prior == v => {}
            Some(prior) => parts.push(format!("nodeSelector {k}={v} (was {prior})")),
            None => parts.push(format!("nodeSelector {k}={v} added")),
        }
    }
    for t in after.tolerations.iter().skip(before.tolerations.len()) {
        let value = match text(t, "value") {
            "" => String::new(),
            v => format!("={v}"),
        };
        parts.push(format!(
            "toleration {}{value}:{} added",
            text(t, "key"),
            text(t, "effect")
        ));
    }
    if !before.tolerations.is_empty() && after.tolerations.len() > before.tolerations.len() {
        parts.push(format!(
            "its {} existing toleration(s) kept",
            before.tolerations.len()
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot() -> Value {
        json!({"key": "karpenter.sh/capacity-type", "operator": "Equal", "value": "spot", "effect": "NoSchedule"})
    }

    fn intent() -> Intent {
        parse_intent(
            &json!({"spec": {"template": {"spec": {
                "nodeSelector": {"karpenter.sh/capacity-type": "spot"},
                "tolerations": [spot()],
            }}}})
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn the_planner_patch_is_read_as_an_intent() {
        let i = intent();
        assert_eq!(i.node_selector["karpenter.sh/capacity-type"], "spot");
        assert_eq!(i.tolerations, vec![spot()]);
        for bad in [
            json!({"spec": {"template": {"spec": {"containers": []}}}}),
            json!({"spec": {"replicas": 0, "template": {"spec": {"nodeSelector": {"a": "b"}}}}}),
            json!({"spec": {"template": {"spec": {"nodeSelector": {"a": 1}}}}}),
            json!({"spec": {"template": {"spec": {}}}}),
            json!([1]),
        ] {
            assert!(parse_intent(&bad.to_string()).is_err(), "{bad}");
        }
        assert!(parse_intent("").is_err());
    }

    #[test]
    fn tolerations_are_added_to_the_live_ones_once() {
        let dedicated = json!({"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"});
        let before = Placement {
            node_selector: [("kubernetes.io/os".to_string(), "linux".to_string())].into(),
            tolerations: vec![dedicated.clone()],
            affinity: Some(json!({"podAntiAffinity": {}})),
        };
        let after = before.with(&intent());
        assert_eq!(after.tolerations, vec![dedicated.clone(), spot()]);
        assert_eq!(after.affinity, before.affinity);
        assert!(after.satisfies(&intent()) && !before.satisfies(&intent()));
        // Adding twice changes nothing.
        assert_eq!(after.with(&intent()), after);
        assert_eq!(
            forward_patch(&before, &after, Some("42")),
            json!({"metadata": {"resourceVersion": "42"}, "spec": {"template": {"spec": {
                "nodeSelector": {"karpenter.sh/capacity-type": "spot"},
                "tolerations": [dedicated, spot()],
            }}}})
        );
    }

    #[test]
    fn an_existing_broader_toleration_covers_the_wanted_one() {
        let exists = json!({"key": "karpenter.sh/capacity-type", "operator": "Exists"});
        assert!(covers(&exists, &spot()));
        assert!(covers(&json!({"operator": "Exists"}), &spot()));
        assert!(!covers(
            &json!({"key": "karpenter.sh/capacity-type", "operator": "Exists", "effect": "NoExecute"}),
            &spot()
        ));
        assert!(!covers(
            &json!({"key": "karpenter.sh/capacity-type", "value": "on-demand"}),
            &spot()
        ));
        // Operator defaults to Equal.
        assert!(covers(
            &json!({"key": "karpenter.sh/capacity-type", "value": "spot"}),
            &spot()
        ));
        // A bounded NoExecute toleration does not cover an unbounded one.
        let bounded = json!({"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60});
        assert!(!covers(
            &bounded,
            &json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})
        ));
        let before = Placement {
            tolerations: vec![exists.clone()],
            ..Placement::default()
        };
        assert_eq!(before.with(&intent()).tolerations, vec![exists]);
    }

    #[test]
    fn the_restore_puts_back_what_the_move_changed_and_keeps_what_people_changed_since() {
        let before = Placement {
            node_selector: [
                ("kubernetes.io/os".to_string(), "linux".to_string()),
                (
                    "karpenter.sh/capacity-type".to_string(),
                    "on-demand".to_string(),
                ),
            ]
            .into(),
            tolerations: vec![json!({"key": "dedicated", "operator": "Exists"})],
            affinity: Some(json!({"nodeAffinity": {}})),
        };
        let after = before.with(&intent());
        // Nothing changed since the move: exactly `before` again.
        assert_eq!(restored(&before, &after, &after), before);
        assert_eq!(
            restore_patch(&after, &before, Some("42")),
            json!({
                "metadata": {"resourceVersion": "42"},
                "spec": {"template": {"spec": {
                    "nodeSelector": {"karpenter.sh/capacity-type": "on-demand"},
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                }}}
            })
        );
        // Since the move a person added a toleration and a selector entry and dropped the
        // os selector: those stay; only the move's own changes are undone.
        let mut live = after.clone();
        live.tolerations
            .push(json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}));
        live.node_selector.insert("team".into(), "a".into());
        live.node_selector.remove("kubernetes.io/os");
        let back = restored(&before, &after, &live);
        assert_eq!(
            back.tolerations,
            vec![
                json!({"key": "dedicated", "operator": "Exists"}),
                json!({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"})
            ]
        );
        assert_eq!(
            back.node_selector.get("team").map(String::as_str),
            Some("a")
        );
        assert_eq!(back.node_selector.get("kubernetes.io/os"), None);
        assert_eq!(
            back.node_selector
                .get("karpenter.sh/capacity-type")
                .map(String::as_str),
            Some("on-demand")
        );
        assert_eq!(back.affinity, live.affinity);
        // Nothing before: everything the move added goes, and absent stays absent.
        let empty = Placement::default();
        let moved = empty.with(&intent());
        assert_eq!(restored(&empty, &moved, &moved), empty);
        assert_eq!(
            restore_patch(&moved, &empty, None),
            json!({"spec": {"template": {"spec": {
                "nodeSelector": {"karpenter.sh/capacity-type": null},
                "tolerations": null,
            }}}})
        );
    }
}
