//! The serde shapes of the Kubernetes objects read (only the fields used; `null` as absent),
//! and what they become: [`Node`], [`Pod`] (with its effective request) and [`PodUsage`].
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::objects::{CapacityType, Node, Pod, PodUsage, Resources};
use super::owners::OwnerRef;
use super::quantity::Quantity;

/// `null` reads as the default, as Kubernetes' own clients read it.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    namespace: String,
    #[serde(deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    owner_references: Vec<RawOwner>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOwner {
    #[serde(deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    controller: bool,
}

impl Meta {
    fn controller(&self) -> Option<OwnerRef> {
        let refs = &self.owner_references;
        refs.iter()
            .find(|r| r.controller)
            .or(refs.first())
            .map(|r| OwnerRef {
                kind: r.kind.clone(),
                name: r.name.clone(),
            })
    }
}

type QuantityMap = BTreeMap<String, Quantity>;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawNode {
    #[serde(deserialize_with = "nullable")]
    metadata: Meta,
    #[serde(deserialize_with = "nullable")]
    spec: NodeSpec,
    #[serde(deserialize_with = "nullable")]
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeSpec {
    #[serde(rename = "providerID", deserialize_with = "nullable")]
    provider_id: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeStatus {
    #[serde(deserialize_with = "nullable")]
    capacity: QuantityMap,
    #[serde(deserialize_with = "nullable")]
    allocatable: QuantityMap,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawPod {
    #[serde(deserialize_with = "nullable")]
    metadata: Meta,
    #[serde(deserialize_with = "nullable")]
    spec: PodSpec,
    #[serde(deserialize_with = "nullable")]
    status: PodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    #[serde(deserialize_with = "nullable")]
    node_name: String,
    #[serde(deserialize_with = "nullable")]
    containers: Vec<Container>,
    #[serde(deserialize_with = "nullable")]
    init_containers: Vec<Container>,
    /// RuntimeClass overhead (Kata, gVisor…), reserved on top of the containers.
    #[serde(deserialize_with = "nullable")]
    overhead: QuantityMap,
    /// Pod-level resources (PodLevelResources, Kubernetes 1.32+): when set, they are the pod's.
    #[serde(deserialize_with = "nullable")]
    resources: Requirements,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Container {
    #[serde(deserialize_with = "nullable")]
    resources: Requirements,
    /// `Always` on an init container makes it a sidecar (Kubernetes 1.29+).
    #[serde(deserialize_with = "nullable")]
    restart_policy: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Requirements {
    #[serde(deserialize_with = "nullable")]
    requests: QuantityMap,
    #[serde(deserialize_with = "nullable")]
    limits: QuantityMap,
}

impl Requirements {
    /// Requests, a missing one defaulting to its limit (as the API server defaults them).
    fn requests(&self) -> Resources {
        let mut map = self.limits.clone();
        map.extend(self.requests.iter().map(|(k, v)| (k.clone(), *v)));
        Resources::from_map(&map)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodStatus {
    #[serde(deserialize_with = "nullable")]
    phase: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawPodMetrics {
    #[serde(deserialize_with = "nullable")]
    metadata: Meta,
    #[serde(deserialize_with = "nullable")]
    containers: Vec<ContainerUsage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerUsage {
    #[serde(deserialize_with = "nullable")]
    usage: QuantityMap,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawOther {
    #[serde(deserialize_with = "nullable")]
    metadata: Meta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Head {
    #[serde(deserialize_with = "nullable")]
    pub(super) kind: String,
    pub(super) items: Option<serde::de::IgnoredAny>,
    #[serde(deserialize_with = "nullable")]
    pub(super) metadata: HeadMeta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct HeadMeta {
    #[serde(rename = "continue", deserialize_with = "nullable")]
    pub(super) continue_token: String,
    #[serde(deserialize_with = "nullable")]
    pub(super) name: String,
    #[serde(deserialize_with = "nullable")]
    pub(super) namespace: String,
}

/// The effective request of a pod, per resource, as the scheduler computes it: the larger of the
/// app containers plus sidecars and the peak during initialization (each init container plus the
/// sidecars started before it), pod-level requests instead where set, plus the overhead.
fn effective_requests(spec: &PodSpec) -> Resources {
    let containers = spec.containers.iter().fold(Resources::default(), |sum, c| {
        sum.zip(c.resources.requests(), |a, b| a + b)
    });
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in &spec.init_containers {
        let request = c.resources.requests();
        let now = if c.restart_policy == "Always" {
            sidecars = sidecars.zip(request, |a, b| a + b);
            sidecars
        } else {
            request.zip(sidecars, |a, b| a + b)
        };
        init_peak = init_peak.zip(now, i128::max);
    }
    let mut pod = containers
        .zip(sidecars, |a, b| a + b)
        .zip(init_peak, i128::max);
    let level = &spec.resources.requests;
    if let Some(cpu) = level.get("cpu") {
        pod.cpu = cpu.0;
    }
    if let Some(memory) = level.get("memory") {
        pod.memory = memory.0;
    }
    pod.zip(Resources::from_map(&spec.overhead), |a, b| a + b)
}

fn label(labels: &BTreeMap<String, String>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| labels.get(*k))
        .cloned()
        .unwrap_or_default()
}

pub(super) fn node(raw: RawNode) -> Node {
    let labels = &raw.metadata.labels;
    Node {
        provider_id: raw.spec.provider_id,
        instance_type: label(
            labels,
            &[
                "node.kubernetes.io/instance-type",
                "beta.kubernetes.io/instance-type",
            ],
        ),
        region: label(
            labels,
            &[
                "topology.kubernetes.io/region",
                "failure-domain.beta.kubernetes.io/region",
            ],
        ),
        zone: label(
            labels,
            &[
                "topology.kubernetes.io/zone",
                "failure-domain.beta.kubernetes.io/zone",
            ],
        ),
        capacity_type: CapacityType::from_labels(labels),
        capacity: Resources::from_map(&raw.status.capacity),
        allocatable: Resources::from_map(&raw.status.allocatable),
        gpu_model: label(labels, &["nvidia.com/gpu.product"]),
        name: raw.metadata.name,
    }
}

pub(super) fn pod(raw: RawPod) -> Pod {
    Pod {
        requests: effective_requests(&raw.spec),
        owner: raw.metadata.controller(),
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        node: raw.spec.node_name,
        phase: raw.status.phase,
        labels: raw.metadata.labels,
        annotations: raw.metadata.annotations,
    }
}

/// An object's namespace, name and controller, if it has a name.
pub(super) fn owned(raw: RawOther) -> Option<(String, String, Option<OwnerRef>)> {
    let owner = raw.metadata.controller();
    (!raw.metadata.name.is_empty()).then_some((raw.metadata.namespace, raw.metadata.name, owner))
}

pub(super) fn usage(raw: RawPodMetrics) -> PodUsage {
    let sum = raw.containers.iter().fold(Resources::default(), |sum, c| {
        sum.zip(Resources::from_map(&c.usage), |a, b| a + b)
    });
    PodUsage {
        namespace: raw.metadata.namespace,
        name: raw.metadata.name,
        cpu: sum.cpu,
        memory: sum.memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queries::Dec18;

    const UNIT: i128 = 1_000_000_000_000_000_000;

    fn spec(json: serde_json::Value) -> Resources {
        effective_requests(&serde_json::from_value(json).unwrap())
    }

    fn res(cpu_milli: i128, memory_mi: i128, gpu: i128) -> Resources {
        Resources {
            cpu: Dec18(cpu_milli * UNIT / 1000),
            memory: Dec18((memory_mi << 20) * UNIT),
            gpu: Dec18(gpu * UNIT),
        }
    }

    #[test]
    fn effective_requests_follow_the_scheduler() {
        let c = |cpu: &str, mem: &str| serde_json::json!({"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}});
        // Sum of app containers vs the largest init container.
        assert_eq!(
            spec(serde_json::json!({
                "containers": [c("250m", "64Mi"), c("250m", "64Mi")],
                "initContainers": [c("1", "32Mi"), c("100m", "16Mi")],
            })),
            res(1000, 128, 0)
        );
        // Sidecars run beside the later init containers and the app containers.
        let mut sidecar = c("100m", "50Mi");
        sidecar["restartPolicy"] = "Always".into();
        assert_eq!(
            spec(serde_json::json!({
                "containers": [c("200m", "100Mi")],
                "initContainers": [c("50m", "200Mi"), sidecar, c("500m", "10Mi")],
            })),
            res(600, 200, 0)
        );
        // Overhead on top; a missing request defaults to the limit; GPUs by request.
        assert_eq!(
            spec(serde_json::json!({
                "containers": [{"name": "a", "resources": {
                    "limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}}}],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            })),
            res(2250, 1144, 1)
        );
        // Pod-level requests replace the containers' sum.
        assert_eq!(
            spec(serde_json::json!({
                "containers": [c("4", "4Gi")],
                "resources": {"requests": {"cpu": "1"}},
            })),
            res(1000, 4096, 0)
        );
        assert_eq!(spec(serde_json::json!({})), Resources::default());
    }
}
