//! A Rust test harness for the fake Kubernetes API server (fake_kube.py): starts it on a free
//! loopback port with a fixture directory, and talks to its control endpoints. Include it from
//! a test with `#[path = "…/testing/fake-kube/harness.rs"] mod fake_kube;`; it needs `kube`
//! (client), `http`, `serde_json` and `serde_yaml`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// testing/fake-kube, found from the including crate's directory upwards.
pub fn dir() -> PathBuf {
    let mut at = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = at.join("testing/fake-kube");
        if candidate.join("fake_kube.py").is_file() {
            return candidate;
        }
        assert!(
            at.pop(),
            "testing/fake-kube not found above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

/// The fake API server, killed on drop.
pub struct Fake {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client of it (no credentials).
    pub client: kube::Client,
}

impl Fake {
    /// The fake serving fixtures/prod.
    pub async fn start() -> Fake {
        Fake::with_fixtures(&dir().join("fixtures/prod")).await
    }

    pub async fn with_fixtures(fixtures: &std::path::Path) -> Fake {
        let mut child = Command::new("python3")
            .arg(dir().join("fake_kube.py"))
            .arg("--fixtures")
            .arg(fixtures)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the fake API server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake says where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the fake: {line:?}"))
            .to_string();
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        Fake { child, url, client }
    }

    pub async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("Content-Type", "application/json")
            .body(body.to_string().into_bytes())
            .unwrap();
        self.client.request::<Value>(request).await.unwrap()
    }

    /// A JSON merge patch, as a person (kubectl patch --type merge) would send it.
    pub async fn merge_patch(&self, path: &str, body: Value) -> Value {
        let request = http::Request::builder()
            .method("PATCH")
            .uri(path)
            .header("Content-Type", "application/merge-patch+json")
            .body(body.to_string().into_bytes())
            .unwrap();
        self.client.request::<Value>(request).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call("GET", path, Value::Null).await
    }

    /// How the next rollout of `NAMESPACE/NAME` goes: `healthy`, `pending` or `crashloop`.
    pub async fn scenario(&self, workload: &str, outcome: &str) {
        self.call("POST", "/_fake/scenario", json!({ workload: outcome }))
            .await;
    }

    /// Answer 403 to the requests matching `rule` (`verb`, `resource`, `group`, `namespace`,
    /// `name`; absent fields match all).
    pub async fn forbid(&self, rule: Value) {
        self.call("POST", "/_fake/forbid", rule).await;
    }

    /// Answer 404 to every request to an API group (`metrics.k8s.io`: metrics-server absent).
    pub async fn absent(&self, group: &str) {
        self.call("POST", "/_fake/absent", json!({ "group": group }))
            .await;
    }

    /// Answer 410 Gone to the next `times` list requests of `resource` carrying `continue`.
    pub async fn expire_continue(&self, resource: &str, times: u32) {
        self.call(
            "POST",
            "/_fake/expire",
            json!({ "resource": resource, "times": times }),
        )
        .await;
    }

    /// Every API request the fake received (control calls excluded).
    pub async fn requests(&self) -> Vec<Value> {
        self.get("/_fake/requests")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn patches(&self) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["method"] == "PATCH")
            .collect()
    }

    /// A workload's pod template spec, as the fake holds it now.
    pub async fn template(&self, kind_plural: &str, ns: &str, name: &str) -> Value {
        let obj = self
            .get(&format!(
                "/apis/apps/v1/namespaces/{ns}/{kind_plural}/{name}"
            ))
            .await;
        obj["spec"]["template"]["spec"].clone()
    }

    /// The pods of a workload (by its `app.kubernetes.io/name`) and the nodes they run on.
    pub async fn pods(&self, ns: &str, app: &str) -> Vec<(String, String, String)> {
        let list = self
            .get(&format!(
                "/api/v1/namespaces/{ns}/pods?labelSelector=app.kubernetes.io%2Fname%3D{app}"
            ))
            .await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["status"]["phase"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    p["spec"]["nodeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RBAC grant or call: (verb, API group, resource).
pub type Grant = (String, String, String);

impl Fake {
    /// Every API request received, as the RBAC grant it needs.
    pub async fn calls_made(&self) -> BTreeSet<Grant> {
        self.requests()
            .await
            .iter()
            .map(|r| rbac_call(r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
            .collect()
    }
}

/// Every (verb, group, resource) the rules of the RBAC manifest `path` (relative to the
/// repository root) grant.
pub fn granted(path: &str) -> BTreeSet<Grant> {
    let text = std::fs::read_to_string(dir().join("../..").join(path)).unwrap();
    let mut granted = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc = <serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap();
        for rule in doc["rules"].as_sequence().into_iter().flatten() {
            let list = |key: &str| -> Vec<String> {
                rule[key]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        granted.insert((verb, group.clone(), resource.clone()));
                    }
                }
            }
        }
    }
    granted
}

/// (verb, API group, resource) of an API request path as RBAC sees it.
pub fn rbac_call(method: &str, path: &str) -> (String, String, String) {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {path}"),
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    let verb = match (method, rest.len()) {
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("PATCH", _) => "patch",
        other => panic!("unexpected call {other:?} {path}"),
    };
    (verb.into(), group.into(), rest[0].into())
}
