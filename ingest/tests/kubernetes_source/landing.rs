//! Dumps landed in k8s_nodes and k8s_pod_usage: the generated cluster's facts, once however
//! often the same input lands, and nothing of a run with a bad file (its line and column named).
use queries::rows::{K8sNodeRow, K8sPodRow};
use queries::testing::test_store;
use queries::{Query, Store};
use serde_json::json;

use super::{gen, write, T10};
use ingest::sources::kubernetes::KubernetesDumps;
use ingest::{IngestError, RunOptions};

pub async fn rows(store: &Store) -> (Vec<K8sNodeRow>, Vec<K8sPodRow>) {
    let mut nodes: Vec<K8sNodeRow> = store
        .fetch_all(&Query::new(
            "test",
            "SELECT * FROM k8s_nodes FINAL ORDER BY cluster, node, window_start",
        ))
        .await
        .unwrap();
    let mut pods: Vec<K8sPodRow> = store
        .fetch_all(&Query::new(
            "test",
            "SELECT * FROM k8s_pod_usage FINAL ORDER BY cluster, namespace, pod, window_start",
        ))
        .await
        .unwrap();
    nodes.iter_mut().for_each(|r| r.ingested_at = 0);
    pods.iter_mut().for_each(|r| r.ingested_at = 0);
    (nodes, pods)
}

#[tokio::test]
async fn dumps_land_once_and_a_bad_file_lands_nothing() {
    let store = test_store("k8s_dumps").await;
    let dir = tempfile::tempdir().unwrap();
    let c = gen::generate(11, 24, 300);
    let mut all = c.nodes.clone();
    all.extend(c.pods.iter().cloned());
    all.extend(c.owners.iter().cloned());
    // Five samples a minute apart from 10:00; usage scaled ×1..×5 (average: ×3).
    let mut paths = vec![];
    for k in 0..5u32 {
        let at = T10 + k * 60;
        paths.push(write(
            dir.path(),
            &format!("cluster-{k}.json"),
            &gen::list(&all),
            Some(at),
        ));
        let mut metrics = c.metrics.clone();
        for m in &mut metrics {
            for container in m["containers"].as_array_mut().unwrap() {
                let cpu = container["usage"]["cpu"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('n')
                    .parse::<i128>()
                    .unwrap();
                let ki = container["usage"]["memory"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches("Ki")
                    .parse::<i128>()
                    .unwrap();
                container["usage"] = json!({"cpu": format!("{}n", cpu * i128::from(k + 1)), "memory": format!("{}Ki", ki * i128::from(k + 1))});
            }
        }
        let list = json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": metrics});
        paths.push(write(
            dir.path(),
            &format!("metrics-{k}.json"),
            &list,
            Some(at + 1),
        ));
    }
    let report = ingest::ingest_kubernetes(&store, &paths, "prod-eu", None, &RunOptions::default())
        .await
        .unwrap();
    let billable: Vec<_> = c.pod_truth.iter().filter(|(_, t)| t.billable).collect();
    assert_eq!(report.rows() as usize, 24 + billable.len());
    assert_eq!(
        report.days,
        Some(((T10 / 86_400) as u16, (T10 / 86_400) as u16 + 1))
    );
    let (nodes, pods) = rows(&store).await;
    assert_eq!(nodes.len(), 24);
    for n in &nodes {
        let t = &c.node_truth[&n.node];
        assert_eq!(
            (n.window_start, n.window_end),
            (T10, T10 + 300),
            "inferred interval: 60 s"
        );
        assert_eq!(
            (
                n.cpu_cores.0,
                n.memory_bytes.0,
                n.gpus.0,
                n.instance_type.as_str()
            ),
            (t.cpu, t.memory, t.gpus, t.instance_type.as_str())
        );
    }
    assert_eq!(pods.len(), billable.len());
    for p in &pods {
        let t = &c.pod_truth[&(p.namespace.clone(), p.pod.clone())];
        let (cpu, memory) = t.usage.unwrap_or((0, 0));
        assert_eq!(
            (
                p.cluster.as_str(),
                p.node.as_str(),
                (p.workload_kind.clone(), p.workload.clone()),
                p.cpu_request_cores.0,
                p.memory_request_bytes.0,
                p.gpu_request.0
            ),
            (
                "prod-eu",
                t.node.as_str(),
                t.workload.clone(),
                t.cpu,
                t.memory,
                t.gpu
            )
        );
        assert_eq!(
            (p.cpu_usage_cores.0, p.memory_usage_bytes.0),
            (cpu * 3, memory * 3)
        );
        assert_eq!((p.window_start, p.window_end), (T10, T10 + 300));
    }

    // The same input again: the same rows, not twice as many.
    let before = rows(&store).await;
    ingest::ingest_kubernetes(&store, &paths, "prod-eu", None, &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(rows(&store).await, before);

    // A bad quantity in one file: a problem at its line and column, and nothing lands.
    let good = std::fs::read_to_string(&paths[0]).unwrap();
    let needle = format!(
        "\"cpu\": \"{}\"",
        c.pods[0]["spec"]["containers"][0]["resources"]["limits"]["cpu"]
            .as_str()
            .or(c.pods[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"].as_str())
            .unwrap()
    );
    let at = good.find(&needle).unwrap();
    let bad = format!(
        "{}\"cpu\": \"2 cores\"{}",
        &good[..at],
        &good[at + needle.len()..]
    );
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, &bad).unwrap();
    let line = bad[..at].matches('\n').count() as u64 + 1;
    let column =
        (at - bad[..at].rfind('\n').unwrap()) as u64 + "\"cpu\": \"2 cores\"".len() as u64 - 1;
    let later = T10 + 7200;
    let mut more = KubernetesDumps::new("prod-eu", &[paths[0].clone(), bad_path.clone()]);
    more.at = Some(later);
    let error = ingest::runner::ingest_kubernetes_dumps(&store, &more, &RunOptions::default())
        .await
        .unwrap_err();
    let IngestError::Invalid { problems, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(problems.len(), 1, "{error}");
    assert_eq!(problems[0].file, bad_path);
    assert_eq!(problems[0].location, ingest::reader::Location::Line(line));
    assert_eq!(problems[0].column, Some(column.to_string()));
    assert!(
        error
            .to_string()
            .contains("`2 cores` is not a Kubernetes quantity"),
        "{error}"
    );
    // Cut short: where the text ends.
    std::fs::write(&bad_path, &good[..good.len() / 2]).unwrap();
    let error = ingest::runner::ingest_kubernetes_dumps(&store, &more, &RunOptions::default())
        .await
        .unwrap_err();
    let IngestError::Invalid { problems, .. } = &error else {
        panic!("{error}")
    };
    let half = &good[..good.len() / 2];
    assert_eq!(
        problems[0].location,
        ingest::reader::Location::Line(half.matches('\n').count() as u64 + 1)
    );
    assert!(problems[0].message.contains("EOF while parsing"), "{error}");
    assert_eq!(rows(&store).await, before, "nothing of a refused run lands");
}
