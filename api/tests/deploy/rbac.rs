//! RBAC, the Service and the NetworkPolicy of deploy/: read-only cluster grants bound to the
//! Deployment's ServiceAccount, the executor's writes only in optional/, selectors and ports.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::NetworkPolicyPort;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::manifests::{load, selects, Object};
use super::{listen_port, READ_VERBS};

/// Rules flattened to (apiGroup, resource, verb).
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        assert!(rule.non_resource_urls.is_none() && rule.resource_names.is_none());
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for part in [group, resource, verb] {
                        assert!(!part.contains('*'), "no wildcard: {rule:?}");
                    }
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn rbac_reads_only_and_is_bound_to_the_deployments_service_account() {
    let deploy = load();
    let pod = deploy.pod();
    let namespace = deploy.deployment().metadata.namespace.clone().unwrap();
    let account = pod
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let sa = deploy.one(|o| match o {
        Object::ServiceAccount(s) => Some(s.as_ref()),
        _ => None,
    });
    assert_eq!(sa.metadata.name.as_ref(), Some(&account));
    assert_eq!(sa.metadata.namespace.as_ref(), Some(&namespace));

    // Every role of deploy/ (base and optional) by (kind, namespace, name).
    let mut roles = BTreeMap::new();
    for m in &deploy.manifests {
        match &m.object {
            Object::ClusterRole(r) => {
                let g = grants(r.rules.as_deref().unwrap_or_default());
                for (group, resource, verb) in &g {
                    assert!(
                        READ_VERBS.contains(&verb.as_str()),
                        "{}: ClusterRole may {verb} {group}/{resource}",
                        m.file
                    );
                    assert!(
                        resource != "secrets" && resource != "configmaps",
                        "{}: {resource}",
                        m.file
                    );
                }
                roles.insert(
                    ("ClusterRole", None, r.metadata.name.clone().unwrap()),
                    (m.file.clone(), g),
                );
            }
            Object::Role(r) => {
                let g = grants(r.rules.as_deref().unwrap_or_default());
                roles.insert(
                    (
                        "Role",
                        r.metadata.namespace.clone(),
                        r.metadata.name.clone().unwrap(),
                    ),
                    (m.file.clone(), g),
                );
            }
            _ => {}
        }
    }
    // The Kubernetes source's grant, exactly what it calls (ingest/tests/kubernetes_source
    // checks the calls against this file): list nodes, pods and metrics.k8s.io pods.
    let base: Vec<_> = roles.values().filter(|(f, _)| !f.contains('/')).collect();
    assert_eq!(base.len(), 1, "one role in the base install");
    let expected: BTreeSet<(String, String, String)> = [
        ("", "pods", "list"),
        ("", "nodes", "list"),
        ("metrics.k8s.io", "pods", "list"),
    ]
    .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
    .into();
    assert_eq!(base[0].1, expected);

    // Every binding binds a role of deploy/ (in the binding's own file) to the pod's account only.
    let mut bound = BTreeSet::new();
    for m in &deploy.manifests {
        let (kind, ns, role_ref, subjects) = match &m.object {
            Object::ClusterRoleBinding(b) => ("ClusterRole", None, &b.role_ref, &b.subjects),
            Object::RoleBinding(b) => (
                "Role",
                b.metadata.namespace.clone(),
                &b.role_ref,
                &b.subjects,
            ),
            _ => continue,
        };
        assert_eq!(role_ref.kind, kind, "{}", m.file);
        assert_eq!(role_ref.api_group, "rbac.authorization.k8s.io");
        let role = (kind, ns, role_ref.name.clone());
        let (file, _) = roles.get(&role).unwrap_or_else(|| {
            panic!(
                "{}: binds {} `{}`, not defined in deploy/",
                m.file, kind, role_ref.name
            )
        });
        assert_eq!(file, &m.file, "a binding sits beside its role");
        assert!(
            bound.insert(role.clone()),
            "{}: {role:?} bound twice",
            m.file
        );
        let subjects = subjects.as_deref().unwrap_or_default();
        assert_eq!(subjects.len(), 1, "{}", m.file);
        assert_eq!(subjects[0].kind, "ServiceAccount");
        assert_eq!(subjects[0].name, account);
        assert_eq!(subjects[0].namespace.as_ref(), Some(&namespace));
    }
    let defined: BTreeSet<_> = roles.keys().cloned().collect();
    assert_eq!(bound, defined, "every role is bound");
}

#[test]
fn the_executors_write_grant_is_optional_and_only_patches_workloads() {
    let deploy = load();
    let mut writes = 0;
    for m in &deploy.manifests {
        let Object::Role(role) = &m.object else {
            continue;
        };
        assert!(
            m.file.starts_with("optional/"),
            "{}: a namespaced write grant is optional",
            m.file
        );
        for (group, resource, verb) in grants(role.rules.as_deref().unwrap_or_default()) {
            assert!(
                verb == "patch" || READ_VERBS.contains(&verb.as_str()),
                "{}: {verb}",
                m.file
            );
            assert_eq!(group, "apps");
            assert!(
                resource == "deployments" || resource == "statefulsets",
                "{resource}"
            );
            writes += usize::from(verb == "patch");
        }
    }
    assert_eq!(
        writes, 2,
        "patch deployments and statefulsets, nothing else"
    );
}

#[test]
fn the_service_and_network_policy_select_the_pods_and_their_port() {
    let deploy = load();
    let labels = deploy.pod_labels();
    let spec = deploy.deployment().spec.as_ref().unwrap();
    assert!(selects(
        spec.selector.match_labels.as_ref().unwrap(),
        labels
    ));
    let (_, port) = listen_port(&deploy);
    let service = deploy.one(|o| match o {
        Object::Service(s) => Some(s.as_ref()),
        _ => None,
    });
    let service_spec = service.spec.as_ref().unwrap();
    assert!(selects(service_spec.selector.as_ref().unwrap(), labels));
    for p in service_spec.ports.iter().flatten() {
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        assert_eq!(deploy.container_port(&target), port);
    }
    let (_, toml) = deploy.costmill_toml();
    let clickhouse: i32 = toml["clickhouse"]["url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let smtp = toml["email"]["smtp"]["port"].as_integer().unwrap() as i32;
    let policies: Vec<_> = deploy
        .manifests
        .iter()
        .filter_map(|m| match &m.object {
            Object::NetworkPolicy(p) => Some(p.spec.clone().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(policies.len(), 1);
    let policy = &policies[0];
    assert!(selects(
        policy
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .unwrap(),
        labels
    ));
    let allows = |rules: Vec<Vec<NetworkPolicyPort>>, port: i32, protocol: &str| {
        rules.iter().flatten().any(|p| {
            p.protocol.as_deref().unwrap_or("TCP") == protocol
                && p.port.as_ref().is_some_and(|q| match q {
                    IntOrString::Int(n) => *n == port,
                    IntOrString::String(name) => {
                        deploy.container_port(&IntOrString::String(name.clone())) == port
                    }
                })
        })
    };
    let ingress: Vec<_> = policy
        .ingress
        .iter()
        .flatten()
        .map(|r| r.ports.clone().unwrap_or_default())
        .collect();
    let egress: Vec<_> = policy
        .egress
        .iter()
        .flatten()
        .map(|r| r.ports.clone().unwrap_or_default())
        .collect();
    assert!(
        allows(ingress, port, "TCP"),
        "ingress to the container port"
    );
    for (port, protocol) in [
        (clickhouse, "TCP"),
        (smtp, "TCP"),
        (53, "UDP"),
        (443, "TCP"),
    ] {
        assert!(
            allows(egress.clone(), port, protocol),
            "egress to {protocol} {port}"
        );
    }
}
