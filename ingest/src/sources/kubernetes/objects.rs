//! Nodes, pods and PodMetrics from `kubectl get … -o json` output or an API list answer, as typed
//! facts. A document is one object or a list (`List` of mixed kinds, or `PodList`, `NodeList`,
//! `PodMetricsList`, … whose items carry no `kind`); each item is read by its kind, and a problem
//! points at its line and column in the text. Kinds other than Node, Pod and PodMetrics only
//! contribute their owner (a ReplicaSet's Deployment, a Job's CronJob); see [`super::owners`].
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use queries::Dec18;

use super::owners::{OwnerRef, Owners};
use super::quantity::Quantity;
use super::{json, raw};
use crate::error::Problem;
use crate::reader::Location;

/// Extended resources counted as GPUs, on nodes and in requests.
pub const GPU_RESOURCES: [&str; 2] = ["nvidia.com/gpu", "amd.com/gpu"];

/// Labels the controllers put on pods, one value per pod or per revision: left out of the cost
/// labels, which group allocations (pod names and template hashes would split every workload).
pub const CONTROLLER_LABELS: [&str; 10] = [
    "pod-template-hash",
    "controller-revision-hash",
    "pod-template-generation",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-uid",
    "job-name",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "batch.kubernetes.io/job-completion-index",
];

/// Annotations with this prefix are costmill's own markers (e.g. `costmill.io/spot: never`) and
/// join the pod's cost labels (a label of the same key wins).
pub const COSTMILL_ANNOTATIONS: &str = "costmill.io/";

/// CPU cores, memory bytes and GPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu: Dec18,
    pub memory: Dec18,
    pub gpu: Dec18,
}

impl Resources {
    pub(super) fn from_map(map: &BTreeMap<String, Quantity>) -> Resources {
        let get = |k: &str| map.get(k).map_or(0, |q| q.0 .0);
        Resources {
            cpu: Dec18(get("cpu")),
            memory: Dec18(get("memory")),
            gpu: Dec18(GPU_RESOURCES.iter().map(|r| get(r)).sum()),
        }
    }

    pub(super) fn zip(self, other: Resources, f: impl Fn(i128, i128) -> i128) -> Resources {
        Resources {
            cpu: Dec18(f(self.cpu.0, other.cpu.0)),
            memory: Dec18(f(self.memory.0, other.memory.0)),
            gpu: Dec18(f(self.gpu.0, other.gpu.0)),
        }
    }
}

/// How a node is bought, from the labels of Karpenter, EKS, GKE and AKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityType {
    OnDemand,
    Spot,
    /// No label says.
    Unknown,
}

impl CapacityType {
    pub(super) fn from_labels(labels: &BTreeMap<String, String>) -> CapacityType {
        let get = |k: &str| labels.get(k).map(|v| v.to_ascii_lowercase());
        if let Some(v) = get("karpenter.sh/capacity-type") {
            return if v == "spot" {
                CapacityType::Spot
            } else {
                CapacityType::OnDemand
            };
        }
        if let Some(v) = get("eks.amazonaws.com/capacityType") {
            return if v == "spot" {
                CapacityType::Spot
            } else {
                CapacityType::OnDemand
            };
        }
        if get("cloud.google.com/gke-spot").as_deref() == Some("true")
            || get("cloud.google.com/gke-preemptible").as_deref() == Some("true")
            || get("kubernetes.azure.com/scalesetpriority").as_deref() == Some("spot")
        {
            return CapacityType::Spot;
        }
        if labels.contains_key("cloud.google.com/gke-nodepool")
            || labels.contains_key("kubernetes.azure.com/agentpool")
        {
            return CapacityType::OnDemand;
        }
        CapacityType::Unknown
    }
}

/// A node as the cost model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// spec.providerID, e.g. `aws:///eu-west-1a/i-0abc…`.
    pub provider_id: String,
    /// `node.kubernetes.io/instance-type`, else `beta.kubernetes.io/instance-type`.
    pub instance_type: String,
    /// `topology.kubernetes.io/region` (or the deprecated failure-domain label).
    pub region: String,
    pub zone: String,
    pub capacity_type: CapacityType,
    /// status.capacity: what the instance has (what its price pays for).
    pub capacity: Resources,
    /// status.allocatable: what pods may request.
    pub allocatable: Resources,
    /// `nvidia.com/gpu.product` (GPU feature discovery), if labelled.
    pub gpu_model: String,
}

/// A pod as the cost model needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// spec.nodeName; empty while the pod is Pending (not scheduled).
    pub node: String,
    pub phase: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The controlling owner (`controller: true`, else the first owner).
    pub owner: Option<OwnerRef>,
    /// The effective request: what the scheduler reserves on the node for the pod.
    pub requests: Resources,
}

impl Pod {
    /// Scheduled and not finished: Pending pods hold no node, Succeeded and Failed pods hold
    /// nothing on it any more.
    pub fn holds_resources(&self) -> bool {
        !self.node.is_empty() && self.phase != "Succeeded" && self.phase != "Failed"
    }

    /// The labels allocations group by: the pod's labels without the controllers' per-pod ones,
    /// plus its `costmill.io/` annotations; sorted by key.
    pub fn cost_labels(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<&str, &str> = self
            .annotations
            .iter()
            .filter(|(k, _)| k.starts_with(COSTMILL_ANNOTATIONS))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (k, v) in &self.labels {
            if !CONTROLLER_LABELS.contains(&k.as_str()) {
                out.insert(k, v);
            }
        }
        out.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// A pod's measured use (metrics-server), summed over its containers.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub cpu: Dec18,
    pub memory: Dec18,
}

/// What one document held.
#[derive(Debug, Default)]
pub struct Objects {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub usage: Vec<PodUsage>,
    pub owners: Owners,
    /// Items of other kinds (kept only for their owners).
    pub other: usize,
    /// A list answer's `metadata.continue`: there are more pages.
    pub continue_token: Option<String>,
}

impl Objects {
    pub fn extend(&mut self, more: Objects) {
        self.nodes.extend(more.nodes);
        self.pods.extend(more.pods);
        self.usage.extend(more.usage);
        self.owners.extend(more.owners);
        self.other += more.other;
    }
}

/// Read a document. `file` names it in problems (a path, or the API call for a live answer).
pub fn parse(text: &str, file: &Path) -> (Objects, Vec<Problem>) {
    let mut out = Objects::default();
    let mut problems = Vec::new();
    let problem = |(line, column): (u64, u64), message: String| Problem {
        file: file.to_path_buf(),
        location: Location::Line(line),
        column: Some(column.to_string()),
        message,
    };
    let head: raw::Head = match serde_json::from_str(text) {
        Ok(head) => head,
        Err(e) => {
            let position = if e.line() == 0 {
                (1, 1)
            } else {
                (e.line() as u64, e.column() as u64)
            };
            problems.push(problem(
                position,
                format!(
                    "not Kubernetes JSON (`kubectl get nodes,pods -A -o json` output): {}",
                    json::message(&e)
                ),
            ));
            return (out, problems);
        }
    };
    let whole = 0..text.len();
    let is_list = head.items.is_some() || head.kind.ends_with("List");
    if !is_list && head.kind.is_empty() {
        problems.push(problem(
            json::line_column(text, 0),
            "expected a Kubernetes object or list (with `kind`), as `kubectl get nodes,pods -A \
             -o json` prints"
                .into(),
        ));
        return (out, problems);
    }
    let (items, inherited) = if is_list {
        let items = json::field(text, whole.clone(), "items")
            .map(|r| json::elements(text, r))
            .unwrap_or_default();
        let kind = head.kind.strip_suffix("List").unwrap_or("").to_string();
        (items, kind)
    } else {
        (vec![whole], String::new())
    };
    if !head.metadata.continue_token.is_empty() {
        out.continue_token = Some(head.metadata.continue_token.clone());
    }
    for (index, range) in items.into_iter().enumerate() {
        if let Err((at, message)) = item(text, range, &inherited, &mut out) {
            problems.push(problem(at, format!("item {index}: {message}")));
        }
    }
    (out, problems)
}

/// Read one item into `out`; on a problem, where it is and what it is.
fn item(
    text: &str,
    range: Range<usize>,
    inherited: &str,
    out: &mut Objects,
) -> Result<(), ((u64, u64), String)> {
    let slice = &text[range.clone()];
    let kind = json::field(text, range.clone(), "kind")
        .and_then(|r| serde_json::from_str::<String>(&text[r]).ok())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| inherited.to_string());
    let failed = |e: serde_json::Error| {
        let what = serde_json::from_str::<raw::Head>(slice)
            .map(|h| match h.metadata.namespace.as_str() {
                "" => format!("{kind} {}", h.metadata.name),
                ns => format!("{kind} {ns}/{}", h.metadata.name),
            })
            .unwrap_or_else(|_| kind.clone());
        (
            json::error_position(text, range.start, &e),
            format!("{what}: {}", json::message(&e)),
        )
    };
    match kind.as_str() {
        "Node" => out
            .nodes
            .push(raw::node(serde_json::from_str(slice).map_err(failed)?)),
        "Pod" => out
            .pods
            .push(raw::pod(serde_json::from_str(slice).map_err(failed)?)),
        "PodMetrics" => out
            .usage
            .push(raw::usage(serde_json::from_str(slice).map_err(failed)?)),
        _ => {
            let other: raw::RawOther = serde_json::from_str(slice).map_err(failed)?;
            out.other += 1;
            if let Some((namespace, name, owner)) = raw::owned(other) {
                if !kind.is_empty() {
                    out.owners.insert(&namespace, &kind, &name, owner);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_quantity_points_at_its_line_and_column() {
        let text = "{\"kind\": \"List\", \"items\": [\n{\"kind\": \"Node\", \"metadata\": {\"name\": \"n1\"}},\n{\"kind\": \"Pod\", \"metadata\": {\"name\": \"p\", \"namespace\": \"ns\"},\n \"spec\": {\"containers\": [{\"resources\": {\"requests\": {\"cpu\": \"2 cores\"}}}]}}]}";
        let (objects, problems) = parse(text, Path::new("dump.json"));
        assert_eq!(objects.nodes.len(), 1);
        assert_eq!(problems.len(), 1);
        let p = &problems[0];
        assert_eq!(p.location, Location::Line(4));
        assert_eq!(p.column.as_deref(), Some("69"), "the end of the bad value");
        assert!(
            p.message
                .starts_with("item 1: Pod ns/p: `2 cores` is not a Kubernetes quantity"),
            "{}",
            p.message
        );
    }
}
