//! Watching a rollout by polling: the workload's status, and the pods of the new template.
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::cluster::Cluster;
use super::patch::{Intent, Placement};
use super::workload::{Kind, Live};
use crate::execute::ExecError;

/// How to watch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Watch {
    pub timeout: Duration,
    pub poll: Duration,
    /// A container of a new pod restarted this often has failed.
    pub crash_loop_restarts: i32,
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// Every pod runs the template and is ready.
    Healthy(String),
    /// It will not become healthy (crash loop, progress deadline): no need to wait longer.
    Failed(String),
    /// Not healthy when the time was up.
    TimedOut(String),
}

/// Where the rollout of generation `generation` stands: done, or what it waits for.
fn progress(live: &Live, generation: i64) -> Result<String, String> {
    let s = &live.status;
    if s.observed_generation.unwrap_or(0) < generation {
        return Err(format!(
            "the {} controller has not observed generation {generation} yet",
            live.kind.as_str()
        ));
    }
    let want = live.replicas;
    let revision_done = match live.kind {
        Kind::Deployment => true,
        Kind::StatefulSet => s.current_revision == s.update_revision,
    };
    let done = s.updated == want
        && s.ready == want
        && s.available == want
        && s.replicas == want
        && revision_done;
    let summary = format!(
        "{} of {want} pods updated, {} ready, {} in all",
        s.updated, s.ready, s.replicas
    );
    if done {
        Ok(summary)
    } else {
        Err(summary)
    }
}

/// What is wrong with the new pods: `Err` when one fails for good (crash loop), `Ok(note)`
/// with what they wait for (e.g. Pending, Unschedulable) otherwise.
fn inspect(
    pods: &[Pod],
    intent: Option<&Intent>,
    crash_loop_restarts: i32,
) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        if let Some(intent) = intent {
            let placement = Placement {
                node_selector: spec.node_selector.clone().unwrap_or_default(),
                tolerations: spec
                    .tolerations
                    .iter()
                    .flatten()
                    .filter_map(|t| serde_json::to_value(t).ok())
                    .collect(),
                affinity: None,
            };
            if !placement.satisfies(intent) {
                continue; // a pod of the old template
            }
        }
        let Some(status) = &pod.status else { continue };
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for c in containers {
            let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
            let reason = waiting
                .and_then(|w| w.reason.as_deref())
                .unwrap_or_default();
            if reason == "CrashLoopBackOff" {
                return Err(format!(
                    "pod {name}: container {} in CrashLoopBackOff ({} restarts)",
                    c.name, c.restart_count
                ));
            }
            if c.restart_count >= crash_loop_restarts {
                return Err(format!(
                    "pod {name}: container {} restarted {} times",
                    c.name, c.restart_count
                ));
            }
            if !reason.is_empty() && reason != "ContainerCreating" && reason != "PodInitializing" {
                notes.push(format!(
                    "pod {name}: container {} waiting, {reason}",
                    c.name
                ));
            }
        }
        if status.phase.as_deref() == Some("Pending") {
            let unscheduled = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False");
            notes.push(match unscheduled {
                Some(c) => format!(
                    "pod {name} Pending (PodScheduled=False, {}: {})",
                    c.reason.as_deref().unwrap_or("not scheduled"),
                    c.message.as_deref().unwrap_or_default()
                ),
                None => format!("pod {name} Pending"),
            });
        }
    }
    Ok(notes)
}

/// Poll until the rollout of `generation` is done, fails, or the time is up. With `intent`,
/// the pods of the new template are inspected too (crash loops fail at once); without, only
/// the workload's status counts (a rollback settling). API errors are `changed: true`: the
/// workload was patched before any watch.
pub(super) async fn watch(
    cluster: &Cluster<'_>,
    live: &Live,
    generation: i64,
    intent: Option<&Intent>,
    w: Watch,
) -> Result<Verdict, ExecError> {
    let started = Instant::now();
    let deadline = started + w.timeout;
    loop {
        let now = cluster.reread(live, true).await?;
        let state = progress(&now, generation);
        let pod_notes = match (intent, &state) {
            (Some(intent), Err(_)) => {
                let pods = cluster.pods(&now, true).await?;
                match inspect(&pods, Some(intent), w.crash_loop_restarts) {
                    Ok(notes) => notes,
                    Err(failure) => return Ok(Verdict::Failed(failure)),
                }
            }
            _ => Vec::new(),
        };
        match state {
            Ok(summary) => {
                tracing::info!(workload = %now.label(), generation, elapsed_ms = started.elapsed().as_millis() as u64, "rollout done: {summary}");
                return Ok(Verdict::Healthy(summary));
            }
            Err(waiting) => {
                if let Some(message) = &now.status.deadline_exceeded {
                    return Ok(Verdict::Failed(format!(
                        "the Deployment's progress deadline passed: {message}"
                    )));
                }
                let mut why = waiting;
                if !pod_notes.is_empty() {
                    why = format!("{why}; {}", pod_notes.join("; "));
                }
                if Instant::now() >= deadline {
                    return Ok(Verdict::TimedOut(format!(
                        "not healthy after {:.0?}: {why}",
                        w.timeout
                    )));
                }
                tracing::debug!(workload = %now.label(), generation, "rollout under way: {why}");
            }
        }
        tokio::time::sleep(
            w.poll
                .min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn intent() -> Intent {
        Intent {
            node_selector: [("karpenter.sh/capacity-type".to_string(), "spot".to_string())].into(),
            tolerations: vec![],
        }
    }

    #[test]
    fn only_new_pods_are_judged() {
        let old_crashing = pod(json!({
            "metadata": {"name": "old"},
            "spec": {"containers": []},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 9,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }]},
        }));
        assert_eq!(
            inspect(std::slice::from_ref(&old_crashing), Some(&intent()), 3),
            Ok(vec![])
        );
        let new_pending = pod(json!({
            "metadata": {"name": "new"},
            "spec": {"containers": [], "nodeSelector": {"karpenter.sh/capacity-type": "spot"}},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/5 nodes are available",
            }]},
        }));
        assert_eq!(
            inspect(&[old_crashing, new_pending.clone()], Some(&intent()), 3),
            Ok(vec![
                "pod new Pending (PodScheduled=False, Unschedulable: 0/5 nodes are available)"
                    .to_string()
            ])
        );
        let mut restarted = new_pending;
        restarted.status =
            serde_json::from_value(json!({"phase": "Running", "containerStatuses": [{
                "name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 3,
                "state": {"running": {}},
            }]}))
            .unwrap();
        assert!(inspect(std::slice::from_ref(&restarted), Some(&intent()), 3).is_err());
        assert!(inspect(&[restarted], Some(&intent()), 4).is_ok());
    }
}
