//! deploy/ (Kubernetes manifests of `costmill serve`): every manifest parsed into its k8s-openapi
//! type with nothing dropped, and what must hold across them: probes on /healthz and /readyz at
//! the port costmill listens on, credentials only from the Secret's existing keys, a ConfigMap
//! that `costmill config check` accepts with the Deployment's environment, read-only RBAC bound to
//! the Deployment's ServiceAccount, write permissions only in an optional file. Last, the real
//! binary runs with the manifests' config and environment on the test ClickHouse and answers the
//! probes (deploy/run.rs).
use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

mod common;
#[path = "deploy/manifests.rs"]
mod manifests;
#[path = "deploy/rbac.rs"]
mod rbac;
#[path = "deploy/run.rs"]
mod run;
use manifests::{load, typed, Deploy, Object};

pub const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

pub fn listen_port(deploy: &Deploy) -> (String, i32) {
    let (_, toml) = deploy.costmill_toml();
    let listen = toml["serve"]["listen"].as_str().expect("[serve] listen");
    let addr: std::net::SocketAddr = listen.parse().expect("[serve] listen is an address");
    (addr.ip().to_string(), i32::from(addr.port()))
}

#[test]
fn every_manifest_parses_into_its_kubernetes_type_and_a_dropped_field_is_caught() {
    let deploy = load();
    let kinds = |it: &mut dyn Iterator<Item = &manifests::Manifest>| {
        it.map(|m| m.object.kind().to_string())
            .collect::<BTreeSet<_>>()
    };
    let base = kinds(&mut deploy.base());
    let expected = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Namespace",
        "Secret",
        "Service",
        "ServiceAccount",
    ];
    assert_eq!(base, expected.map(String::from).into(), "the base install");
    let optional = kinds(&mut deploy.optional());
    for kind in ["NetworkPolicy", "Role", "RoleBinding", "Secret"] {
        assert!(
            optional.contains(kind),
            "optional/ has a {kind}: {optional:?}"
        );
    }
    // The round-trip check is what catches a field k8s-openapi would silently ignore.
    let misspelled = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [], "terminationGracePeriodSecond": 300}}}
    });
    let caught = std::panic::catch_unwind(|| typed::<Deployment>("test", &misspelled));
    let message = caught.expect_err("a misspelled field fails");
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("spec.template.spec.terminationGracePeriodSecond (dropped)"),
        "{message}"
    );
}

#[test]
fn the_kustomization_installs_every_base_manifest_and_no_optional_one() {
    let deploy = load();
    let k = &deploy.kustomization;
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");
    let listed: BTreeSet<&String> = k.resources.iter().collect();
    assert_eq!(listed.len(), k.resources.len(), "no resource listed twice");
    let files: BTreeSet<&String> = deploy.manifests.iter().map(|m| &m.file).collect();
    for resource in &k.resources {
        assert!(
            files.contains(resource),
            "kustomization.yaml lists {resource}, which is not a manifest of deploy/"
        );
    }
    for file in &files {
        let top_level = !file.contains('/');
        assert_eq!(
            top_level,
            listed.contains(file),
            "{file}: files at the top of deploy/ are the base install, files in optional/ are not"
        );
    }
    // Namespaced objects of the base install are in its Namespace; cluster-scoped ones have none.
    let namespace = deploy
        .one(|o| match o {
            Object::Namespace(n) => Some(n.as_ref()),
            _ => None,
        })
        .metadata
        .name
        .clone();
    for m in deploy.base() {
        let (meta, scoped) = match &m.object {
            Object::Namespace(o) => (&o.metadata, false),
            Object::ClusterRole(o) => (&o.metadata, false),
            Object::ClusterRoleBinding(o) => (&o.metadata, false),
            Object::ServiceAccount(o) => (&o.metadata, true),
            Object::ConfigMap(o) => (&o.metadata, true),
            Object::Secret(o) => (&o.metadata, true),
            Object::Deployment(o) => (&o.metadata, true),
            Object::Service(o) => (&o.metadata, true),
            other => panic!("{}: {other:?} is not expected in the base install", m.file),
        };
        let expected = if scoped { namespace.clone() } else { None };
        assert_eq!(meta.namespace, expected, "{}: namespace", m.file);
    }
}

#[test]
fn probes_use_healthz_and_readyz_on_the_port_costmill_listens_on() {
    let deploy = load();
    let (ip, port) = listen_port(&deploy);
    assert!(
        ip == "0.0.0.0" || ip == "::",
        "[serve] listen on all interfaces, or the kubelet cannot reach the probes: {ip}"
    );
    let c = deploy.container();
    let probes = [
        ("startupProbe", &c.startup_probe, "/healthz"),
        ("livenessProbe", &c.liveness_probe, "/healthz"),
        ("readinessProbe", &c.readiness_probe, "/readyz"),
    ];
    for (name, probe, path) in probes {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{name}: an httpGet probe"));
        assert_eq!(get.path.as_deref(), Some(path), "{name}");
        assert_eq!(deploy.container_port(&get.port), port, "{name}: port");
        assert!(
            matches!(get.scheme.as_deref(), None | Some("HTTP")),
            "{name}"
        );
    }
    // The container runs `costmill serve`.
    let command = c.command.clone().unwrap_or_default();
    assert!(command[0].ends_with("/costmill"), "{command:?}");
    assert_eq!(c.args.as_deref(), Some(&["serve".to_string()][..]));
}

#[test]
fn the_pod_runs_non_root_read_only_without_capabilities_and_has_time_to_drain() {
    let deploy = load();
    let pod = deploy.pod();
    let c = deploy.container();
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert!(pod_security.run_as_user.is_some_and(|u| u > 0));
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    let security = c
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_ne!(security.privileged, Some(true));
    let caps = security.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert!(caps.add.is_none(), "no capability added");
    // The only writable mount is the scratch /tmp (an emptyDir).
    for mount in c.volume_mounts.iter().flatten() {
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap();
        if mount.read_only != Some(true) {
            assert_eq!(mount.mount_path, "/tmp");
            assert!(volume.empty_dir.is_some(), "/tmp is an emptyDir");
        }
    }
    let resources = c.resources.as_ref().expect("resources");
    let requests = resources.requests.as_ref().expect("requests");
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    assert!(resources
        .limits
        .as_ref()
        .is_some_and(|l| l.contains_key("memory")));
    let image = c.image.as_deref().unwrap();
    let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    assert!(
        tag != "latest" && !tag.contains('/'),
        "a pinned image tag: {image}"
    );
    // SIGTERM lets the alert and email jobs finish their tick (Slack 10 s and SMTP 30 s timeouts,
    // retried): five minutes before the kill.
    assert!(pod
        .termination_grace_period_seconds
        .is_some_and(|s| s >= 300));
    // Service links would inject COSTMILL_SERVICE_HOST & co., which costmill refuses (tested below).
    assert_eq!(pod.enable_service_links, Some(false));
    // Every file path of a source lies on a mounted volume.
    let (_, toml) = deploy.costmill_toml();
    for source in toml
        .get("sources")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        for path in source["paths"].as_array().into_iter().flatten() {
            let path = path.as_str().unwrap();
            assert!(
                c.volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| path.starts_with(&m.mount_path)),
                "source path {path} is on a mounted volume"
            );
        }
    }
}

#[test]
fn the_config_map_is_toml_without_any_credential() {
    let deploy = load();
    let (text, toml) = deploy.costmill_toml();
    let url = toml["clickhouse"]["url"]
        .as_str()
        .expect("an external ClickHouse");
    assert!(url.starts_with("http://"), "{url}");
    fn walk(path: &str, value: &toml::Value, found: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let secret_key = ["password", "webhook_url", "token", "secret"]
                        .iter()
                        .any(|s| k.to_ascii_lowercase().contains(s));
                    if secret_key || at == "alerts.slack.teams" {
                        found.push(at.clone());
                    }
                    walk(&at, v, found);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(path, v, found)),
            toml::Value::String(s) if s.contains("hooks.slack.com") => found.push(path.into()),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk("", &toml::Value::Table(toml.clone()), &mut found);
    assert!(found.is_empty(), "credentials in the ConfigMap: {found:?}");
    for (key, value) in deploy.secret().string_data.iter().flatten() {
        assert!(
            !text.contains(value.as_str()),
            "the Secret's {key} is in the ConfigMap"
        );
    }
}

#[test]
fn credentials_come_only_from_existing_keys_of_the_secret() {
    let deploy = load();
    let secret = deploy.secret();
    assert!(
        secret.data.is_none(),
        "placeholders as stringData, readable"
    );
    let keys = secret.string_data.clone().expect("stringData");
    for (key, value) in &keys {
        assert!(
            value.contains("REPLACE"),
            "{key}: a placeholder, never a real value"
        );
    }
    let c = deploy.container();
    assert!(
        c.env_from.is_none(),
        "every variable is named, so each one is checked"
    );
    let mut used = BTreeSet::new();
    for var in c.env.iter().flatten() {
        let from_secret = var
            .value_from
            .as_ref()
            .and_then(|f| f.secret_key_ref.as_ref());
        let credential = ["PASSWORD", "WEBHOOK", "TOKEN", "SECRET", "SLACK__TEAMS"]
            .iter()
            .any(|w| var.name.contains(w));
        assert_eq!(
            credential,
            from_secret.is_some(),
            "{}: credentials (only) come from the Secret",
            var.name
        );
        if let Some(r) = from_secret {
            assert_eq!(Some(&r.name), secret.metadata.name.as_ref(), "{}", var.name);
            assert!(
                keys.contains_key(&r.key),
                "{}: the Secret has no key {}",
                var.name,
                r.key
            );
            used.insert(r.key.clone());
        }
    }
    let unused: Vec<_> = keys.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        unused.is_empty(),
        "Secret keys no variable reads: {unused:?}"
    );
}
