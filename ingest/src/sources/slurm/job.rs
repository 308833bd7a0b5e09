//! From one accounting record (either output format) to a [`SlurmJob`], or the reason it costs
//! nothing; and the records of one run, deduplicated and batched.
//!
//! - A job that never started (pending, held, cancelled before start: no Start or no AllocTRES;
//!   a job cancelled while pending may have Start = End = its cancellation) costs nothing and is
//!   skipped (counted in the summary).
//! - A running job (no End) is recorded up to `running_end` (the run's time, or what sacct's
//!   elapsed time says for files) with its current state; the row is replaced when the job ends,
//!   since rows are keyed by (cluster, job id).
//! - Steps (`123.batch`, `123.0`, `123.extern`) are part of their job's allocation and skipped.
//! - Within one run a job is landed once: a finished record wins over a running one, the first
//!   finished record over later ones (the same job in two overlapping files).
use std::collections::{HashMap, HashSet};

use queries::Dec18;
use rust_decimal::Decimal;

use super::tres::Tres;
use crate::record::SlurmJob;

/// One accounting record as read, before it is judged.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawJob {
    pub cluster: Option<String>,
    pub job_id: String,
    pub job_name: String,
    pub partition: String,
    pub account: String,
    pub user: String,
    pub tres: Tres,
    /// Unix seconds; `None`: never started.
    pub start: Option<i64>,
    /// Unix seconds; `None`: still running (or never started).
    pub end: Option<i64>,
    /// Seconds sacct counted (for a running job: up to when sacct ran).
    pub elapsed: Option<i64>,
    /// The base state (`CANCELLED`, not `CANCELLED by 0`).
    pub state: String,
}

/// What the records of one run were, for the log and the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlurmSummary {
    /// Jobs landed that had ended.
    pub finished: u64,
    /// Jobs landed still running (their rows are replaced when they end).
    pub running: u64,
    /// Jobs cancelled before they started: no allocation, no cost.
    pub cancelled_before_start: u64,
    /// Other jobs that had not started (pending, held).
    pub not_started: u64,
    /// Step records (`123.batch`, …) skipped: their job's allocation covers them.
    pub steps: u64,
    /// Records of a job already read in this run.
    pub duplicates: u64,
    /// The latest end among finished jobs (Unix seconds).
    pub latest_end: Option<i64>,
    /// The formats read, e.g. `sacct --parsable2`, `sacct --json (data_parser/v0.0.41, Slurm 24.05.3)`.
    pub formats: Vec<String>,
}

/// How records are completed.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// For records without a cluster.
    pub cluster: String,
    pub offset: chrono::FixedOffset,
    /// Unix seconds: the end of running jobs (live), or the fallback when no elapsed time is given.
    pub now: i64,
    /// Files: a running job ends at start + elapsed (when sacct looked) rather than `now`.
    pub running_end_from_elapsed: bool,
}

// One at a time, moved straight into a batch: boxing the job would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Judged {
    Job { job: SlurmJob, finished: bool },
    CancelledBeforeStart,
    NotStarted,
}

/// `CANCELLED by 0` → `CANCELLED`; `Err` when it is not a state word.
pub(crate) fn base_state(s: &str) -> Result<String, String> {
    let word = s.split_whitespace().next().unwrap_or("");
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(format!(
            "expected a job state such as COMPLETED, RUNNING or CANCELLED, found {s:?}"
        ));
    }
    Ok(word.to_string())
}

/// A step of a job (`123.batch`, `123_4.0`, `123+1.extern`), not an allocation.
pub(crate) fn is_step(job_id: &str) -> bool {
    job_id.contains('.')
}

fn seconds(t: i64, what: &str) -> Result<u32, String> {
    u32::try_from(t).map_err(|_| format!("{what} {t} is outside 1970..2106"))
}

fn dec(d: Decimal, what: &str) -> Result<Dec18, String> {
    Dec18::from_decimal_exact(d).ok_or_else(|| format!("{what} {d} has too many digits"))
}

/// Judge one allocation record. `Err` says what is wrong with it.
pub(crate) fn judge(raw: RawJob, ctx: &Context) -> Result<Judged, String> {
    // No start, or no allocation: a job cancelled while pending gets Start = End = the time of
    // its cancellation from Slurm 22.05, but never any AllocTRES.
    let start = raw.start.filter(|s| *s > 0 && !raw.tres.is_empty());
    let Some(start) = start else {
        return Ok(if raw.state == "CANCELLED" {
            Judged::CancelledBeforeStart
        } else {
            Judged::NotStarted
        });
    };
    if raw.state == "PENDING" {
        return Ok(Judged::NotStarted);
    }
    let (end, finished) = match raw.end.filter(|e| *e > 0) {
        Some(end) if end < start => {
            return Err(format!(
                "the job ends ({}) before it starts ({})",
                super::time::format_utc(end),
                super::time::format_utc(start)
            ))
        }
        Some(end) => (end, true),
        None => {
            let end = match raw.elapsed.filter(|_| ctx.running_end_from_elapsed) {
                Some(elapsed) => start + elapsed.max(0),
                None => ctx.now,
            };
            (end.max(start), false)
        }
    };
    let job = SlurmJob {
        cluster: raw
            .cluster
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| ctx.cluster.clone()),
        job_id: raw.job_id,
        job_name: raw.job_name,
        partition: raw.partition,
        account: raw.account,
        user: raw.user,
        alloc_cpus: dec(raw.tres.cpus, "cpu")?,
        alloc_memory_mb: dec(raw.tres.memory_mb, "mem")?,
        alloc_gpus: dec(raw.tres.gpus(), "gres/gpu")?,
        start: seconds(start, "Start")?,
        end: seconds(end, "End")?,
        state: raw.state,
    };
    Ok(Judged::Job { job, finished })
}

/// Records per batch sent to the sink.
pub(crate) const CHUNK: usize = 10_000;

fn key(job: &SlurmJob) -> u64 {
    let mut bytes = Vec::with_capacity(job.cluster.len() + job.job_id.len() + 1);
    bytes.extend_from_slice(job.cluster.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(job.job_id.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The jobs of one run: finished ones go out in chunks as they come; running ones wait for the
/// end of the run (a later record of the same job may say it finished).
#[derive(Default)]
pub(crate) struct Collector {
    chunk: Vec<SlurmJob>,
    finished: HashSet<u64>,
    running: HashMap<u64, SlurmJob>,
    running_order: Vec<u64>,
    pub summary: SlurmSummary,
    /// `emit` said nobody listens any more: stop reading.
    pub stopped: bool,
}

impl Collector {
    pub fn step(&mut self) {
        self.summary.steps += 1;
    }

    /// Take one judged record; a full chunk is handed to `emit`.
    pub fn push(&mut self, judged: Judged, emit: &mut dyn FnMut(Vec<SlurmJob>) -> bool) {
        match judged {
            Judged::CancelledBeforeStart => self.summary.cancelled_before_start += 1,
            Judged::NotStarted => self.summary.not_started += 1,
            Judged::Job {
                job,
                finished: true,
            } => {
                if !self.finished.insert(key(&job)) {
                    self.summary.duplicates += 1;
                    return;
                }
                self.summary.finished += 1;
                let end = i64::from(job.end);
                self.summary.latest_end = Some(self.summary.latest_end.map_or(end, |l| l.max(end)));
                self.chunk.push(job);
                if self.chunk.len() >= CHUNK {
                    self.stopped |= !emit(std::mem::take(&mut self.chunk));
                }
            }
            Judged::Job {
                job,
                finished: false,
            } => {
                let k = key(&job);
                if self.finished.contains(&k) {
                    self.summary.duplicates += 1;
                    return;
                }
                match self.running.get_mut(&k) {
                    Some(seen) => {
                        self.summary.duplicates += 1;
                        if job.end > seen.end {
                            *seen = job;
                        }
                    }
                    None => {
                        self.running_order.push(k);
                        self.running.insert(k, job);
                    }
                }
            }
        }
    }

    /// The rest: the last finished jobs and the running jobs that did not finish in this run.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Vec<SlurmJob>) -> bool) {
        for k in std::mem::take(&mut self.running_order) {
            let Some(job) = self.running.remove(&k) else {
                continue;
            };
            if self.finished.contains(&k) {
                self.summary.duplicates += 1;
                continue;
            }
            self.summary.running += 1;
            self.chunk.push(job);
            if self.chunk.len() >= CHUNK {
                self.stopped |= !emit(std::mem::take(&mut self.chunk));
            }
        }
        if !self.chunk.is_empty() {
            self.stopped |= !emit(std::mem::take(&mut self.chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            cluster: "default".into(),
            offset: chrono::FixedOffset::east_opt(0).unwrap(),
            now: 10_000,
            running_end_from_elapsed: false,
        }
    }

    fn raw(id: &str, start: Option<i64>, end: Option<i64>, state: &str) -> RawJob {
        RawJob {
            job_id: id.into(),
            start,
            end,
            elapsed: Some(50),
            state: state.into(),
            tres: super::super::tres::parse_tres("cpu=2,mem=1G,gres/gpu:a100=1").unwrap(),
            ..RawJob::default()
        }
    }

    fn job(judged: Judged) -> (SlurmJob, bool) {
        match judged {
            Judged::Job { job, finished } => (job, finished),
            _ => panic!("not a job"),
        }
    }

    #[test]
    fn states_and_steps() {
        assert_eq!(base_state("CANCELLED by 0").unwrap(), "CANCELLED");
        assert_eq!(base_state("OUT_OF_MEMORY").unwrap(), "OUT_OF_MEMORY");
        assert!(base_state("completed").is_err());
        assert!(base_state("").is_err());
        assert!(is_step("123.batch") && is_step("123_4.0") && is_step("7+1.extern"));
        assert!(!is_step("123") && !is_step("123_4") && !is_step("7+1"));
    }

    #[test]
    fn judging() {
        let c = ctx();
        let (j, finished) = job(judge(raw("1", Some(100), Some(400), "COMPLETED"), &c).unwrap());
        assert!(finished);
        assert_eq!((j.start, j.end, j.cluster.as_str()), (100, 400, "default"));
        assert_eq!(j.alloc_cpus, Dec18(2_000_000_000_000_000_000));
        assert_eq!(j.alloc_memory_mb, Dec18(1024 * 1_000_000_000_000_000_000));
        assert_eq!(j.alloc_gpus, Dec18(1_000_000_000_000_000_000));
        let (j, finished) = job(judge(raw("2", Some(100), None, "RUNNING"), &c).unwrap());
        assert!(!finished);
        assert_eq!(j.end, 10_000, "a running job ends at the run's time");
        let files = Context {
            running_end_from_elapsed: true,
            ..ctx()
        };
        assert_eq!(
            job(judge(raw("2", Some(100), None, "RUNNING"), &files).unwrap())
                .0
                .end,
            150
        );
        assert!(matches!(
            judge(raw("3", None, Some(400), "CANCELLED"), &c).unwrap(),
            Judged::CancelledBeforeStart
        ));
        assert!(matches!(
            judge(raw("4", None, None, "PENDING"), &c).unwrap(),
            Judged::NotStarted
        ));
        let cancelled_while_pending = RawJob {
            tres: Tres::default(),
            ..raw("6", Some(300), Some(300), "CANCELLED")
        };
        assert!(matches!(
            judge(cancelled_while_pending, &c).unwrap(),
            Judged::CancelledBeforeStart
        ));
        assert!(matches!(
            judge(raw("4", Some(0), Some(0), "PENDING"), &c).unwrap(),
            Judged::NotStarted
        ));
        assert!(judge(raw("5", Some(400), Some(100), "COMPLETED"), &c)
            .unwrap_err()
            .contains("before"));
    }

    #[test]
    fn a_finished_record_wins_over_a_running_one() {
        let c = ctx();
        let mut out = Vec::new();
        let mut emit = |v: Vec<SlurmJob>| {
            out.extend(v);
            true
        };
        let mut col = Collector::default();
        col.push(
            judge(raw("1", Some(100), None, "RUNNING"), &c).unwrap(),
            &mut emit,
        );
        col.push(
            judge(raw("2", Some(100), None, "RUNNING"), &c).unwrap(),
            &mut emit,
        );
        col.push(
            judge(raw("1", Some(100), Some(900), "COMPLETED"), &c).unwrap(),
            &mut emit,
        );
        col.push(
            judge(raw("1", Some(100), Some(950), "COMPLETED"), &c).unwrap(),
            &mut emit,
        );
        col.push(
            judge(raw("3", None, Some(400), "CANCELLED"), &c).unwrap(),
            &mut emit,
        );
        col.step();
        col.finish(&mut emit);
        let summary = col.summary.clone();
        let ids: Vec<_> = out.iter().map(|j| (j.job_id.as_str(), j.end)).collect();
        assert_eq!(ids, [("1", 900), ("2", 10_000)]);
        assert_eq!(
            (
                summary.finished,
                summary.running,
                summary.duplicates,
                summary.cancelled_before_start
            ),
            (1, 1, 2, 1)
        );
        assert_eq!((summary.steps, summary.latest_end), (1, Some(900)));
    }
}
