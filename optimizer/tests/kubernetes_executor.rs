//! The Kubernetes executor against the fake API server of testing/fake-kube (started per test on
//! a free loopback port, serving the recorded objects of fixtures/prod): what goes over the wire,
//! the rollout watch, automatic and requested rollbacks, and the refusals.
use std::time::{Duration, Instant};

use optimizer::execute::kubernetes::{
    KubeClusterConfig, KubernetesExecutor, KubernetesExecutorConfig,
};
use optimizer::execute::{ExecError, Executor};
use optimizer::migration::MigrationRow;
use optimizer::plan::SpotPool;
use serde_json::{json, Value};

const STRATEGIC: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";

#[path = "../../testing/fake-kube/harness.rs"]
mod fake_kube;

use fake_kube::Fake;

/// The executor for cluster `prod` served by `fake`, polling every 50 ms.
async fn executor(fake: &Fake, rollout_timeout_secs: f64) -> KubernetesExecutor {
    let config = KubernetesExecutorConfig {
        clusters: vec![KubeClusterConfig {
            name: "prod".into(),
            url: Some(fake.url.clone()),
            ..KubeClusterConfig::default()
        }],
        rollout_timeout_secs,
        poll_secs: 0.05,
        crash_loop_restarts: 3,
    };
    KubernetesExecutor::new(&config).await.unwrap()
}

fn migration(ns: &str, name: &str, kind: Option<&str>) -> MigrationRow {
    let evidence = match kind {
        Some(kind) => {
            json!({"workload": {"cluster": "prod", "namespace": ns, "kind": kind, "name": name}})
        }
        None => json!({"current": {}}),
    };
    MigrationRow {
        id: format!("mig-{ns}-{name}"),
        created_at: 1_764_000_000,
        created_by: "planner".into(),
        kind: "kubernetes".into(),
        workload: format!("k8s://prod/{ns}/{name}"),
        team: ns.into(),
        service: name.into(),
        env: "prod".into(),
        from_placement: "aws m6i.2xlarge on demand".into(),
        to_placement: "aws m6a.2xlarge spot in eu-west-1 (karpenter.sh/capacity-type=spot)".into(),
        spec_before: String::new(),
        spec_after: SpotPool::default().patch().to_string(),
        saving_month: queries::Dec18(0),
        currency: "USD".into(),
        evidence: evidence.to_string(),
        status: "approved".into(),
        updated_at: 0,
        updated_by: "alice".into(),
        events: 1,
    }
}

/// A request of an outcome: (request line, content type, body).
fn parse_request(r: &str) -> (String, String, Value) {
    let (head, body) = r.split_once("\n\n").expect("head, blank line, body");
    let mut lines = head.lines();
    let line = lines.next().unwrap().to_string();
    let ctype = lines
        .next()
        .and_then(|l| l.strip_prefix("Content-Type: "))
        .unwrap()
        .to_string();
    (line, ctype, serde_json::from_str(body).unwrap())
}

fn spot_toleration() -> Value {
    json!({"key": "karpenter.sh/capacity-type", "operator": "Equal", "value": "spot", "effect": "NoSchedule"})
}

fn dedicated_toleration() -> Value {
    json!({"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "payments"})
}

fn ledger_affinity() -> Value {
    json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "ledger"}},
            "topologyKey": "topology.kubernetes.io/zone",
        },
        "weight": 100,
    }]}})
}

const SPOT_NODES: [&str; 2] = [
    "ip-10-0-21-54.eu-west-1.compute.internal",
    "ip-10-0-22-201.eu-west-1.compute.internal",
];

/// The wire request matches the outcome's record byte for byte.
fn assert_sent(wire: &Value, recorded: &str, path: &str, ctype: &str) {
    let (line, rctype, body) = parse_request(recorded);
    let query = wire["query"].as_str().unwrap();
    assert_eq!(line, format!("PATCH {path}?{query}"));
    assert_eq!(rctype, ctype);
    assert_eq!(wire["path"], path);
    assert!(
        query.split('&').any(|p| p == "fieldManager=costmill"),
        "{query}"
    );
    assert_eq!(wire["content_type"], ctype);
    assert_eq!(
        wire["body"].as_str().unwrap(),
        recorded.split_once("\n\n").unwrap().1
    );
    assert_eq!(
        serde_json::from_str::<Value>(wire["body"].as_str().unwrap()).unwrap(),
        body
    );
}

#[tokio::test]
async fn healthy_apply_adds_spot_and_keeps_the_existing_tolerations() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    assert_eq!(ex.kind(), "kubernetes");
    let m = migration("payments", "ledger", Some("Deployment"));
    let out = ex.apply(&m).await.unwrap();
    assert!(out.ok, "{out:?}");
    assert!(out.message.contains("moved"), "{}", out.message);

    let patches = fake.patches().await;
    assert_eq!(patches.len(), 1);
    let path = "/apis/apps/v1/namespaces/payments/deployments/ledger";
    assert_eq!(out.requests.len(), 1);
    assert_sent(&patches[0], &out.requests[0], path, STRATEGIC);
    // Exactly this: the selector entry added, the live toleration kept before the new one, the
    // fixture's resourceVersion as a precondition, affinity not sent.
    assert_eq!(
        serde_json::from_str::<Value>(patches[0]["body"].as_str().unwrap()).unwrap(),
        json!({
            "metadata": {"resourceVersion": "48184"},
            "spec": {"template": {"spec": {
                "nodeSelector": {"karpenter.sh/capacity-type": "spot"},
                "tolerations": [dedicated_toleration(), spot_toleration()],
            }}},
        })
    );
    assert_eq!(
        out.spec_before,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "payments", "name": "ledger",
            "metadata": {"generation": 7, "resourceVersion": "48184"},
            "template": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [dedicated_toleration()],
                "affinity": ledger_affinity(),
            },
        })
    );
    assert_eq!(out.spec_after["metadata"]["generation"], 8);
    assert_eq!(
        out.spec_after["template"]["nodeSelector"],
        json!({"kubernetes.io/os": "linux", "karpenter.sh/capacity-type": "spot"})
    );

    // The fake merged it as the API server would, and the new pods run on spot nodes.
    let tmpl = fake.template("deployments", "payments", "ledger").await;
    assert_eq!(
        tmpl["tolerations"],
        json!([dedicated_toleration(), spot_toleration()])
    );
    assert_eq!(tmpl["affinity"], ledger_affinity());
    assert_eq!(tmpl["nodeSelector"]["kubernetes.io/os"], "linux");
    let pods = fake.pods("payments", "ledger").await;
    assert_eq!(pods.len(), 3, "{pods:?}");
    for (name, phase, node) in &pods {
        assert_eq!(phase, "Running", "{name}");
        assert!(SPOT_NODES.contains(&node.as_str()), "{name} on {node}");
    }
    // It waited for the controller to observe the new generation: at least two status reads.
    let reads = fake
        .requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "GET" && r["path"] == path)
        .count();
    assert!(
        reads >= 3,
        "one read before the patch, at least two during the rollout: {reads}"
    );
}

#[tokio::test]
async fn preview_reads_and_changes_nothing() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    let before = fake
        .get("/apis/apps/v1/namespaces/payments/deployments/ledger")
        .await;
    let out = ex
        .preview(&migration("payments", "ledger", Some("Deployment")))
        .await
        .unwrap();
    assert!(out.ok);
    assert!(
        out.message
            .starts_with("would patch Deployment payments/ledger"),
        "{}",
        out.message
    );
    assert!(
        out.message.contains("PodDisruptionBudget ledger allows 1"),
        "{}",
        out.message
    );
    assert_eq!(out.requests.len(), 1);
    let (line, ctype, body) = parse_request(&out.requests[0]);
    assert!(
        line.starts_with("PATCH /apis/apps/v1/namespaces/payments/deployments/ledger?"),
        "{line}"
    );
    assert!(line.contains("fieldManager=costmill"), "{line}");
    assert_eq!(ctype, STRATEGIC);
    assert_eq!(
        body["spec"]["template"]["spec"]["tolerations"],
        json!([dedicated_toleration(), spot_toleration()])
    );
    assert_eq!(out.spec_before["metadata"]["generation"], 7);
    assert!(fake.patches().await.is_empty());
    let after = fake
        .get("/apis/apps/v1/namespaces/payments/deployments/ledger")
        .await;
    assert_eq!(after, before);
    // What apply then sends is what preview said.
    let applied = ex
        .apply(&migration("payments", "ledger", Some("Deployment")))
        .await
        .unwrap();
    assert_eq!(applied.requests, out.requests);
}

#[tokio::test]
async fn pods_left_pending_are_rolled_back_after_the_timeout() {
    let fake = Fake::start().await;
    fake.scenario("payments/ledger", "pending").await;
    let ex = executor(&fake, 1.5).await;
    let before = fake.template("deployments", "payments", "ledger").await;
    let started = Instant::now();
    let out = ex
        .apply(&migration("payments", "ledger", Some("Deployment")))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "it waited for the timeout"
    );
    assert!(!out.ok, "{out:?}");
    for word in [
        "did not become healthy",
        "Pending",
        "Unschedulable",
        "0/5 nodes are available",
        "put back",
    ] {
        assert!(out.message.contains(word), "{word}: {}", out.message);
    }
    let patches = fake.patches().await;
    assert_eq!(patches.len(), 2);
    assert_eq!(out.requests.len(), 2);
    let path = "/apis/apps/v1/namespaces/payments/deployments/ledger";
    assert_sent(&patches[0], &out.requests[0], path, STRATEGIC);
    assert_sent(&patches[1], &out.requests[1], path, MERGE);
    // Only the move's own changes are undone (affinity, never touched, is not sent), with the
    // resourceVersion read just before as the precondition.
    let restore = without_version(&patches[1]);
    assert_eq!(
        restore,
        json!({"spec": {"template": {"spec": {
            "nodeSelector": {"karpenter.sh/capacity-type": null},
            "tolerations": [dedicated_toleration()],
        }}}})
    );
    // The template is exactly as before, and the pods run (again) off spot.
    assert_eq!(
        fake.template("deployments", "payments", "ledger").await,
        before
    );
    let pods = fake.pods("payments", "ledger").await;
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(pods
        .iter()
        .all(|(_, phase, node)| phase == "Running" && !SPOT_NODES.contains(&node.as_str())));
    // spec_after is what it tried.
    assert_eq!(
        out.spec_after["template"]["tolerations"],
        json!([dedicated_toleration(), spot_toleration()])
    );
}

#[tokio::test]
async fn a_crash_loop_is_rolled_back_at_once() {
    let fake = Fake::start().await;
    fake.scenario("search/crawler", "crashloop").await;
    let ex = executor(&fake, 60.0).await;
    let before = fake.template("deployments", "search", "crawler").await;
    let started = Instant::now();
    let out = ex
        .apply(&migration("search", "crawler", Some("Deployment")))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no wait for the 60 s timeout"
    );
    assert!(!out.ok);
    assert!(out.message.contains("CrashLoopBackOff"), "{}", out.message);
    let patches = fake.patches().await;
    assert_eq!(patches.len(), 2);
    // The crawler had no selector, tolerations or affinity: all go back to absent.
    assert_eq!(
        without_version(&patches[1]),
        json!({"spec": {"template": {"spec": {
            "nodeSelector": {"karpenter.sh/capacity-type": null},
            "tolerations": null,
        }}}})
    );
    assert_eq!(patches[1]["content_type"], MERGE);
    assert_eq!(
        fake.template("deployments", "search", "crawler").await,
        before
    );
    assert_eq!(
        out.spec_before["template"],
        json!({"nodeSelector": null, "tolerations": null, "affinity": null})
    );
}

#[tokio::test]
async fn rollback_after_a_healthy_apply_restores_the_prior_template() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    let m = migration("payments", "ledger", Some("Deployment"));
    let before = fake.template("deployments", "payments", "ledger").await;
    let applied = ex.apply(&m).await.unwrap();
    assert!(applied.ok);
    assert_ne!(
        fake.template("deployments", "payments", "ledger").await,
        before
    );

    let out = ex.rollback(&m, &applied).await.unwrap();
    assert!(out.ok, "{out:?}");
    assert_eq!(out.requests.len(), 1);
    let patches = fake.patches().await;
    assert_eq!(patches.len(), 2);
    assert_sent(
        &patches[1],
        &out.requests[0],
        "/apis/apps/v1/namespaces/payments/deployments/ledger",
        MERGE,
    );
    assert_eq!(
        fake.template("deployments", "payments", "ledger").await,
        before
    );
    assert_eq!(out.spec_after["template"], applied.spec_before["template"]);
    let pods = fake.pods("payments", "ledger").await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|(_, phase, node)| phase == "Running" && !SPOT_NODES.contains(&node.as_str())));

    // A second rollback finds nothing to do.
    let again = ex.rollback(&m, &applied).await.unwrap();
    assert!(again.ok && again.requests.is_empty(), "{again:?}");
    assert_eq!(fake.patches().await.len(), 2);
}

#[tokio::test]
async fn a_statefulset_is_found_without_evidence_and_moved() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    // No kind in the evidence: a Deployment is looked up first, then the StatefulSet.
    let out = ex
        .apply(&migration("search", "indexer", None))
        .await
        .unwrap();
    assert!(out.ok, "{out:?}");
    assert_eq!(out.spec_before["kind"], "StatefulSet");
    let gets: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["method"] == "GET")
        .map(|r| r["path"].as_str().unwrap().to_string())
        .take(2)
        .collect();
    assert_eq!(
        gets,
        [
            "/apis/apps/v1/namespaces/search/deployments/indexer",
            "/apis/apps/v1/namespaces/search/statefulsets/indexer"
        ]
    );
    let patches = fake.patches().await;
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0]["path"],
        "/apis/apps/v1/namespaces/search/statefulsets/indexer"
    );
    let unreachable = json!({"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 60});
    assert_eq!(
        serde_json::from_str::<Value>(patches[0]["body"].as_str().unwrap()).unwrap()["spec"]
            ["template"]["spec"]["tolerations"],
        json!([unreachable, spot_toleration()])
    );
    let sts = fake
        .get("/apis/apps/v1/namespaces/search/statefulsets/indexer")
        .await;
    assert_eq!(
        sts["status"]["currentRevision"],
        sts["status"]["updateRevision"]
    );
    let pods = fake.pods("search", "indexer").await;
    assert_eq!(
        pods.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["indexer-0", "indexer-1", "indexer-2"]
    );
    assert!(pods
        .iter()
        .all(|(_, _, node)| SPOT_NODES.contains(&node.as_str())));
}

#[tokio::test]
async fn never_spot_annotations_are_refused_without_a_change() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    for (ns, name, on) in [
        ("payments", "settlement", "on the workload"),
        ("checkout", "cart", "on its pod template"),
    ] {
        for preview in [true, false] {
            let m = migration(ns, name, Some("Deployment"));
            let result = if preview {
                ex.preview(&m).await
            } else {
                ex.apply(&m).await
            };
            match result {
                Err(ExecError::Refused { reason, .. }) => {
                    assert!(reason.contains("costmill.io/spot: never"), "{reason}");
                    assert!(reason.contains(on), "{reason}");
                }
                other => panic!("{ns}/{name}: {other:?}"),
            }
        }
    }
    assert!(fake.patches().await.is_empty());
}

#[tokio::test]
async fn a_budget_allowing_no_disruption_is_refused() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    match ex
        .apply(&migration("payments", "payments-api", Some("Deployment")))
        .await
    {
        Err(ExecError::Refused { reason, .. }) => {
            assert!(
                reason.contains("PodDisruptionBudget payments/payments-api"),
                "{reason}"
            );
            assert!(reason.contains("disruptionsAllowed 0"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.patches().await.is_empty());
    let listed = fake
        .requests()
        .await
        .iter()
        .any(|r| r["path"] == "/apis/policy/v1/namespaces/payments/poddisruptionbudgets");
    assert!(listed);
}

#[tokio::test]
async fn forbidden_names_the_missing_grant() {
    let fake = Fake::start().await;
    fake.forbid(json!({"verb": "patch", "resource": "deployments", "namespace": "payments"}))
        .await;
    let ex = executor(&fake, 30.0).await;
    match ex
        .apply(&migration("payments", "ledger", Some("Deployment")))
        .await
    {
        Err(ExecError::Target {
            reason, changed, ..
        }) => {
            assert!(!changed, "a refused patch changed nothing");
            for word in [
                "`patch`",
                "`deployments`",
                "apps",
                "`payments`",
                "deploy/optional/optimizer-executor-rbac.yaml",
                "is forbidden",
            ] {
                assert!(reason.contains(word), "{word}: {reason}");
            }
        }
        other => panic!("{other:?}"),
    }
    // Reads forbidden too: the PodDisruptionBudget list, before anything is sent.
    let fake = Fake::start().await;
    fake.call(
        "POST",
        "/_fake/forbid",
        json!({"verb": "list", "resource": "poddisruptionbudgets"}),
    )
    .await;
    let ex = executor(&fake, 30.0).await;
    match ex
        .preview(&migration("payments", "ledger", Some("Deployment")))
        .await
    {
        Err(ExecError::Target {
            reason,
            changed: false,
            ..
        }) => {
            assert!(
                reason.contains("`list` `poddisruptionbudgets` (API group policy)"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_workloads_and_clusters_are_invalid() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    match ex.apply(&migration("payments", "ghost", None)).await {
        Err(ExecError::Invalid { reason, .. }) => {
            assert!(
                reason.contains("no Deployment or StatefulSet `ghost`"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut m = migration("payments", "ledger", Some("Deployment"));
    m.workload = "k8s://staging/payments/ledger".into();
    m.evidence = String::new();
    match ex.apply(&m).await {
        Err(ExecError::Invalid { reason, .. }) => {
            assert!(reason.contains("cluster `staging`"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.patches().await.is_empty());
}

#[tokio::test]
async fn a_config_names_one_way_to_reach_each_cluster() {
    let both = KubernetesExecutorConfig {
        clusters: vec![KubeClusterConfig {
            name: "prod".into(),
            url: Some("http://127.0.0.1:1".into()),
            in_cluster: true,
            ..KubeClusterConfig::default()
        }],
        ..KubernetesExecutorConfig::default()
    };
    assert!(KubernetesExecutor::new(&both).await.is_err());
    let zero_poll = KubernetesExecutorConfig {
        poll_secs: 0.0,
        ..KubernetesExecutorConfig::default()
    };
    assert!(KubernetesExecutor::new(&zero_poll).await.is_err());
    let parsed: KubernetesExecutorConfig = serde_json::from_value(
        json!({"clusters": [{"name": "prod", "url": "http://127.0.0.1:8001"}]}),
    )
    .unwrap();
    assert_eq!(parsed.rollout_timeout_secs, 600.0);
    assert_eq!(parsed.poll_secs, 5.0);
    assert_eq!(parsed.crash_loop_restarts, 3);
    let unknown = json!({"clusters": [{"name": "prod", "server": "http://127.0.0.1:8001"}]});
    assert!(serde_json::from_value::<KubernetesExecutorConfig>(unknown).is_err());
}

#[tokio::test]
async fn the_rbac_file_grants_exactly_the_calls_made() {
    let fake = Fake::start().await;
    fake.scenario("payments/ledger", "pending").await;
    let ex = executor(&fake, 0.5).await;
    // Every kind of call: reads, a move, a rollback, a StatefulSet, a preview.
    assert!(
        !ex.apply(&migration("payments", "ledger", Some("Deployment")))
            .await
            .unwrap()
            .ok
    );
    let m = migration("search", "indexer", None);
    let applied = ex.apply(&m).await.unwrap();
    assert!(ex.rollback(&m, &applied).await.unwrap().ok);
    ex.preview(&migration("search", "crawler", None))
        .await
        .unwrap();
    let made = fake.calls_made().await;
    let granted = fake_kube::granted("deploy/optional/optimizer-executor-rbac.yaml");
    assert_eq!(made, granted);
}

/// A restore patch's body without its `metadata.resourceVersion` precondition, which must be
/// there (a string) and is taken out.
fn without_version(request: &Value) -> Value {
    let mut body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert!(
        body["metadata"]["resourceVersion"].is_string(),
        "no resourceVersion precondition: {body}"
    );
    body.as_object_mut().unwrap().remove("metadata");
    body
}

#[tokio::test]
async fn a_rollback_keeps_what_people_changed_after_the_move() {
    let fake = Fake::start().await;
    let ex = executor(&fake, 30.0).await;
    let m = migration("payments", "ledger", Some("Deployment"));
    let before = fake.template("deployments", "payments", "ledger").await;
    let applied = ex.apply(&m).await.unwrap();
    assert!(applied.ok, "{applied:?}");

    // Someone adds a toleration of their own to the moved workload.
    let path = "/apis/apps/v1/namespaces/payments/deployments/ledger";
    let mut tolerations = fake.template("deployments", "payments", "ledger").await["tolerations"]
        .as_array()
        .unwrap()
        .clone();
    let gpu = json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"});
    tolerations.push(gpu.clone());
    fake.merge_patch(
        path,
        json!({"spec": {"template": {"spec": {"tolerations": tolerations}}}}),
    )
    .await;

    let out = ex.rollback(&m, &applied).await.unwrap();
    assert!(out.ok, "{out:?}");
    let now = fake.template("deployments", "payments", "ledger").await;
    // The move's selector and toleration are gone; theirs stays; the rest is as before.
    assert_eq!(now["nodeSelector"], before["nodeSelector"]);
    let mut expected = before["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    expected.push(gpu);
    assert_eq!(now["tolerations"], Value::Array(expected));
    assert_eq!(now["affinity"], before["affinity"]);
}
