//! Live mode: run sacct for the jobs since the checkpoint (minus the overlap) and read its
//! `--parsable2` output as it comes, stopping it when it hangs or nobody listens any more.
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::job::{Collector, Context};
use super::{read_input, time, Out, SlurmConfig, SlurmSummary, SACCT_FORMAT};
use crate::error::Problem;
use crate::record::SourceEvent;

/// The sacct arguments of a live run reading `from..to` (Unix seconds).
pub fn sacct_args(config: &SlurmConfig, from: i64, to: i64) -> Vec<String> {
    // -a -X: every user's jobs, allocations only (steps never counted twice). No --duplicates:
    // a requeued job shows its latest record. --noconvert: memory as recorded, not rounded.
    let mut args: Vec<String> = ["--allusers", "--allocations", "--parsable2", "--noconvert"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("--format={SACCT_FORMAT}"));
    args.push(format!("--starttime={}", time::format_utc(from)));
    args.push(format!("--endtime={}", time::format_utc(to)));
    if !config.clusters.is_empty() {
        args.push(format!("--clusters={}", config.clusters.join(",")));
    }
    args
}

pub(super) fn read_live(
    config: &SlurmConfig,
    checkpoint: Option<String>,
    out: &Out,
) -> Option<SlurmSummary> {
    let origin = PathBuf::from("sacct");
    let now = chrono::Utc::now().timestamp();
    let previous = checkpoint.as_deref().and_then(time::parse_checkpoint);
    let from = match previous {
        Some(c) => c - i64::from(config.overlap_minutes) * 60,
        None => match time::parse_start(&config.start, now) {
            Ok(t) => t,
            Err(e) => {
                out.problem(Problem::whole_file(&origin, format!("start: {e}")));
                return None;
            }
        },
    };
    let args = sacct_args(config, from, now);
    tracing::debug!(sacct = %config.sacct.display(), ?args, "running sacct");
    let mut command = Command::new(&config.sacct);
    command
        .args(&args)
        .env("TZ", "UTC")
        .env("SLURM_TIME_FORMAT", "standard")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(conf) = &config.slurm_conf {
        command.env("SLURM_CONF", conf);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            out.problem(Problem::whole_file(
                &origin,
                format!("cannot run {}: {e}", config.sacct.display()),
            ));
            return None;
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.by_ref().take(64 << 10).read_to_string(&mut text);
        text
    });
    let child = Arc::new(Mutex::new(child));
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let timeout = Duration::from_secs(config.timeout_seconds);
    let watchdog = {
        let child = child.clone();
        std::thread::spawn(move || {
            let timed_out = matches!(
                wait.recv_timeout(timeout),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                let _ = child.lock().expect("child lock").kill();
            }
            timed_out
        })
    };
    let ctx = Context {
        cluster: config.cluster.clone(),
        offset: chrono::FixedOffset::east_opt(0).expect("UTC"),
        now,
        running_end_from_elapsed: false,
    };
    let mut collector = Collector::default();
    let read = read_input(
        Box::new(BufReader::new(stdout)),
        &origin,
        &ctx,
        &mut collector,
        out,
    );
    if !out.open.get() || collector.stopped {
        let _ = child.lock().expect("child lock").kill();
    }
    let _ = done.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let status = child.lock().expect("child lock").wait();
    let stderr = errors.join().unwrap_or_default();
    if !out.open.get() || collector.stopped {
        return None;
    }
    let failure = match status {
        _ if timed_out => Some(format!(
            "sacct did not finish within {} s (timeout_seconds); is slurmdbd reachable?",
            config.timeout_seconds
        )),
        Ok(s) if !s.success() => Some(format!(
            "sacct {} failed ({s}): {}",
            args.join(" "),
            stderr.trim()
        )),
        Err(e) => Some(format!("sacct: {e}")),
        Ok(_) => None,
    };
    if let Some(message) = failure {
        out.problem(Problem::whole_file(&origin, message));
        return None;
    }
    if let Err(problem) = read {
        out.problem(problem);
        return None;
    }
    if !stderr.trim().is_empty() {
        tracing::warn!(stderr = %stderr.trim(), "sacct wrote to stderr");
    }
    collector.finish(&mut |jobs| out.jobs(jobs));
    let latest = match (previous, collector.summary.latest_end) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let Some(latest) = latest {
        out.send(Ok(SourceEvent::Checkpoint(time::format_checkpoint(latest))));
    }
    Some(collector.summary)
}
