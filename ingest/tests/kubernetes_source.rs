//! The Kubernetes source: kubectl dumps read into typed facts (effective requests, quantities,
//! owner chains), samples folded into hourly windows, dumps landed in k8s_nodes/k8s_pod_usage
//! (idempotently; a bad file refused with its line and column), and the live source against the
//! fake API server (kubernetes_source/live.rs).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ingest::record::{NodeWindow, PodWindow, Records, SourceEvent};
use ingest::sources::kubernetes::objects::{self, CapacityType};
use ingest::sources::kubernetes::sample::{ClusterFold, Sample};
use ingest::sources::kubernetes::window::Timing;
use ingest::sources::kubernetes::KubernetesDumps;
use ingest::{IngestError, Problem, Source};
use queries::Dec18;
use rust_decimal::prelude::*;
use serde_json::{json, Value};

#[path = "../../testing/fake-kube/harness.rs"]
mod fake_kube;
use ingest::generate_usage::kubernetes as gen;
#[path = "kubernetes_source/landing.rs"]
mod landing;
#[path = "kubernetes_source/live.rs"]
mod live;

use gen::UNIT;

/// 2026-12-01 10:00:00 UTC.
const T10: u32 = 1_796_119_200;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/kubernetes")
        .join(name)
}

fn dec(text: &str) -> Dec18 {
    Dec18::from_decimal_exact(Decimal::from_str(text).unwrap()).unwrap()
}

/// Everything a source yields, or its error.
async fn collect(
    source: &dyn Source,
) -> Result<(Vec<NodeWindow>, Vec<PodWindow>, Vec<Problem>), IngestError> {
    let mut stream = source.read(None);
    let (mut nodes, mut pods, mut problems) = (vec![], vec![], vec![]);
    while let Some(event) = stream.next().await {
        match event? {
            SourceEvent::Records(Records::K8sNodes(n)) => nodes.extend(n),
            SourceEvent::Records(Records::K8sPods(p)) => pods.extend(p),
            SourceEvent::Problem(p) => problems.push(p),
            SourceEvent::Checkpoint(_) => {}
            SourceEvent::Records(_) => panic!("unexpected records"),
        }
    }
    nodes.sort_by(|a, b| (&a.node, a.window_start).cmp(&(&b.node, b.window_start)));
    pods.sort_by(|a, b| {
        (&a.namespace, &a.pod, a.window_start).cmp(&(&b.namespace, &b.pod, b.window_start))
    });
    Ok((nodes, pods, problems))
}

fn write(dir: &Path, name: &str, value: &Value, modified: Option<u32>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    if let Some(t) = modified {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t.into()))
            .unwrap();
    }
    path
}

#[test]
fn a_kubectl_dump_reads_into_exact_facts() {
    let text = std::fs::read_to_string(data("cluster.json")).unwrap();
    let (objects, problems) = objects::parse(&text, &data("cluster.json"));
    assert!(problems.is_empty(), "{problems:?}");
    let nodes: BTreeMap<_, _> = objects.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let n1 = nodes["ip-10-1-1-10.eu-west-1.compute.internal"];
    assert_eq!(
        (
            n1.instance_type.as_str(),
            n1.region.as_str(),
            n1.zone.as_str(),
            n1.capacity_type
        ),
        (
            "m6i.2xlarge",
            "eu-west-1",
            "eu-west-1a",
            CapacityType::OnDemand
        )
    );
    assert_eq!(n1.capacity.cpu, dec("8"));
    assert_eq!(n1.capacity.memory, Dec18(32_386_520 * 1024 * UNIT));
    assert_eq!(n1.allocatable.cpu, dec("7.91"));
    assert_eq!(n1.provider_id, "aws:///eu-west-1a/i-0aa11bb22cc33dd44");
    // Only the beta instance-type label; spot by the EKS label.
    let n2 = nodes["ip-10-1-2-20.eu-west-1.compute.internal"];
    assert_eq!(
        (n2.instance_type.as_str(), n2.capacity_type),
        ("m6a.xlarge", CapacityType::Spot)
    );
    assert_eq!(n2.capacity.memory, Dec18((16i128 << 30) * UNIT));
    let gpu = nodes["gke-ml-gpu-pool-5f1c2b7a-x9kq"];
    assert_eq!(
        (gpu.capacity_type, gpu.capacity.gpu),
        (CapacityType::Spot, dec("1"))
    );
    assert_eq!(gpu.allocatable.memory, Dec18(80_000_000_000 * UNIT));
    assert_eq!(gpu.gpu_model, "NVIDIA-A100-SXM4-40GB");

    // One sample: the rows the pods that hold resources become.
    let metrics = std::fs::read_to_string(data("podmetrics.json")).unwrap();
    let (usage, problems) = objects::parse(&metrics, Path::new("podmetrics.json"));
    assert!(problems.is_empty(), "{problems:?}");
    let mut sample = Sample::new(T10);
    let owners = objects.owners.clone();
    sample.add(objects);
    sample.add(usage);
    let mut fold = ClusterFold::new(Timing::new(60, None));
    fold.observe(&sample, &owners);
    let pods: BTreeMap<String, _> = fold
        .pods
        .finish()
        .into_iter()
        .map(|w| (w.key.1.clone(), w))
        .collect();
    let got = |name: &str| {
        let w = &pods[name];
        (
            w.facts.workload_kind.as_str(),
            w.facts.workload.as_str(),
            w.facts.cpu_request,
            w.facts.memory_request,
            w.facts.gpu_request,
        )
    };
    let mi = |n: i128| Dec18((n << 20) * UNIT);
    // Init container 1500m beats app 500m + sidecar 100m; memory: 512Mi + 128Mi sidecar.
    assert_eq!(
        got("api-7d9f8c6b5-2xkqp"),
        ("Deployment", "api", dec("1.5"), mi(640), Dec18::ZERO)
    );
    // 0.25 + 50m + 250m overhead; 0.5Gi + 64M + 160Mi overhead.
    assert_eq!(
        got("sandbox-6c8d7f9b4-q8wz2"),
        (
            "Deployment",
            "sandbox",
            dec("0.55"),
            Dec18((536_870_912 + 64_000_000 + 167_772_160) * UNIT),
            Dec18::ZERO
        )
    );
    assert_eq!(
        got("postgres-0"),
        ("StatefulSet", "postgres", dec("2"), mi(8192), Dec18::ZERO)
    );
    assert_eq!(
        got("node-exporter-7xk2p"),
        (
            "DaemonSet",
            "node-exporter",
            dec("0.1"),
            dec("50000000"),
            Dec18::ZERO
        )
    );
    assert_eq!(
        got("report-29419440-5mzxq"),
        ("CronJob", "report", dec("1"), mi(2048), Dec18::ZERO)
    );
    assert_eq!(
        got("train-llm-0"),
        ("Pod", "train-llm-0", dec("8"), mi(65536), dec("1"))
    );
    // Only limits: the requests default to them.
    assert_eq!(
        got("debug-shell"),
        ("Pod", "debug-shell", dec("0.2"), mi(128), Dec18::ZERO)
    );
    // Pending, Succeeded and Failed pods cost nothing.
    let mut names: Vec<&str> = pods.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api-7d9f8c6b5-2xkqp",
            "debug-shell",
            "node-exporter-7xk2p",
            "postgres-0",
            "report-29419440-5mzxq",
            "sandbox-6c8d7f9b4-q8wz2",
            "train-llm-0"
        ]
    );
    // Usage: the containers' sum; none reported, none counted.
    let api = &pods["api-7d9f8c6b5-2xkqp"];
    assert_eq!(
        (api.cpu_usage, api.memory_usage),
        (dec("0.433345678"), Dec18(453_312 * 1024 * UNIT))
    );
    assert_eq!(pods["postgres-0"].cpu_usage, dec("2.5"));
    assert_eq!(pods["node-exporter-7xk2p"].cpu_usage, Dec18::ZERO);
    // Cost labels: controller labels dropped, costmill.io annotations joined.
    assert_eq!(
        api.facts.labels,
        [
            ("app.kubernetes.io/name", "api"),
            ("costmill.io/spot", "never"),
            ("team", "shop")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(
        pods["postgres-0"].facts.labels,
        [("app".to_string(), "postgres".to_string())]
    );
    assert!(pods["report-29419440-5mzxq"].facts.labels.is_empty());
}

#[test]
fn hundreds_of_generated_pods_read_as_generated() {
    for seed in [1, 2, 3] {
        let c = gen::generate(seed, 36, 480);
        // Nodes and pods in one mixed List, owners in another, metrics as metrics-server lists them.
        let mut all = c.nodes.clone();
        all.extend(c.pods.iter().cloned());
        let mut objects = parse(&gen::list(&all));
        objects.extend(parse(&gen::list(&c.owners)));
        objects.extend(parse(&json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": c.metrics})));
        assert_eq!(objects.nodes.len(), 36);
        for n in &objects.nodes {
            let t = &c.node_truth[&n.name];
            let capacity_type = match n.capacity_type {
                CapacityType::Spot => "spot",
                CapacityType::OnDemand => "on-demand",
                CapacityType::Unknown => "unknown",
            };
            assert_eq!(
                (
                    n.provider_id.as_str(),
                    n.instance_type.as_str(),
                    capacity_type,
                    n.capacity.cpu.0,
                    n.capacity.memory.0,
                    n.capacity.gpu.0
                ),
                (
                    t.provider_id.as_str(),
                    t.instance_type.as_str(),
                    t.capacity_type,
                    t.cpu,
                    t.memory,
                    t.gpus
                ),
                "node {}",
                n.name
            );
        }
        assert!(
            c.node_truth.values().any(|n| n.gpus > 0)
                && c.node_truth.values().any(|n| n.capacity_type == "spot")
        );
        let owners = std::mem::take(&mut objects.owners);
        let mut sample = Sample::new(T10);
        sample.add(objects);
        let mut fold = ClusterFold::new(Timing::new(60, None));
        fold.observe(&sample, &owners);
        let rows = fold.pods.finish();
        let billable: Vec<_> = c.pod_truth.iter().filter(|(_, t)| t.billable).collect();
        assert_eq!(
            rows.len(),
            billable.len(),
            "seed {seed}: one row per pod holding resources"
        );
        assert!(billable.len() < c.pod_truth.len(), "some pods are skipped");
        let kinds: std::collections::BTreeSet<_> = rows
            .iter()
            .map(|w| w.facts.workload_kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "CronJob",
                "DaemonSet",
                "Deployment",
                "Job",
                "Pod",
                "StatefulSet"
            ]
            .into()
        );
        for w in rows {
            let (ns, pod, node) = &w.key;
            let t = &c.pod_truth[&(ns.clone(), pod.clone())];
            assert!(t.billable);
            assert_eq!(node, &t.node);
            assert_eq!(
                (
                    (w.facts.workload_kind.clone(), w.facts.workload.clone()),
                    w.facts.cpu_request.0,
                    w.facts.memory_request.0,
                    w.facts.gpu_request.0
                ),
                (t.workload.clone(), t.cpu, t.memory, t.gpu),
                "pod {ns}/{pod}"
            );
            assert_eq!(
                (w.cpu_usage.0, w.memory_usage.0),
                t.usage.unwrap_or((0, 0)),
                "usage of {ns}/{pod}"
            );
            assert_eq!((w.start, w.end), (T10, T10 + 60));
        }
    }
}

fn parse(value: &Value) -> objects::Objects {
    let (o, problems) = objects::parse(
        &serde_json::to_string_pretty(value).unwrap(),
        Path::new("gen.json"),
    );
    assert!(problems.is_empty(), "{problems:?}");
    o
}

fn node_json(name: &str, cpu: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"node.kubernetes.io/instance-type": "m6i.large"}},
           "spec": {"providerID": format!("aws:///eu-west-1a/i-{name}")}, "status": {"capacity": {"cpu": cpu, "memory": "8Gi"}}})
}

fn pod_json(name: &str, node: &str, cpu: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "web", "labels": {"app": name}},
           "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]},
           "status": {"phase": "Running"}})
}

fn metrics_json(usage: &[(&str, &str)]) -> Value {
    json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
           "items": usage.iter().map(|(pod, cpu)| json!({"metadata": {"name": pod, "namespace": "web"}, "timestamp": "2026-12-01T10:00:00Z",
               "window": "15s", "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "100Mi"}}]})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn samples_fold_into_hours_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // 10:57 .. 11:03 every minute, 11:01 missed. Node n2 and its pod b go after 11:00; pod c
    // starts at 11:02. Each sample: a node/pod list, and a metrics list two seconds later.
    let minutes = [57u32, 58, 59, 60, 62, 63];
    let usage_a = ["100m", "200m", "400m", "0.3", "0.45", "0.5"];
    let mut paths = vec![];
    for (i, m) in minutes.iter().enumerate() {
        let at = T10 + m * 60;
        let mut items = vec![node_json("n1", "4"), pod_json("a", "n1", "250m")];
        let mut usage = vec![("a", usage_a[i])];
        if *m <= 60 {
            items.extend([node_json("n2", "2"), pod_json("b", "n2", "1")]);
            usage.push(("b", "2"));
        }
        if *m >= 62 {
            items.push(pod_json("c", "n1", "500m"));
        }
        paths.push(write(
            dir.path(),
            &format!("dump-{m}.json"),
            &gen::list(&items),
            Some(at),
        ));
        paths.push(write(
            dir.path(),
            &format!("metrics-{m}.json"),
            &metrics_json(&usage),
            Some(at + 2),
        ));
    }
    let dumps = KubernetesDumps::new("prod", &paths);
    let (nodes, pods, problems) = collect(&dumps).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let span = |s: u32, e: u32| (s - T10, e - T10);
    assert_eq!(
        nodes
            .iter()
            .map(|n| (
                n.node.as_str(),
                span(n.window_start, n.window_end),
                n.cpu_cores
            ))
            .collect::<Vec<_>>(),
        [
            ("n1", (57 * 60, 3600), dec("4")),
            ("n1", (3600, 64 * 60), dec("4")),
            ("n2", (57 * 60, 3600), dec("2")),
            // Vanished after 11:00: costed to its last sighting + the interval.
            ("n2", (3600, 61 * 60), dec("2")),
        ]
    );
    let avg = |xs: &[&str]| {
        let sum: Decimal = xs.iter().map(|x| Decimal::from_str(x).unwrap()).sum();
        let d = (sum / Decimal::from(xs.len()))
            .round_dp_with_strategy(18, RoundingStrategy::MidpointAwayFromZero);
        Dec18::from_decimal_exact(d).unwrap()
    };
    let got: Vec<_> = pods
        .iter()
        .map(|p| {
            (
                p.pod.as_str(),
                span(p.window_start, p.window_end),
                p.cpu_request_cores,
                p.cpu_usage_cores,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "a",
                (57 * 60, 3600),
                dec("0.25"),
                avg(&["0.1", "0.2", "0.4"])
            ),
            // 11:01 missed: bridged; the hour's samples are 11:00, 11:02, 11:03.
            (
                "a",
                (3600, 64 * 60),
                dec("0.25"),
                avg(&["0.3", "0.45", "0.5"])
            ),
            ("b", (57 * 60, 3600), dec("1"), dec("2")),
            ("b", (3600, 61 * 60), dec("1"), dec("2")),
            ("c", (62 * 60, 64 * 60), dec("0.5"), Dec18::ZERO),
        ]
    );
    assert_eq!(avg(&["0.1", "0.2", "0.4"]), dec("0.233333333333333333"));
    assert!(pods
        .iter()
        .all(|p| p.memory_request_bytes == Dec18((1i128 << 30) * UNIT)));

    // A longer gap (with an explicit interval and gap) is not bridged.
    let mut sparse = KubernetesDumps::new(
        "prod",
        &[
            paths[0].clone(),
            paths[1].clone(),
            paths[10].clone(),
            paths[11].clone(),
        ],
    );
    sparse.interval_secs = Some(60);
    sparse.max_gap_secs = Some(120);
    let (_, pods, _) = collect(&sparse).await.unwrap();
    let a: Vec<_> = pods
        .iter()
        .filter(|p| p.pod == "a")
        .map(|p| span(p.window_start, p.window_end))
        .collect();
    assert_eq!(a, [(57 * 60, 58 * 60), (63 * 60, 64 * 60)]);
}

#[test]
fn the_interval_is_the_median_gap() {
    use ingest::sources::kubernetes::dumps::infer_interval;
    assert_eq!(infer_interval(&[T10]), 60);
    assert_eq!(
        infer_interval(&[T10, T10 + 300, T10 + 600, T10 + 1200, T10 + 1500]),
        300
    );
    assert_eq!(infer_interval(&[T10, T10 + 3600]), 3600);
}
