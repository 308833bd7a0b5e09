//! A sample (nodes, pods and their usage at one moment) and the fold of samples into the rows
//! of `k8s_nodes` and `k8s_pod_usage` (see [`super::window`] for how time is counted).
use std::collections::BTreeMap;

use queries::Dec18;
use serde::{Deserialize, Serialize};

use super::objects::{Node, Objects, Pod, PodUsage};
use super::owners::Owners;
use super::window::{Fold, Segment, Timing, Window};
use crate::record::{NodeWindow, PodWindow};

/// The cluster at one moment: the latest object of each name seen in its inputs.
#[derive(Debug, Default)]
pub struct Sample {
    pub at: u32,
    pub nodes: BTreeMap<String, Node>,
    pub pods: BTreeMap<(String, String), Pod>,
    pub usage: BTreeMap<(String, String), PodUsage>,
}

impl Sample {
    pub fn new(at: u32) -> Sample {
        Sample {
            at,
            ..Sample::default()
        }
    }

    pub fn add(&mut self, objects: Objects) {
        for n in objects.nodes {
            self.nodes.insert(n.name.clone(), n);
        }
        for p in objects.pods {
            self.pods.insert((p.namespace.clone(), p.name.clone()), p);
        }
        for u in objects.usage {
            self.usage.insert((u.namespace.clone(), u.name.clone()), u);
        }
    }
}

/// What a `k8s_nodes` row says of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFacts {
    pub provider_id: String,
    pub instance_type: String,
    pub cpu: Dec18,
    pub memory: Dec18,
    pub gpus: Dec18,
}

/// A pod's row key in the fold: namespace, pod, node (a pod re-created under the same name on
/// another node is another presence).
pub type PodKey = (String, String, String);

/// What a `k8s_pod_usage` row says of a pod, besides usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodFacts {
    pub workload_kind: String,
    pub workload: String,
    pub labels: Vec<(String, String)>,
    pub cpu_request: Dec18,
    pub memory_request: Dec18,
    pub gpu_request: Dec18,
}

/// The windows of one cluster's nodes and pods.
pub struct ClusterFold {
    pub nodes: Fold<String, NodeFacts>,
    pub pods: Fold<PodKey, PodFacts>,
}

/// The open presences a live run leaves for the next one (its checkpoint).
#[derive(Serialize, Deserialize)]
struct State {
    version: u32,
    timing: Timing,
    nodes: Vec<(String, Segment<NodeFacts>)>,
    pods: Vec<(PodKey, Segment<PodFacts>)>,
}

const STATE_VERSION: u32 = 1;

impl ClusterFold {
    pub fn new(timing: Timing) -> ClusterFold {
        ClusterFold {
            nodes: Fold::new(timing),
            pods: Fold::new(timing),
        }
    }

    /// Continue from a checkpoint an earlier run left; an unreadable one starts afresh.
    pub fn resume(checkpoint: Option<&str>, timing: Timing) -> ClusterFold {
        let Some(text) = checkpoint else {
            return ClusterFold::new(timing);
        };
        match serde_json::from_str::<State>(text) {
            Ok(state) if state.version == STATE_VERSION => ClusterFold {
                nodes: Fold::resume(timing, state.nodes),
                pods: Fold::resume(timing, state.pods),
            },
            Ok(_) | Err(_) => {
                tracing::warn!("the Kubernetes source's checkpoint is not readable; the current hour starts afresh");
                ClusterFold::new(timing)
            }
        }
    }

    pub fn checkpoint(&self) -> String {
        let state = State {
            version: STATE_VERSION,
            timing: self.nodes.timing(),
            nodes: self
                .nodes
                .segments()
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect(),
            pods: self
                .pods
                .segments()
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect(),
        };
        serde_json::to_string(&state).expect("the state serializes")
    }

    /// Fold one sample in. Pods that hold no node resources (Pending, Succeeded, Failed) are
    /// left out; a pod's usage is its PodMetrics in the same sample, if any.
    pub fn observe(&mut self, sample: &Sample, owners: &Owners) {
        for (name, n) in &sample.nodes {
            self.nodes.observe(
                name.clone(),
                sample.at,
                NodeFacts {
                    provider_id: n.provider_id.clone(),
                    instance_type: n.instance_type.clone(),
                    cpu: n.capacity.cpu,
                    memory: n.capacity.memory,
                    gpus: n.capacity.gpu,
                },
                None,
            );
        }
        for (key, p) in &sample.pods {
            if !p.holds_resources() {
                continue;
            }
            let (workload_kind, workload) = owners.workload(p);
            let usage = sample.usage.get(key).map(|u| (u.cpu, u.memory));
            self.pods.observe(
                (p.namespace.clone(), p.name.clone(), p.node.clone()),
                sample.at,
                PodFacts {
                    workload_kind,
                    workload,
                    labels: p.cost_labels(),
                    cpu_request: p.requests.cpu,
                    memory_request: p.requests.memory,
                    gpu_request: p.requests.gpu,
                },
                usage,
            );
        }
    }
}

pub fn node_windows(cluster: &str, windows: Vec<Window<String, NodeFacts>>) -> Vec<NodeWindow> {
    windows
        .into_iter()
        .map(|w| NodeWindow {
            cluster: cluster.to_string(),
            node: w.key,
            provider_id: w.facts.provider_id,
            instance_type: w.facts.instance_type,
            cpu_cores: w.facts.cpu,
            memory_bytes: w.facts.memory,
            gpus: w.facts.gpus,
            window_start: w.start,
            window_end: w.end,
        })
        .collect()
}

pub fn pod_windows(cluster: &str, windows: Vec<Window<PodKey, PodFacts>>) -> Vec<PodWindow> {
    windows
        .into_iter()
        .map(|w| {
            let (namespace, pod, node) = w.key;
            PodWindow {
                cluster: cluster.to_string(),
                node,
                namespace,
                pod,
                workload_kind: w.facts.workload_kind,
                workload: w.facts.workload,
                labels: w.facts.labels,
                window_start: w.start,
                window_end: w.end,
                cpu_request_cores: w.facts.cpu_request,
                cpu_usage_cores: w.cpu_usage,
                memory_request_bytes: w.facts.memory_request,
                memory_usage_bytes: w.memory_usage,
                gpu_request: w.facts.gpu_request,
            }
        })
        .collect()
}
