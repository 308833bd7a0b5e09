//! The Slurm commands (`squeue`, `scontrol`) of one cluster: run without a shell, with a
//! timeout, and their output read.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::spec::{valid_job_id, valid_partition_list, SlurmClusterConfig, SlurmJob, Workload};
use crate::execute::ExecError;

/// The fields read from `squeue -O`, in this order.
const SQUEUE_FIELDS: &str = "JobArrayID:|,Partition:|,Account:|,UserName:|,Requeue:|,State:|";

/// A failed command.
#[derive(Debug)]
pub(super) struct CommandError {
    program: &'static str,
    pub(super) reason: String,
    /// It was stopped without an answer: it may have done its work.
    timed_out: bool,
}

impl CommandError {
    pub(super) fn into_exec(
        self,
        cluster: &Cluster<'_>,
        changed: bool,
        moved: &[&str],
    ) -> ExecError {
        let mut reason = self.reason;
        if !moved.is_empty() {
            reason.push_str(&format!("; moved before the failure: {}", moved.join(", ")));
        }
        ExecError::Target {
            id: cluster.id.to_string(),
            target: cluster.name(self.program),
            reason,
            changed: changed || self.timed_out,
        }
    }
}

/// The commands of one cluster, for one migration.
pub(super) struct Cluster<'a> {
    pub(super) config: &'a SlurmClusterConfig,
    pub(super) id: &'a str,
    pub(super) timeout: Duration,
}

impl Cluster<'_> {
    pub(super) fn name(&self, program: &str) -> String {
        format!("Slurm cluster `{}` ({program})", self.config.name)
    }

    /// Run `program args` (no shell); its stdout, or why it failed (with its stderr).
    pub(super) async fn run(
        &self,
        program: &'static str,
        args: &[String],
    ) -> Result<String, CommandError> {
        let path = match &self.config.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut cmd = tokio::process::Command::new(&path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Environment that would change what squeue lists or prints.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("SQUEUE_") || key.starts_with("SCONTROL_") || key == "SLURM_CLUSTERS"
            {
                cmd.env_remove(key.as_ref());
            }
        }
        if let Some(conf) = &self.config.slurm_conf {
            cmd.env("SLURM_CONF", conf);
        }
        let fail = |reason: String| CommandError {
            program,
            reason,
            timed_out: false,
        };
        tracing::debug!(program = %path.display(), ?args, "slurm command");
        let output = match tokio::time::timeout(self.timeout, cmd.output()).await {
            Err(_) => {
                return Err(CommandError {
                    timed_out: true,
                    ..fail(format!("no answer within {:?}", self.timeout))
                })
            }
            Ok(Err(e)) => return Err(fail(format!("cannot run {}: {e}", path.display()))),
            Ok(Ok(output)) => output,
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        // scontrol says some errors ("Partition P not found") on stdout.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        Err(fail(format!(
            "`{program} {}` exited with {}: {said}",
            args.join(" "),
            output.status,
        )))
    }

    /// The pending jobs of the workload.
    pub(super) async fn pending(&self, w: &Workload) -> Result<Vec<SlurmJob>, ExecError> {
        let mut args: Vec<String> = ["-h", "-r", "-t", "PD", "-p", &w.partition]
            .map(String::from)
            .to_vec();
        if let Some(account) = &w.account {
            args.extend(["-A".to_string(), account.clone()]);
        }
        args.extend(["-O".to_string(), SQUEUE_FIELDS.to_string()]);
        let out = self
            .run("squeue", &args)
            .await
            .map_err(|e| e.into_exec(self, false, &[]))?;
        let jobs = parse_squeue(&out).map_err(|reason| ExecError::Target {
            id: self.id.to_string(),
            target: self.name("squeue"),
            reason,
            changed: false,
        })?;
        // squeue filters already; the state and account filters are checked again here.
        Ok(jobs
            .into_iter()
            .filter(|j| j.state == "PENDING")
            .filter(|j| (w.account.as_ref()).is_none_or(|a| a.eq_ignore_ascii_case(&j.account)))
            .collect())
    }

    /// The state of a partition (`UP`, `DOWN`, `DRAIN`, `INACTIVE`); None: no such partition.
    pub(super) async fn partition_state(&self, name: &str) -> Result<Option<String>, ExecError> {
        let args = ["show", "partition", name, "-o"].map(String::from);
        let out = match self.run("scontrol", &args).await {
            Ok(out) => out,
            Err(e) if e.reason.contains("not found") => return Ok(None),
            Err(e) => return Err(e.into_exec(self, false, &[])),
        };
        Ok(out
            .split_whitespace()
            .find_map(|t| t.strip_prefix("State="))
            .map(String::from))
    }

    /// The current state of the given jobs, by id; ids Slurm no longer knows are missing.
    pub(super) async fn states(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, SlurmJob>, CommandError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let args = [
            "-h".to_string(),
            "-r".to_string(),
            "-t".to_string(),
            "all".to_string(),
            "-j".to_string(),
            ids.join(","),
            "-O".to_string(),
            SQUEUE_FIELDS.to_string(),
        ];
        let out = match self.run("squeue", &args).await {
            Ok(out) => out,
            // One id that Slurm forgot: squeue fails instead of listing nothing.
            Err(e) if e.reason.contains("Invalid job id specified") => String::new(),
            Err(e) => return Err(e),
        };
        let jobs = parse_squeue(&out).map_err(|reason| CommandError {
            program: "squeue",
            reason,
            timed_out: false,
        })?;
        Ok(jobs.into_iter().map(|j| (j.job_id.clone(), j)).collect())
    }
}

/// `squeue -h -O SQUEUE_FIELDS` output: one `|`-terminated record per line.
pub(super) fn parse_squeue(out: &str) -> Result<Vec<SlurmJob>, String> {
    let mut jobs = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [job_id, partition, account, user, requeue, state, ..] = fields[..] else {
            return Err(format!("unexpected squeue line `{line}`"));
        };
        if !valid_job_id(job_id) || !valid_partition_list(partition) {
            return Err(format!(
                "unexpected job id or partition in squeue line `{line}`"
            ));
        }
        jobs.push(SlurmJob {
            job_id: job_id.into(),
            partition: partition.into(),
            account: account.into(),
            user: user.into(),
            requeue: requeue == "1",
            state: state.into(),
        });
    }
    Ok(jobs)
}
