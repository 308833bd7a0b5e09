//! The API of a cluster: reading the workload, its pods and PodDisruptionBudgets, patching it,
//! and what the API's errors mean for people.
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::Resource;
use serde_json::Value;

use super::workload::{selector_text, selects, Kind, Live, Target};
use crate::execute::ExecError;

/// The field manager named in every patch (`managedFields`).
const FIELD_MANAGER: &str = "costmill";
const RBAC_FILE: &str = "deploy/optional/optimizer-executor-rbac.yaml";

/// One API call, for error messages and the RBAC hint.
#[derive(Debug, Clone)]
pub(super) struct Op {
    pub verb: &'static str,
    pub resource: &'static str,
    pub group: &'static str,
    pub namespace: String,
}

/// The API of one cluster, for one migration.
pub(super) struct Cluster<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub client: kube::Client,
}

impl Cluster<'_> {
    /// `ExecError::Target` from an API error; a 403 names the RBAC grant that is missing.
    pub fn error(&self, op: &Op, e: kube::Error, changed: bool) -> ExecError {
        let reason = match &e {
            kube::Error::Api(status) if status.code == 403 => {
                let (verb, resource, group) = forbidden_parts(&status.message).unwrap_or((
                    op.verb.to_string(),
                    op.resource.to_string(),
                    op.group.to_string(),
                ));
                let group = if group.is_empty() {
                    "core".to_string()
                } else {
                    group
                };
                format!(
                    "forbidden: the service account may not `{verb}` `{resource}` (API group {group}) in namespace `{ns}`; \
                     apply {RBAC_FILE} (its Role granted in namespace `{ns}`). The API said: {msg}",
                    ns = op.namespace,
                    msg = status.message
                )
            }
            kube::Error::Api(status) => format!(
                "{} {} in namespace `{}`: {} ({} {})",
                op.verb, op.resource, op.namespace, status.message, status.code, status.reason
            ),
            other => format!(
                "{} {} in namespace `{}`: {other}",
                op.verb, op.resource, op.namespace
            ),
        };
        ExecError::Target {
            id: self.id.to_string(),
            target: format!("the Kubernetes API of cluster `{}`", self.name),
            reason,
            changed,
        }
    }

    fn op(verb: &'static str, resource: &'static str, group: &'static str, ns: &str) -> Op {
        Op {
            verb,
            resource,
            group,
            namespace: ns.to_string(),
        }
    }

    async fn get(&self, kind: Kind, ns: &str, name: &str) -> Result<Option<Live>, ExecError> {
        let op = Self::op("get", kind.plural(), "apps", ns);
        let c = self.client.clone();
        let found = match kind {
            Kind::Deployment => Api::<Deployment>::namespaced(c, ns)
                .get_opt(name)
                .await
                .map(|d| d.map(Live::from_deployment)),
            Kind::StatefulSet => Api::<StatefulSet>::namespaced(c, ns)
                .get_opt(name)
                .await
                .map(|s| s.map(Live::from_statefulset)),
        };
        found.map_err(|e| self.error(&op, e, false))
    }

    /// The live workload, or `Invalid` when there is none.
    pub async fn find(&self, target: &Target) -> Result<Live, ExecError> {
        let kinds = match target.kind {
            Some(kind) => vec![kind],
            None => vec![Kind::Deployment, Kind::StatefulSet],
        };
        for kind in &kinds {
            if let Some(live) = self.get(*kind, &target.namespace, &target.name).await? {
                return Ok(live);
            }
        }
        let looked: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        Err(ExecError::Invalid {
            id: self.id.to_string(),
            reason: format!(
                "no {} `{}` in namespace `{}` of cluster `{}`: the workload is gone or renamed",
                looked.join(" or "),
                target.name,
                target.namespace,
                target.cluster
            ),
        })
    }

    /// The workload again (during a rollout): gone is an error, and something was changed.
    pub async fn reread(&self, live: &Live, changed: bool) -> Result<Live, ExecError> {
        let found = self.get(live.kind, &live.namespace, &live.name).await;
        match found {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(ExecError::Target {
                id: self.id.to_string(),
                target: format!("the Kubernetes API of cluster `{}`", self.name),
                reason: format!("{} disappeared during the rollout", live.label()),
                changed,
            }),
            Err(ExecError::Target {
                id, target, reason, ..
            }) => Err(ExecError::Target {
                id,
                target,
                reason,
                changed,
            }),
            Err(e) => Err(e),
        }
    }

    /// The PodDisruptionBudgets of the namespace that select the workload's pods.
    pub async fn budgets(&self, live: &Live) -> Result<Vec<PodDisruptionBudget>, ExecError> {
        let op = Self::op("list", "poddisruptionbudgets", "policy", &live.namespace);
        let api = Api::<PodDisruptionBudget>::namespaced(self.client.clone(), &live.namespace);
        let all = list_all(&api, ListParams::default())
            .await
            .map_err(|e| self.error(&op, e, false))?;
        Ok(all
            .into_iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| selects(sel, &live.template_labels))
            })
            .collect())
    }

    /// The pods the workload's selector selects.
    pub async fn pods(&self, live: &Live, changed: bool) -> Result<Vec<Pod>, ExecError> {
        let op = Self::op("list", "pods", "", &live.namespace);
        let api = Api::<Pod>::namespaced(self.client.clone(), &live.namespace);
        let params = ListParams::default().labels(&selector_text(&live.selector));
        list_all(&api, params)
            .await
            .map_err(|e| self.error(&op, e, changed))
    }

    /// Send a patch to the workload; returns it as patched.
    pub async fn patch(&self, live: &Live, patch: &Patch<Value>) -> Result<Live, kube::Error> {
        let params = patch_params();
        let c = self.client.clone();
        match live.kind {
            Kind::Deployment => Api::<Deployment>::namespaced(c, &live.namespace)
                .patch(&live.name, &params, patch)
                .await
                .map(Live::from_deployment),
            Kind::StatefulSet => Api::<StatefulSet>::namespaced(c, &live.namespace)
                .patch(&live.name, &params, patch)
                .await
                .map(Live::from_statefulset),
        }
    }

    pub fn patch_op(live: &Live) -> Op {
        Self::op("patch", live.kind.plural(), "apps", &live.namespace)
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// A patch request as the client sends it (the same request builder): `METHOD PATH?QUERY`,
/// `Content-Type: …`, a blank line, the body.
pub(super) fn render(live: &Live, patch: &Patch<Value>) -> String {
    let collection = match live.kind {
        Kind::Deployment => Deployment::url_path(&(), Some(&live.namespace)),
        Kind::StatefulSet => StatefulSet::url_path(&(), Some(&live.namespace)),
    };
    match kube::core::Request::new(collection).patch(&live.name, &patch_params(), patch) {
        Ok(req) => {
            let ctype = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!(
                "{} {}\nContent-Type: {ctype}\n\n{}",
                req.method(),
                req.uri(),
                String::from_utf8_lossy(req.body())
            )
        }
        Err(e) => format!(
            "PATCH {} (the request could not be rendered: {e})",
            live.path()
        ),
    }
}

/// Every page of a list.
async fn list_all<K>(api: &Api<K>, params: ListParams) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut params = params.limit(500);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// From `… cannot patch resource "deployments" in API group "apps" …`: (verb, resource, group).
fn forbidden_parts(message: &str) -> Option<(String, String, String)> {
    let after = message.split_once(" cannot ")?.1;
    let (verb, rest) = after.split_once(' ')?;
    let rest = rest.strip_prefix("resource \"")?;
    let (resource, rest) = rest.split_once('"')?;
    let group = rest
        .split_once("in API group \"")
        .and_then(|(_, g)| g.split_once('"'))
        .map_or("", |(g, _)| g);
    Some((verb.to_string(), resource.to_string(), group.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_messages_name_verb_resource_and_group() {
        let msg = r#"deployments.apps "x" is forbidden: User "system:serviceaccount:costmill:costmill" cannot patch resource "deployments" in API group "apps" in the namespace "payments""#;
        assert_eq!(
            forbidden_parts(msg),
            Some(("patch".into(), "deployments".into(), "apps".into()))
        );
        let core = r#"pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "search""#;
        assert_eq!(
            forbidden_parts(core),
            Some(("list".into(), "pods".into(), String::new()))
        );
        assert_eq!(forbidden_parts("forbidden"), None);
    }
}
