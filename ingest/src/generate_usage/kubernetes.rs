//! A seeded cluster in the shape `kubectl get -o json` prints: dozens of nodes (Karpenter, EKS
//! and GKE, spot and on-demand, some with GPUs, some with only the beta instance-type label) and
//! hundreds of pods (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs, bare pods; init
//! containers, sidecars, overhead; Pending, Succeeded and Failed ones), quantities written in
//! every form Kubernetes accepts, and what each object truly is.
use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// 10^18: one unit of Dec18.
pub const UNIT: i128 = 1_000_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeTruth {
    pub provider_id: String,
    pub instance_type: String,
    pub capacity_type: &'static str,
    pub cpu: i128,
    pub memory: i128,
    pub gpus: i128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodTruth {
    pub node: String,
    /// Holds node resources (scheduled, not finished).
    pub billable: bool,
    pub workload: (String, String),
    pub cpu: i128,
    pub memory: i128,
    pub gpu: i128,
    /// Measured use (cpu, memory) in the metrics, if reported.
    pub usage: Option<(i128, i128)>,
}

pub struct Cluster {
    pub nodes: Vec<Value>,
    pub pods: Vec<Value>,
    /// ReplicaSets and Jobs of some workloads (the others are inferred from names).
    pub owners: Vec<Value>,
    pub metrics: Vec<Value>,
    pub node_truth: BTreeMap<String, NodeTruth>,
    pub pod_truth: BTreeMap<(String, String), PodTruth>,
}

pub fn list(items: &[Value]) -> Value {
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// CPU millicores in one of its spellings.
fn cpu(rng: &mut ChaCha8Rng, milli: i128) -> String {
    match rng.gen_range(0..4) {
        0 if milli % 1000 == 0 => (milli / 1000).to_string(),
        1 => {
            let frac = format!("{:03}", milli % 1000);
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                (milli / 1000).to_string()
            } else {
                format!("{}.{frac}", milli / 1000)
            }
        }
        2 => format!("{milli}e-3"),
        _ => format!("{milli}m"),
    }
}

/// A memory amount near `mib` MiB in one of its spellings, and its bytes.
fn memory(rng: &mut ChaCha8Rng, mib: i128) -> (String, i128) {
    match rng.gen_range(0..6) {
        0 => (format!("{mib}Mi"), mib << 20),
        1 => (format!("{}Ki", mib * 1024), mib << 20),
        2 => ((mib << 20).to_string(), mib << 20),
        3 => (format!("{mib}M"), mib * 1_000_000),
        4 => (format!("{mib}e6"), mib * 1_000_000),
        _ if mib % 1024 == 0 => (format!("{}Gi", mib / 1024), mib << 20),
        _ => (format!("{mib}Mi"), mib << 20),
    }
}

fn hash(rng: &mut ChaCha8Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| *ALPHABET.choose(rng).unwrap() as char)
        .collect()
}

fn owner(kind: &str, name: &str) -> Value {
    let api = match kind {
        "Job" | "CronJob" => "batch/v1",
        _ => "apps/v1",
    };
    json!({"apiVersion": api, "blockOwnerDeletion": true, "controller": true, "kind": kind,
           "name": name, "uid": format!("{:x}", xxh(name))})
}

fn xxh(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn node(rng: &mut ChaCha8Rng, i: usize) -> (Value, NodeTruth) {
    let cores: i128 = *[2, 4, 8, 16, 32, 48].choose(rng).unwrap();
    let gpus: i128 = if i % 9 == 4 {
        *[1, 4, 8].choose(rng).unwrap()
    } else {
        0
    };
    let (zone, region) = if i % 6 >= 4 {
        ("us-central1-b", "us-central1")
    } else {
        (
            ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3],
            "eu-west-1",
        )
    };
    let (name, provider_id, instance_type) = if i % 6 >= 4 {
        let name = format!("gke-prod-pool-{}-{}", hash(rng, 8), hash(rng, 4));
        let id = format!("gce://acme-prod/{zone}/{name}");
        let t = if gpus > 0 {
            "a2-highgpu-1g"
        } else {
            "n2-standard-8"
        };
        (name, id, t.to_string())
    } else {
        let name = format!(
            "ip-10-0-{}-{}.{region}.compute.internal",
            i / 250,
            i % 250 + 4
        );
        let id = format!("aws:///{zone}/i-0{:016x}", rng.gen::<u64>());
        let t = if gpus > 0 {
            "p4d.24xlarge"
        } else {
            "m6i.2xlarge"
        };
        (name, id, t.to_string())
    };
    let (mut labels, capacity_type) = match i % 6 {
        0 => (
            json!({"karpenter.sh/capacity-type": "spot", "karpenter.sh/nodepool": "default"}),
            "spot",
        ),
        1 => (
            json!({"karpenter.sh/capacity-type": "on-demand", "karpenter.sh/nodepool": "default"}),
            "on-demand",
        ),
        2 => (
            json!({"eks.amazonaws.com/capacityType": "ON_DEMAND", "eks.amazonaws.com/nodegroup": "system"}),
            "on-demand",
        ),
        3 => (
            json!({"eks.amazonaws.com/capacityType": "SPOT", "eks.amazonaws.com/nodegroup": "batch-spot"}),
            "spot",
        ),
        4 => (
            json!({"cloud.google.com/gke-nodepool": "spot-pool", "cloud.google.com/gke-spot": "true"}),
            "spot",
        ),
        _ => (
            json!({"cloud.google.com/gke-nodepool": "default-pool"}),
            "on-demand",
        ),
    };
    let l = labels.as_object_mut().unwrap();
    for (k, v) in [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/instance-type", instance_type.as_str()),
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("topology.kubernetes.io/region", region),
        ("topology.kubernetes.io/zone", zone),
    ] {
        l.insert(k.into(), v.into());
    }
    if i % 7 != 3 {
        l.insert(
            "node.kubernetes.io/instance-type".into(),
            instance_type.clone().into(),
        );
    }
    if gpus > 0 {
        l.insert(
            "nvidia.com/gpu.product".into(),
            "NVIDIA-A100-SXM4-40GB".into(),
        );
    }
    let (memory_text, memory_bytes) = if rng.gen_bool(0.5) {
        let ki = cores * 4 * 1024 * 1024 - rng.gen_range(100_000..600_000);
        (format!("{ki}Ki"), ki * 1024)
    } else {
        (format!("{}Gi", cores * 4), (cores * 4) << 30)
    };
    let mut capacity = json!({"cpu": cores.to_string(), "ephemeral-storage": "104779756Ki",
                              "memory": memory_text, "pods": "110"});
    let mut allocatable =
        json!({"cpu": format!("{}m", cores * 1000 - 90), "memory": "1Gi", "pods": "110"});
    if gpus > 0 {
        capacity["nvidia.com/gpu"] = gpus.to_string().into();
        allocatable["nvidia.com/gpu"] = gpus.to_string().into();
    }
    let object = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"creationTimestamp": "2026-11-28T06:00:00Z", "labels": labels, "name": name,
                     "resourceVersion": rng.gen_range(1000..99999).to_string(),
                     "uid": format!("{:032x}", rng.gen::<u128>())},
        "spec": {"providerID": provider_id},
        "status": {"allocatable": allocatable, "capacity": capacity,
                   "conditions": [{"lastHeartbeatTime": "2026-12-01T10:00:00Z", "lastTransitionTime": "2026-11-28T06:00:00Z",
                                   "message": "kubelet is posting ready status", "reason": "KubeletReady", "status": "True", "type": "Ready"}],
                   "nodeInfo": {"architecture": "amd64", "kubeletVersion": "v1.33.3", "operatingSystem": "linux"}}
    });
    let truth = NodeTruth {
        provider_id,
        instance_type,
        capacity_type,
        cpu: cores * UNIT,
        memory: memory_bytes * UNIT,
        gpus: gpus * UNIT,
    };
    (object, truth)
}

/// A container with random requests (sometimes only limits); its (cpu, memory, gpu) request.
fn container(rng: &mut ChaCha8Rng, name: &str, gpu: i128) -> (Value, [i128; 3]) {
    let milli = rng.gen_range(1..40) * 50;
    let mib = rng.gen_range(1..64) * 64;
    let cpu_text = cpu(rng, milli);
    let (mem_text, bytes) = memory(rng, mib);
    let mut requests = json!({"cpu": cpu_text, "memory": mem_text});
    if gpu > 0 {
        requests["nvidia.com/gpu"] = gpu.to_string().into();
    }
    let resources = if rng.gen_bool(0.15) {
        json!({"limits": requests})
    } else {
        json!({"limits": {"memory": format!("{}Mi", mib * 2)}, "requests": requests})
    };
    let value = json!({"image": format!("registry.example.com/{name}:2.3.1"), "imagePullPolicy": "IfNotPresent",
                       "name": name, "resources": resources,
                       "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"});
    (value, [milli * UNIT / 1000, bytes * UNIT, gpu * UNIT])
}

pub fn generate(seed: u64, node_count: usize, pod_count: usize) -> Cluster {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Cluster {
        nodes: vec![],
        pods: vec![],
        owners: vec![],
        metrics: vec![],
        node_truth: BTreeMap::new(),
        pod_truth: BTreeMap::new(),
    };
    let mut names = Vec::new();
    for i in 0..node_count {
        let (object, truth) = node(&mut rng, i);
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        names.push((name.clone(), truth.gpus / UNIT));
        c.nodes.push(object);
        c.node_truth.insert(name, truth);
    }
    let namespaces = ["payments", "search", "checkout", "ml", "data", "monitoring"];
    let mut rs_hashes: BTreeMap<String, String> = BTreeMap::new();
    for j in 0..pod_count {
        let ns = namespaces[j % namespaces.len()];
        let (node, node_gpus) = names[rng.gen_range(0..names.len())].clone();
        let app = format!("app-{}", j % 40);
        let mut labels = json!({"app.kubernetes.io/name": app, "team": format!("team-{}", j % 7)});
        let mut phase = "Running";
        let (name, owners, workload) = match j % 10 {
            0..=4 => {
                let key = format!("{ns}/{app}");
                let h = rs_hashes
                    .entry(key)
                    .or_insert_with(|| hash(&mut rng, 10))
                    .clone();
                let rs = format!("{app}-{h}");
                labels["pod-template-hash"] = h.clone().into();
                if j % 40 < 20
                    && !c.owners.iter().any(|o| {
                        o["metadata"]["name"] == rs.as_str() && o["metadata"]["namespace"] == ns
                    })
                {
                    c.owners.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": rs, "namespace": ns, "labels": {"pod-template-hash": h},
                                     "ownerReferences": [owner("Deployment", &app)]},
                        "spec": {"replicas": 3}}));
                }
                (
                    format!("{rs}-{}", hash(&mut rng, 5)),
                    vec![owner("ReplicaSet", &rs)],
                    ("Deployment", app.clone()),
                )
            }
            5 => {
                let sts = format!("db-{}", j % 3);
                labels["statefulset.kubernetes.io/pod-name"] = format!("{sts}-{j}").into();
                (
                    format!("{sts}-{j}"),
                    vec![owner("StatefulSet", &sts)],
                    ("StatefulSet", sts.clone()),
                )
            }
            6 => {
                labels["controller-revision-hash"] = hash(&mut rng, 9).into();
                labels["pod-template-generation"] = "4".into();
                (
                    format!("node-exporter-{}", hash(&mut rng, 5)),
                    vec![owner("DaemonSet", "node-exporter")],
                    ("DaemonSet", "node-exporter".to_string()),
                )
            }
            7 => {
                let cj = format!("report-{}", j % 4);
                let job = format!("{cj}-{}", 29_419_000 + j);
                labels["job-name"] = job.clone().into();
                labels["batch.kubernetes.io/job-name"] = job.clone().into();
                if j % 20 == 7 {
                    c.owners.push(json!({"apiVersion": "batch/v1", "kind": "Job",
                        "metadata": {"name": job, "namespace": ns, "ownerReferences": [owner("CronJob", &cj)]}}));
                }
                if rng.gen_bool(0.4) {
                    phase = "Succeeded";
                }
                (
                    format!("{job}-{}", hash(&mut rng, 5)),
                    vec![owner("Job", &job)],
                    ("CronJob", cj.clone()),
                )
            }
            8 => {
                let job = format!("migrate-{}", j % 5);
                (
                    format!("{job}-{}", hash(&mut rng, 5)),
                    vec![owner("Job", &job)],
                    ("Job", job.clone()),
                )
            }
            _ => {
                let name = format!("debug-{j}");
                (name.clone(), vec![], ("Pod", name))
            }
        };
        let pending = rng.gen_bool(0.05);
        if pending {
            phase = "Pending";
        } else if rng.gen_bool(0.02) {
            phase = "Failed";
        }
        let gpu = if node_gpus > 0 && rng.gen_bool(0.5) {
            1
        } else {
            0
        };
        let mut containers = vec![];
        let mut sum = [0i128; 3];
        for k in 0..rng.gen_range(1..4) {
            let (v, r) = container(&mut rng, &format!("c{k}"), if k == 0 { gpu } else { 0 });
            containers.push(v);
            for x in 0..3 {
                sum[x] += r[x];
            }
        }
        let mut spec = json!({"containers": containers, "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                              "schedulerName": "default-scheduler", "serviceAccountName": "default",
                              "terminationGracePeriodSeconds": 30});
        // Init containers (regular, then a sidecar) and overhead.
        let mut sidecars = [0i128; 3];
        let mut peak = [0i128; 3];
        if rng.gen_bool(0.3) {
            let mut init = vec![];
            for (k, sidecar) in [(0, false), (1, rng.gen_bool(0.5)), (2, false)] {
                let (mut v, r) = container(&mut rng, &format!("init{k}"), 0);
                let now: [i128; 3] = if sidecar {
                    v["restartPolicy"] = "Always".into();
                    for x in 0..3 {
                        sidecars[x] += r[x];
                    }
                    sidecars
                } else {
                    [r[0] + sidecars[0], r[1] + sidecars[1], r[2] + sidecars[2]]
                };
                for x in 0..3 {
                    peak[x] = peak[x].max(now[x]);
                }
                init.push(v);
            }
            spec["initContainers"] = init.into();
        }
        let mut request = [0i128; 3];
        for x in 0..3 {
            request[x] = (sum[x] + sidecars[x]).max(peak[x]);
        }
        if rng.gen_bool(0.1) {
            spec["runtimeClassName"] = "kata-qemu".into();
            spec["overhead"] = json!({"cpu": "250m", "memory": "160Mi"});
            request[0] += UNIT / 4;
            request[1] += (160i128 << 20) * UNIT;
        }
        if !pending {
            spec["nodeName"] = node.clone().into();
        }
        let mut metadata = json!({"creationTimestamp": "2026-12-01T08:00:00Z", "labels": labels, "name": name,
                                  "namespace": ns, "resourceVersion": rng.gen_range(1000..99999).to_string(),
                                  "uid": format!("{:032x}", rng.gen::<u128>())});
        if !owners.is_empty() {
            metadata["ownerReferences"] = owners.into();
        }
        let billable = !pending && phase != "Succeeded" && phase != "Failed";
        let usage = (billable && rng.gen_bool(0.8)).then(|| {
            let per: Vec<(i128, i128)> = (0..spec["containers"].as_array().unwrap().len())
                .map(|_| (rng.gen_range(1_000_000..3_000_000_000i128), rng.gen_range(10_000..4_000_000i128)))
                .collect();
            c.metrics.push(json!({
                "metadata": {"creationTimestamp": "2026-12-01T10:00:05Z", "name": name, "namespace": ns},
                "timestamp": "2026-12-01T10:00:00Z", "window": "16.42s",
                "containers": per.iter().enumerate().map(|(k, (n, ki))| json!({"name": format!("c{k}"),
                    "usage": {"cpu": format!("{n}n"), "memory": format!("{ki}Ki")}})).collect::<Vec<_>>()
            }));
            per.iter().fold((0, 0), |(a, b), (n, ki)| (a + n * 1_000_000_000, b + ki * 1024 * UNIT))
        });
        c.pods.push(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec,
                           "status": {"phase": phase, "qosClass": "Burstable"}}),
        );
        c.pod_truth.insert(
            (ns.to_string(), name),
            PodTruth {
                node: if pending { String::new() } else { node },
                billable,
                workload: (workload.0.to_string(), workload.1),
                cpu: request[0],
                memory: request[1],
                gpu: request[2],
                usage,
            },
        );
    }
    c
}
