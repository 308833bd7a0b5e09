//! The live source against the fake API server (testing/fake-kube, fixtures/prod with
//! PodMetrics): a sample lands and the next run extends its windows; lists page; a 410 Gone
//! re-lists; a 403 names the grant; no metrics-server means usage 0; the calls made are the ones
//! deploy/rbac.yaml grants.
use std::collections::BTreeSet;

use ingest::sources::kubernetes::{KubernetesConfig, KubernetesError, KubernetesLive};
use ingest::{IngestError, RunOptions, SourceConfig};
use queries::testing::test_store;
use queries::Dec18;

use super::fake_kube::{self, Fake};
use super::landing::rows;
use super::{collect, dec, T10};
use crate::gen::UNIT;

fn config(fake: &Fake, page_size: u32) -> KubernetesConfig {
    KubernetesConfig {
        name: "k8s-prod".into(),
        cluster: "prod".into(),
        context: None,
        kubeconfig: None,
        url: Some(fake.url.clone()),
        in_cluster: false,
        interval_secs: 60,
        max_gap_secs: None,
        page_size,
        schedule: None,
    }
}

fn live(fake: &Fake, page_size: u32, at: u32) -> KubernetesLive {
    KubernetesLive {
        config: config(fake, page_size),
        sample_time: Some(at),
    }
}

const LEDGER: &str = "ledger-6f8b9c7d54-x7kq2";

#[tokio::test]
async fn a_live_sample_lands_and_the_next_run_extends_its_window() {
    let fake = Fake::start().await;
    let store = test_store("k8s_live").await;
    let at = T10 + 1500;
    let report = ingest::run_source(&store, &live(&fake, 4, at), &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(report.rows(), 5 + 17);
    assert!(report.checkpoint.is_some());
    let (nodes, pods) = rows(&store).await;
    assert_eq!(nodes.len(), 5);
    let node = nodes
        .iter()
        .find(|n| n.node == "ip-10-0-11-23.eu-west-1.compute.internal")
        .unwrap();
    assert_eq!(
        (
            node.provider_id.as_str(),
            node.instance_type.as_str(),
            node.cpu_cores,
            node.memory_bytes
        ),
        (
            "aws:///eu-west-1a/i-0a1b2c3d4e5f60718",
            "m6i.xlarge",
            dec("4"),
            Dec18(15_896_988 * 1024 * UNIT)
        )
    );
    assert_eq!(pods.len(), 17);
    let ledger = pods.iter().find(|p| p.pod == LEDGER).unwrap();
    assert_eq!(
        (
            ledger.workload_kind.as_str(),
            ledger.workload.as_str(),
            ledger.cpu_request_cores,
            ledger.memory_request_bytes
        ),
        (
            "Deployment",
            "ledger",
            dec("0.5"),
            Dec18((1i128 << 30) * UNIT)
        )
    );
    // fixtures/prod/payments/podmetrics.json: 525871604n, 265558Ki.
    assert_eq!(
        (ledger.cpu_usage_cores, ledger.memory_usage_bytes),
        (dec("0.525871604"), Dec18(265_558 * 1024 * UNIT))
    );
    assert_eq!((ledger.window_start, ledger.window_end), (at, at + 60));
    let indexer = pods.iter().find(|p| p.pod == "indexer-0").unwrap();
    assert_eq!(
        (indexer.workload_kind.as_str(), indexer.workload.as_str()),
        ("StatefulSet", "indexer")
    );
    // The pod template's `costmill.io/spot: never` annotation is a cost label.
    let cart = pods.iter().find(|p| p.pod.starts_with("cart-")).unwrap();
    let spot = cart
        .label_keys
        .iter()
        .position(|k| k == "costmill.io/spot")
        .map(|i| cart.label_values[i].as_str());
    assert_eq!(spot, Some("never"));
    assert!(!cart.label_keys.contains(&"pod-template-hash".to_string()));

    // Small pages: the lists were paged with continue tokens.
    let requests = fake.requests().await;
    let continued = |path: &str| {
        requests
            .iter()
            .filter(|r| r["path"] == path && r["query"].as_str().unwrap().contains("continue="))
            .count()
    };
    assert_eq!(continued("/api/v1/pods"), 4, "17 pods in pages of 4");
    assert_eq!(continued("/api/v1/nodes"), 1);
    assert_eq!(continued("/apis/metrics.k8s.io/v1beta1/pods"), 4);
    assert!(requests
        .iter()
        .all(|r| r["query"].as_str().unwrap().contains("limit=4")));

    // The next run a minute later: the same windows, now two minutes long (the checkpoint
    // carried the open presences), replacing the first rows.
    ingest::run_source(&store, &live(&fake, 500, at + 60), &RunOptions::default())
        .await
        .unwrap();
    let (nodes, pods) = rows(&store).await;
    assert_eq!((nodes.len(), pods.len()), (5, 17));
    assert!(pods
        .iter()
        .all(|p| (p.window_start, p.window_end) == (at, at + 120)));
    assert!(nodes
        .iter()
        .all(|n| (n.window_start, n.window_end) == (at, at + 120)));
    let ledger = pods.iter().find(|p| p.pod == LEDGER).unwrap();
    assert_eq!(
        ledger.cpu_usage_cores,
        dec("0.525871604"),
        "the average of two equal samples"
    );
}

#[tokio::test]
async fn an_expired_continue_token_lists_again() {
    let fake = Fake::start().await;
    fake.expire_continue("pods", 1).await;
    let (nodes, pods, _) = collect(&live(&fake, 5, T10)).await.unwrap();
    assert_eq!((nodes.len(), pods.len()), (5, 17));
    let pod_lists: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/api/v1/pods")
        .map(|r| r["query"].as_str().unwrap().to_string())
        .collect();
    // First page, the 410 on its continue, then the whole list again (4 pages).
    assert_eq!(pod_lists.len(), 2 + 4, "{pod_lists:?}");
    assert!(!pod_lists[2].contains("continue="), "{pod_lists:?}");
}

#[tokio::test]
async fn forbidden_names_the_missing_grant() {
    let fake = Fake::start().await;
    fake.forbid(serde_json::json!({"verb": "list", "resource": "nodes"}))
        .await;
    let error = collect(&live(&fake, 500, T10)).await.unwrap_err();
    let IngestError::Kubernetes(KubernetesError::Forbidden {
        verb,
        resource,
        group,
        ..
    }) = &error
    else {
        panic!("{error}")
    };
    assert_eq!(
        (verb.as_str(), resource.as_str(), group.as_str()),
        ("list", "nodes", "")
    );
    let text = error.to_string();
    assert!(
        text.contains("deploy/rbac.yaml") && text.contains("cannot list resource \"nodes\""),
        "{text}"
    );

    let fake = Fake::start().await;
    fake.forbid(serde_json::json!({"verb": "list", "resource": "pods"}))
        .await;
    let store = test_store("k8s_forbidden").await;
    let error = ingest::run_source(&store, &live(&fake, 500, T10), &RunOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IngestError::Kubernetes(KubernetesError::Forbidden { resource, .. }) if resource == "pods"),
        "{error}"
    );
    assert_eq!(rows(&store).await, (vec![], vec![]), "nothing lands");

    // metrics.k8s.io refused (not absent): an error naming that grant.
    let fake = Fake::start().await;
    fake.forbid(serde_json::json!({"verb": "list", "resource": "pods", "group": "metrics.k8s.io"}))
        .await;
    let error = collect(&live(&fake, 500, T10)).await.unwrap_err();
    let IngestError::Kubernetes(KubernetesError::Forbidden {
        resource, group, ..
    }) = &error
    else {
        panic!("{error}")
    };
    assert_eq!(
        (resource.as_str(), group.as_str()),
        ("pods.metrics.k8s.io", "metrics.k8s.io")
    );
}

#[tokio::test]
async fn without_metrics_server_usage_is_zero() {
    let fake = Fake::start().await;
    fake.absent("metrics.k8s.io").await;
    let (nodes, pods, problems) = collect(&live(&fake, 500, T10)).await.unwrap();
    assert!(problems.is_empty());
    assert_eq!((nodes.len(), pods.len()), (5, 17));
    assert!(pods
        .iter()
        .all(|p| p.cpu_usage_cores == Dec18::ZERO && p.memory_usage_bytes == Dec18::ZERO));
    assert!(pods.iter().any(|p| p.cpu_request_cores > Dec18::ZERO));
}

#[tokio::test]
async fn the_rbac_file_grants_the_calls_made() {
    let fake = Fake::start().await;
    collect(&live(&fake, 3, T10)).await.unwrap();
    let made = fake.calls_made().await;
    let granted = fake_kube::granted("deploy/rbac.yaml");
    let expected: BTreeSet<_> = [
        ("list", "", "nodes"),
        ("list", "", "pods"),
        ("list", "metrics.k8s.io", "pods"),
    ]
    .map(|(v, g, r)| (v.to_string(), g.to_string(), r.to_string()))
    .into();
    assert_eq!(made, expected);
    assert_eq!(
        made, granted,
        "deploy/rbac.yaml grants exactly the calls made"
    );
}

#[test]
fn the_config_names_one_way_to_reach_the_cluster() {
    let parse = |extra: serde_json::Value| {
        let mut entry = serde_json::json!({"type": "kubernetes", "name": "k8s", "cluster": "prod"});
        entry
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<SourceConfig>(entry)
    };
    let ok = parse(serde_json::json!({"url": "http://127.0.0.1:8001"})).unwrap();
    let SourceConfig::Kubernetes(c) = &ok else {
        panic!()
    };
    assert_eq!(
        (c.interval_secs, c.max_gap_secs, c.page_size, c.in_cluster),
        (60, None, 500, false)
    );
    assert_eq!(c.timing().max_gap, 180);
    assert!(ok.problems().is_empty(), "{:?}", ok.problems());
    assert!(
        parse(serde_json::json!({"server": "x"})).is_err(),
        "unknown keys are refused"
    );
    let keys = |extra: serde_json::Value| -> Vec<String> {
        parse(extra)
            .unwrap()
            .problems()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys(serde_json::json!({})), ["context"]);
    assert_eq!(
        keys(serde_json::json!({"context": "eks", "in_cluster": true})),
        ["context"]
    );
    assert_eq!(
        keys(serde_json::json!({"kubeconfig": "/k", "url": "http://x"})),
        ["kubeconfig"]
    );
    // Every 5 minutes, but each sample said to stand for 60 s: refused.
    assert_eq!(
        keys(serde_json::json!({"in_cluster": true, "schedule": "0 */5 * * * *"})),
        ["interval_secs"]
    );
    assert!(keys(
        serde_json::json!({"in_cluster": true, "schedule": "0 */5 * * * *", "interval_secs": 300})
    )
    .is_empty());
}
