//! `[[sources]] type = "kubernetes"`: each run is one sample of the cluster, taken from the API.
//!
//! A run lists nodes and pods (pages of `page_size` with `limit`/`continue`; a `410 Gone` on a
//! continue token, the list having moved on, lists again from the start) and PodMetrics from
//! metrics.k8s.io (a `404` there means metrics-server is not installed: usage is 0, with a
//! warning). The sample is at the run's start time and folds with the presences the previous run
//! left open, which travel in the source's checkpoint (saved with the commit; see
//! [`super::sample::ClusterFold::checkpoint`]): a window grows run by run and each run lands it
//! again, replacing the row the previous run landed. Owner chains are inferred from names (the
//! RBAC grant reads no ReplicaSets or Jobs; see [`super::owners`]).
use futures::stream::{self, BoxStream, StreamExt};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::Resource;

use super::objects::{self, Objects};
use super::sample::{node_windows, pod_windows, ClusterFold, Sample};
use super::{KubernetesConfig, KubernetesError};
use crate::record::{Records, SourceEvent};
use crate::source::Source;
use crate::IngestError;

/// Lists restarted after `410 Gone` before giving up.
const MAX_RELISTS: usize = 3;

/// The live source of one cluster.
pub struct KubernetesLive {
    pub config: KubernetesConfig,
    /// The sample's time (Unix seconds). Default: the run's start.
    pub sample_time: Option<u32>,
}

impl Source for KubernetesLive {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn read(
        &self,
        checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let config = self.config.clone();
        let at = self.sample_time;
        stream::once(async move { run(&config, at, checkpoint.as_deref()).await })
            .flat_map(|result| {
                stream::iter(match result {
                    Ok(events) => events.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(IngestError::from(e))],
                })
            })
            .boxed()
    }
}

/// What was read: (group, version, plural) of a resource, and the RBAC verb.
struct Call {
    resource: ApiResource,
}

impl Call {
    fn of<K: Resource<DynamicType = ()>>() -> Call {
        Call {
            resource: ApiResource::erase::<K>(&()),
        }
    }

    fn pod_metrics() -> Call {
        Call {
            resource: ApiResource {
                group: "metrics.k8s.io".into(),
                version: "v1beta1".into(),
                api_version: "metrics.k8s.io/v1beta1".into(),
                kind: "PodMetrics".into(),
                plural: "pods".into(),
            },
        }
    }

    /// `pods`, `pods.metrics.k8s.io`.
    fn name(&self) -> String {
        match self.resource.group.as_str() {
            "" => self.resource.plural.clone(),
            group => format!("{}.{group}", self.resource.plural),
        }
    }
}

async fn run(
    config: &KubernetesConfig,
    at: Option<u32>,
    checkpoint: Option<&str>,
) -> Result<Vec<SourceEvent>, KubernetesError> {
    let client = super::client(config).await?;
    let at = at.unwrap_or_else(|| chrono::Utc::now().timestamp() as u32);
    let page = config.page_size;
    let mut objects = list(
        config,
        &client,
        &Call::of::<k8s_openapi::api::core::v1::Node>(),
        page,
    )
    .await?;
    objects.extend(
        list(
            config,
            &client,
            &Call::of::<k8s_openapi::api::core::v1::Pod>(),
            page,
        )
        .await?,
    );
    match list(config, &client, &Call::pod_metrics(), page).await {
        Ok(metrics) => objects.extend(metrics),
        Err(KubernetesError::Api { code: 404, .. }) => tracing::warn!(
            cluster = %config.cluster,
            "metrics.k8s.io answered 404: metrics-server is not installed, so pod usage is 0 \
             (costs follow requests)"
        ),
        Err(e) => return Err(e),
    }
    let owners = std::mem::take(&mut objects.owners);
    let mut sample = Sample::new(at);
    sample.add(objects);
    let mut fold = ClusterFold::resume(checkpoint, config.timing());
    fold.observe(&sample, &owners);
    let nodes = node_windows(&config.cluster, fold.nodes.take_windows());
    let pods = pod_windows(&config.cluster, fold.pods.take_windows());
    fold.nodes.forget_before(at);
    fold.pods.forget_before(at);
    tracing::info!(
        cluster = %config.cluster,
        nodes = sample.nodes.len(),
        pods = sample.pods.len(),
        with_usage = sample.usage.len(),
        "sampled the Kubernetes API"
    );
    let mut events = Vec::new();
    if !nodes.is_empty() {
        events.push(SourceEvent::Records(Records::K8sNodes(nodes)));
    }
    if !pods.is_empty() {
        events.push(SourceEvent::Records(Records::K8sPods(pods)));
    }
    events.push(SourceEvent::Checkpoint(fold.checkpoint()));
    Ok(events)
}

/// Every item of a resource, page by page.
async fn list(
    config: &KubernetesConfig,
    client: &kube::Client,
    call: &Call,
    page_size: u32,
) -> Result<Objects, KubernetesError> {
    let url = DynamicObject::url_path(&call.resource, None);
    let label = std::path::PathBuf::from(format!("GET {url}"));
    let mut relists = 0;
    'relist: loop {
        let mut all = Objects::default();
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(page_size);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let request =
                kube::core::Request::new(&url)
                    .list(&params)
                    .map_err(|e| KubernetesError::Api {
                        cluster: config.cluster.clone(),
                        call: format!("list {}", call.name()),
                        code: 0,
                        message: e.to_string(),
                    })?;
            let text = match client.request_text(request).await {
                Ok(text) => text,
                Err(kube::Error::Api(status)) => {
                    if status.code == 410 && token.is_some() && relists < MAX_RELISTS {
                        relists += 1;
                        tracing::warn!(
                            resource = %call.name(),
                            "the list's continue token expired (410 Gone); listing again from the start"
                        );
                        continue 'relist;
                    }
                    return Err(api_error(config, call, *status));
                }
                Err(source) => {
                    return Err(KubernetesError::Request {
                        cluster: config.cluster.clone(),
                        call: format!("list {}", call.name()),
                        source,
                    })
                }
            };
            let (objects, problems) = objects::parse(&text, &label);
            if let Some(p) = problems.into_iter().next() {
                return Err(KubernetesError::Answer {
                    cluster: config.cluster.clone(),
                    call: format!("list {}", call.name()),
                    problem: p.to_string(),
                });
            }
            token = objects.continue_token.clone();
            all.extend(objects);
            if token.is_none() {
                return Ok(all);
            }
        }
    }
}

fn api_error(
    config: &KubernetesConfig,
    call: &Call,
    status: kube::core::Status,
) -> KubernetesError {
    if status.code == 403 {
        return KubernetesError::Forbidden {
            cluster: config.cluster.clone(),
            verb: "list".into(),
            resource: call.name(),
            group: call.resource.group.clone(),
            message: status.message,
        };
    }
    KubernetesError::Api {
        cluster: config.cluster.clone(),
        call: format!("list {}", call.name()),
        code: status.code,
        message: status.message,
    }
}
