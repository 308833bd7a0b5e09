//! The SkyPilot executor (kind `skypilot`): a cross-cloud move is a SkyPilot task for the user to
//! launch (`sky launch`), not something costmill starts itself: it cannot know the job's data,
//! set-up and credentials. Applying writes the task the proposal carries to
//! `output_dir/<migration id>.yaml` (whole or not at all: a temporary file renamed into place);
//! rolling back removes it. A cluster already launched from it is the user's to stop.
use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{ExecError, Executor, Outcome};
use crate::migration::MigrationRow;

/// `[migrations.skypilot]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkyPilotExecutorConfig {
    /// Where task files are written (created if missing).
    pub output_dir: PathBuf,
}

pub struct SkyPilotExecutor {
    output_dir: PathBuf,
}

impl SkyPilotExecutor {
    pub fn new(config: &SkyPilotExecutorConfig) -> SkyPilotExecutor {
        SkyPilotExecutor {
            output_dir: config.output_dir.clone(),
        }
    }

    fn file(&self, m: &MigrationRow) -> Result<PathBuf, ExecError> {
        let safe = !m.id.is_empty()
            && m.id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !safe {
            return Err(invalid(m, format!("`{}` is not a file-safe id", m.id)));
        }
        Ok(self.output_dir.join(format!("{}.yaml", m.id)))
    }

    /// The file and the task text, or why the migration carries none.
    fn plan(&self, m: &MigrationRow) -> Result<(PathBuf, String), ExecError> {
        let spec: serde_json::Value = serde_json::from_str(&m.spec_after)
            .map_err(|e| invalid(m, format!("spec_after is not JSON: {e}")))?;
        let task = spec["task"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| invalid(m, "spec_after has no SkyPilot `task`".into()))?;
        serde_yaml::from_str::<serde_yaml::Value>(task)
            .map_err(|e| invalid(m, format!("the SkyPilot task is not YAML: {e}")))?;
        Ok((self.file(m)?, task.to_string()))
    }

    fn outcome(&self, path: &std::path::Path, existed: bool, wrote: bool) -> Outcome {
        let shown = path.display().to_string();
        Outcome {
            ok: true,
            spec_before: serde_json::json!({"file": shown, "existed": existed}),
            spec_after: serde_json::json!({"file": shown, "written": wrote}),
            requests: vec![format!("write {shown}")],
            message: format!(
                "{} the SkyPilot task {shown}: launch it with `sky launch {shown}`",
                if wrote { "wrote" } else { "would write" }
            ),
        }
    }
}

fn invalid(m: &MigrationRow, reason: String) -> ExecError {
    ExecError::Invalid {
        id: m.id.clone(),
        reason,
    }
}

fn io_error(
    m: &MigrationRow,
    path: &std::path::Path,
    e: std::io::Error,
    changed: bool,
) -> ExecError {
    ExecError::Target {
        id: m.id.clone(),
        target: path.display().to_string(),
        reason: e.to_string(),
        changed,
    }
}

impl Executor for SkyPilotExecutor {
    fn kind(&self) -> &'static str {
        "skypilot"
    }

    fn preview<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            let (path, _) = self.plan(m)?;
            Ok(self.outcome(&path, path.exists(), false))
        })
    }

    fn apply<'a>(&'a self, m: &'a MigrationRow) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            let (path, task) = self.plan(m)?;
            let existed = path.exists();
            tokio::fs::create_dir_all(&self.output_dir)
                .await
                .map_err(|e| io_error(m, &self.output_dir, e, false))?;
            let partial = path.with_extension("yaml.partial");
            let written = match tokio::fs::write(&partial, task).await {
                Ok(()) => tokio::fs::rename(&partial, &path)
                    .await
                    .map_err(|e| io_error(m, &path, e, false)),
                Err(e) => Err(io_error(m, &partial, e, false)),
            };
            if written.is_err() {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            written?;
            Ok(self.outcome(&path, existed, true))
        })
    }

    fn rollback<'a>(
        &'a self,
        m: &'a MigrationRow,
        _applied: &'a Outcome,
    ) -> BoxFuture<'a, Result<Outcome, ExecError>> {
        Box::pin(async move {
            let path = self.file(m)?;
            let shown = path.display().to_string();
            let existed = match tokio::fs::remove_file(&path).await {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(io_error(m, &path, e, false)),
            };
            Ok(Outcome {
                ok: true,
                spec_before: serde_json::json!({"file": shown, "existed": existed}),
                spec_after: serde_json::json!({"file": shown, "written": false}),
                requests: vec![format!("remove {shown}")],
                message: if existed {
                    format!("removed the SkyPilot task {shown}; a cluster already launched from it keeps running until `sky down`")
                } else {
                    format!("no SkyPilot task {shown} to remove")
                },
            })
        })
    }
}
