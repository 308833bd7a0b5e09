//! A pod's workload: its owner chain followed up to the object nobody controls, e.g. pod →
//! ReplicaSet → Deployment, pod → Job → CronJob, pod → StatefulSet, pod → DaemonSet.
//!
//! The chain uses the owners of the objects the input holds (a dump with ReplicaSets and Jobs).
//! Where a link is missing (a dump of nodes and pods only, or the live source, whose RBAC grant
//! reads pods and nodes but no ReplicaSets or Jobs) it is inferred the way the controllers name
//! things:
//! - a ReplicaSet named `<name>-<pod-template-hash>` (the pod carries that `pod-template-hash`
//!   label) belongs to the Deployment `<name>`; otherwise the ReplicaSet is the workload;
//! - a Job named `<name>-<digits>` with at least 8 digits (the CronJob controller appends the
//!   scheduled time in minutes since 1970) belongs to the CronJob `<name>`; otherwise the Job is.
//!
//! A pod with no owner is its own workload (kind `Pod`); a static pod (owned by its Node) is
//! kind `StaticPod`, named without its `-<node>` suffix.
use std::collections::BTreeMap;

use super::objects::Pod;

/// An owner reference: kind and name (same namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

/// The controllers of the objects seen: (namespace, kind, name) → its own controller, if any.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    map: BTreeMap<(String, String, String), Option<OwnerRef>>,
}

/// Owner chains longer than this are cut (and a cycle ends).
const MAX_DEPTH: usize = 8;

impl Owners {
    pub fn insert(&mut self, namespace: &str, kind: &str, name: &str, owner: Option<OwnerRef>) {
        self.map
            .insert((namespace.into(), kind.into(), name.into()), owner);
    }

    pub fn extend(&mut self, other: Owners) {
        self.map.extend(other.map);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The pod's workload kind and name.
    pub fn workload(&self, pod: &Pod) -> (String, String) {
        let Some(mut at) = pod.owner.clone() else {
            return ("Pod".into(), pod.name.clone());
        };
        if at.kind == "Node" {
            let name = pod
                .name
                .strip_suffix(&format!("-{}", pod.node))
                .unwrap_or(&pod.name);
            return ("StaticPod".into(), name.to_string());
        }
        for _ in 0..MAX_DEPTH {
            let key = (pod.namespace.clone(), at.kind.clone(), at.name.clone());
            match self.map.get(&key) {
                Some(Some(up)) => at = up.clone(),
                // Seen, controlled by nobody: the workload.
                Some(None) => return (at.kind, at.name),
                None => return infer(pod, at),
            }
        }
        (at.kind, at.name)
    }
}

/// The owner of an object the input does not hold, from the controllers' naming.
fn infer(pod: &Pod, at: OwnerRef) -> (String, String) {
    match at.kind.as_str() {
        "ReplicaSet" => {
            let deployment = pod
                .labels
                .get("pod-template-hash")
                .filter(|hash| !hash.is_empty())
                .and_then(|hash| at.name.strip_suffix(&format!("-{hash}")))
                .filter(|name| !name.is_empty());
            match deployment {
                Some(name) => ("Deployment".into(), name.to_string()),
                None => (at.kind, at.name),
            }
        }
        "Job" => match at.name.rsplit_once('-') {
            Some((name, digits))
                if !name.is_empty()
                    && digits.len() >= 8
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                ("CronJob".into(), name.to_string())
            }
            _ => (at.kind, at.name),
        },
        _ => (at.kind, at.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::kubernetes::objects::Resources;

    fn pod(name: &str, owner: Option<(&str, &str)>, labels: &[(&str, &str)]) -> Pod {
        Pod {
            namespace: "ns".into(),
            name: name.into(),
            node: "node-1".into(),
            phase: "Running".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: Default::default(),
            owner: owner.map(|(kind, name)| OwnerRef {
                kind: kind.into(),
                name: name.into(),
            }),
            requests: Resources::default(),
        }
    }

    fn owner(kind: &str, name: &str) -> Option<OwnerRef> {
        Some(OwnerRef {
            kind: kind.into(),
            name: name.into(),
        })
    }

    fn w(kind: &str, name: &str) -> (String, String) {
        (kind.into(), name.into())
    }

    #[test]
    fn chains_from_the_objects_seen() {
        let mut owners = Owners::default();
        owners.insert("ns", "ReplicaSet", "web-5d4f", owner("Deployment", "web"));
        owners.insert("ns", "ReplicaSet", "lonely-7c9b", None);
        owners.insert("ns", "Job", "nightly-29000000", owner("CronJob", "nightly"));
        owners.insert("ns", "Job", "backfill-12345678", None);
        owners.insert(
            "ns",
            "ReplicaSet",
            "canary-6b7c",
            owner("Rollout", "canary"),
        );
        let hash = [("pod-template-hash", "5d4f")];
        assert_eq!(
            owners.workload(&pod("web-5d4f-x", Some(("ReplicaSet", "web-5d4f")), &hash)),
            w("Deployment", "web")
        );
        // Present without an owner: the ReplicaSet itself, whatever its name looks like.
        let hash = [("pod-template-hash", "7c9b")];
        assert_eq!(
            owners.workload(&pod("p", Some(("ReplicaSet", "lonely-7c9b")), &hash)),
            w("ReplicaSet", "lonely-7c9b")
        );
        assert_eq!(
            owners.workload(&pod("p", Some(("Job", "nightly-29000000")), &[])),
            w("CronJob", "nightly")
        );
        assert_eq!(
            owners.workload(&pod("p", Some(("Job", "backfill-12345678")), &[])),
            w("Job", "backfill-12345678")
        );
        assert_eq!(
            owners.workload(&pod("p", Some(("ReplicaSet", "canary-6b7c")), &[])),
            w("Rollout", "canary")
        );
    }

    #[test]
    fn infers_what_the_input_does_not_hold() {
        let owners = Owners::default();
        let hash = [("pod-template-hash", "6f8b9c7d54")];
        assert_eq!(
            owners.workload(&pod("x", Some(("ReplicaSet", "ledger-6f8b9c7d54")), &hash)),
            w("Deployment", "ledger")
        );
        assert_eq!(
            owners.workload(&pod("x", Some(("ReplicaSet", "ledger-6f8b9c7d54")), &[])),
            w("ReplicaSet", "ledger-6f8b9c7d54")
        );
        assert_eq!(
            owners.workload(&pod("x", Some(("Job", "report-29384720")), &[])),
            w("CronJob", "report")
        );
        assert_eq!(
            owners.workload(&pod("x", Some(("Job", "migrate-2")), &[])),
            w("Job", "migrate-2")
        );
        assert_eq!(
            owners.workload(&pod("indexer-0", Some(("StatefulSet", "indexer")), &[])),
            w("StatefulSet", "indexer")
        );
        assert_eq!(
            owners.workload(&pod("aws-node-x", Some(("DaemonSet", "aws-node")), &[])),
            w("DaemonSet", "aws-node")
        );
        assert_eq!(owners.workload(&pod("debug", None, &[])), w("Pod", "debug"));
        assert_eq!(
            owners.workload(&pod("etcd-node-1", Some(("Node", "node-1")), &[])),
            w("StaticPod", "etcd")
        );
    }

    #[test]
    fn a_cycle_ends() {
        let mut owners = Owners::default();
        owners.insert("ns", "A", "a", owner("B", "b"));
        owners.insert("ns", "B", "b", owner("A", "a"));
        let (kind, _) = owners.workload(&pod("p", Some(("A", "a")), &[]));
        assert!(kind == "A" || kind == "B");
    }
}
