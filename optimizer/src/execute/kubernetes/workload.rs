//! Which workload a migration names, and the workload as read: its placement, its rollout
//! status, its selector.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use super::patch::Placement;
use crate::execute::ExecError;
use crate::migration::MigrationRow;

const SPOT_ANNOTATION: &str = "costmill.io/spot";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Deployment,
    StatefulSet,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        match text.to_ascii_lowercase().as_str() {
            "deployment" | "deployments" => Some(Kind::Deployment),
            "statefulset" | "statefulsets" => Some(Kind::StatefulSet),
            _ => None,
        }
    }
}

/// The workload a migration names: `k8s://CLUSTER/NAMESPACE/NAME` (or
/// `k8s://CLUSTER/NAMESPACE/KIND/NAME`), with the kind from its evidence
/// (`{"workload": {"cluster", "namespace", "kind", "name"}}`) when there.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// `None`: look up a Deployment, then a StatefulSet, of that name.
    pub kind: Option<Kind>,
}

impl Target {
    pub fn parse(m: &MigrationRow) -> Result<Target, ExecError> {
        let invalid = |reason: String| ExecError::Invalid {
            id: m.id.clone(),
            reason,
        };
        let rest = m.workload.strip_prefix("k8s://").ok_or_else(|| {
            invalid(format!(
                "workload `{}` is not a Kubernetes workload (k8s://CLUSTER/NAMESPACE/NAME)",
                m.workload
            ))
        })?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (cluster, namespace, kind, name) = match parts.as_slice() {
            [c, ns, n] => (*c, *ns, None, *n),
            [c, ns, k, n] => {
                let kind = Kind::parse(k).ok_or_else(|| {
                    invalid(format!(
                        "workload `{}`: `{k}` is not a kind the executor moves (Deployment, StatefulSet)",
                        m.workload
                    ))
                })?;
                (*c, *ns, Some(kind), *n)
            }
            _ => ("", "", None, ""),
        };
        if [cluster, namespace, name].iter().any(|s| s.is_empty()) {
            return Err(invalid(format!(
                "workload `{}` is not k8s://CLUSTER/NAMESPACE/NAME",
                m.workload
            )));
        }
        let mut target = Target {
            cluster: cluster.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            kind,
        };
        // The recommender records the workload's kind in the evidence; older evidence lacks it.
        let evidence: Value = serde_json::from_str(&m.evidence).unwrap_or(Value::Null);
        let w = &evidence["workload"];
        for (field, want) in [
            ("cluster", &target.cluster),
            ("namespace", &target.namespace),
            ("name", &target.name),
        ] {
            if let Some(got) = w[field].as_str() {
                if got != want {
                    return Err(invalid(format!(
                        "the evidence names {field} `{got}` but the workload is `{}`",
                        m.workload
                    )));
                }
            }
        }
        if let Some(kind) = w["kind"].as_str() {
            target.kind = Some(Kind::parse(kind).ok_or_else(|| {
                invalid(format!(
                    "{} {}/{} is a {kind}: only Deployments and StatefulSets can be moved",
                    kind, target.namespace, target.name
                ))
            })?);
        }
        Ok(target)
    }
}

/// How far a rollout is, from the workload's status.
#[derive(Debug, Clone, Default)]
pub(super) struct RolloutStatus {
    pub observed_generation: Option<i64>,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// StatefulSet: the revision the pods run and the one they move to.
    pub current_revision: Option<String>,
    pub update_revision: Option<String>,
    /// Deployment: `Progressing=False` with reason `ProgressDeadlineExceeded`, its message.
    pub deadline_exceeded: Option<String>,
}

/// A Deployment or StatefulSet as read, reduced to what the executor uses.
#[derive(Debug, Clone)]
pub(super) struct Live {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    pub resource_version: Option<String>,
    pub annotations: BTreeMap<String, String>,
    pub template_annotations: BTreeMap<String, String>,
    pub template_labels: BTreeMap<String, String>,
    pub selector: LabelSelector,
    /// Desired pods (`spec.replicas`, default 1).
    pub replicas: i32,
    pub placement: Placement,
    /// Deployment `spec.paused`.
    pub paused: bool,
    /// StatefulSet `updateStrategy: OnDelete` (pods are not replaced by a template change).
    pub on_delete: bool,
    pub status: RolloutStatus,
}

impl Live {
    fn new(
        kind: Kind,
        meta: ObjectMeta,
        selector: LabelSelector,
        template: PodTemplateSpec,
    ) -> Live {
        let tmeta = template.metadata.unwrap_or_default();
        let spec = template.spec.unwrap_or_default();
        let json = |v: Option<Value>| v.filter(|v| !v.is_null());
        Live {
            kind,
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            generation: meta.generation,
            resource_version: meta.resource_version,
            annotations: meta.annotations.unwrap_or_default(),
            template_annotations: tmeta.annotations.unwrap_or_default(),
            template_labels: tmeta.labels.unwrap_or_default(),
            selector,
            replicas: 1,
            placement: Placement {
                node_selector: spec.node_selector.unwrap_or_default(),
                tolerations: spec
                    .tolerations
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| serde_json::to_value(t).ok())
                    .collect(),
                affinity: json(spec.affinity.and_then(|a| serde_json::to_value(a).ok())),
            },
            paused: false,
            on_delete: false,
            status: RolloutStatus::default(),
        }
    }

    pub(super) fn from_deployment(d: Deployment) -> Live {
        let spec = d.spec.unwrap_or_default();
        let mut live = Live::new(Kind::Deployment, d.metadata, spec.selector, spec.template);
        live.replicas = spec.replicas.unwrap_or(1);
        live.paused = spec.paused.unwrap_or(false);
        let s = d.status.unwrap_or_default();
        live.status = RolloutStatus {
            observed_generation: s.observed_generation,
            replicas: s.replicas.unwrap_or(0),
            updated: s.updated_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
            current_revision: None,
            update_revision: None,
            deadline_exceeded: s.conditions.unwrap_or_default().into_iter().find_map(|c| {
                (c.type_ == "Progressing"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                .then(|| {
                    c.message
                        .unwrap_or_else(|| "progress deadline exceeded".into())
                })
            }),
        };
        live
    }

    pub(super) fn from_statefulset(s: StatefulSet) -> Live {
        let spec = s.spec.unwrap_or_default();
        let mut live = Live::new(Kind::StatefulSet, s.metadata, spec.selector, spec.template);
        live.replicas = spec.replicas.unwrap_or(1);
        live.on_delete = spec
            .update_strategy
            .and_then(|u| u.type_)
            .is_some_and(|t| t == "OnDelete");
        let st = s.status.unwrap_or_default();
        live.status = RolloutStatus {
            observed_generation: st.observed_generation,
            replicas: st.replicas,
            updated: st.updated_replicas.unwrap_or(0),
            ready: st.ready_replicas.unwrap_or(0),
            available: st.available_replicas.unwrap_or(0),
            current_revision: st.current_revision,
            update_revision: st.update_revision,
            deadline_exceeded: None,
        };
        live
    }

    /// `Deployment payments/ledger`.
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }

    /// The API path of the object.
    pub fn path(&self) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/{}/{}",
            self.namespace,
            self.kind.plural(),
            self.name
        )
    }

    /// The workload's `costmill.io/spot: never`, on the object or its pod template.
    pub fn never_spot(&self) -> Option<&'static str> {
        let never = |a: &BTreeMap<String, String>| {
            a.get(SPOT_ANNOTATION)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("never"))
        };
        if never(&self.annotations) {
            Some("the workload")
        } else if never(&self.template_annotations) {
            Some("its pod template")
        } else {
            None
        }
    }
}

/// Whether a label selector selects these labels (an empty selector selects everything).
pub(super) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// A label selector as the `labelSelector` query text.
pub(super) fn selector_text(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "DoesNotExist" => format!("!{}", e.key),
            _ => e.key.clone(),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workload: &str, evidence: &str) -> MigrationRow {
        MigrationRow {
            id: "mig-1".into(),
            created_at: 0,
            created_by: String::new(),
            kind: "kubernetes".into(),
            workload: workload.into(),
            team: String::new(),
            service: String::new(),
            env: String::new(),
            from_placement: String::new(),
            to_placement: String::new(),
            spec_before: String::new(),
            spec_after: String::new(),
            saving_month: queries::Dec18(0),
            currency: "USD".into(),
            evidence: evidence.into(),
            status: "approved".into(),
            updated_at: 0,
            updated_by: String::new(),
            events: 0,
        }
    }

    #[test]
    fn workload_ids_and_evidence_name_the_target() {
        let t = Target::parse(&row("k8s://prod/payments/ledger", "")).unwrap();
        assert_eq!(
            (
                t.cluster.as_str(),
                t.namespace.as_str(),
                t.name.as_str(),
                t.kind
            ),
            ("prod", "payments", "ledger", None)
        );
        let ev = r#"{"workload": {"cluster": "prod", "namespace": "search", "kind": "StatefulSet", "name": "indexer"}}"#;
        assert_eq!(
            Target::parse(&row("k8s://prod/search/indexer", ev))
                .unwrap()
                .kind,
            Some(Kind::StatefulSet)
        );
        assert_eq!(
            Target::parse(&row("k8s://prod-eu/payments/deployment/ledger", ""))
                .unwrap()
                .kind,
            Some(Kind::Deployment)
        );
        for bad in [
            "slurm://hpc/job/1",
            "k8s://prod/ledger",
            "k8s://prod//ledger",
            "k8s://prod/ns/daemonset/agent",
        ] {
            assert!(
                matches!(Target::parse(&row(bad, "")), Err(ExecError::Invalid { .. })),
                "{bad}"
            );
        }
        let other = r#"{"workload": {"cluster": "prod", "namespace": "payments", "kind": "Deployment", "name": "other"}}"#;
        assert!(Target::parse(&row("k8s://prod/payments/ledger", other)).is_err());
        let daemon = r#"{"workload": {"kind": "DaemonSet"}}"#;
        assert!(Target::parse(&row("k8s://prod/payments/ledger", daemon)).is_err());
    }

    #[test]
    fn selectors_match_and_render_like_the_api_server() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "ledger"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["api", "web"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }))
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selects(
            &sel,
            &labels(&[("app", "ledger"), ("tier", "api")])
        ));
        assert!(!selects(
            &sel,
            &labels(&[("app", "ledger"), ("tier", "db")])
        ));
        assert!(!selects(
            &sel,
            &labels(&[("app", "ledger"), ("tier", "api"), ("canary", "1")])
        ));
        assert!(selects(&LabelSelector::default(), &labels(&[])));
        assert_eq!(selector_text(&sel), "app=ledger,tier in (api,web),!canary");
    }
}
