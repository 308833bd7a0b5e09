//! `type = "slurm"` and `costmill ingest slurm FILE...`: Slurm accounting, one row per job
//! allocation in `slurm_jobs` (keyed by cluster and job id, so a later record of a job replaces
//! the earlier one and nothing is counted twice).
//!
//! Two ways in:
//! - **Files** (`paths`): output of `sacct --parsable2` with its header line (any `--format`
//!   order; steps are skipped when `-X` was not given) or of `sacct --json` / slurmrestd's
//!   `/slurmdb/…/jobs`, told apart by content; gzip is read too. Every file is read whole on
//!   every run; a running job ends where sacct's elapsed time says.
//! - **Live** (no `paths`): runs `sacct -a -X --parsable2 --noconvert` with an explicit field
//!   list from the checkpoint minus `overlap_minutes` (the first run: `start`, default 7 days
//!   back) to now, with `TZ=UTC`. sacct's `-S`/`-E` select every job that was pending or running
//!   at some time in the window, so jobs that ended in it and jobs still running are both in.
//!   The checkpoint is the latest end among finished jobs; the overlap re-reads (idempotently)
//!   jobs whose records reached slurmdbd late. Running jobs end at the run's time and are replaced
//!   when they finish. `-a` shows every user's jobs only to root, SlurmUser and operators.
//!
//! Times of `--parsable2` output have no zone: costmill reads them as UTC unless `timezone` gives
//! a fixed offset (see [`time`]). Jobs that never started cost nothing and are skipped; the
//! summary counts them ([`SlurmSummary`], logged, and [`Slurm::last_summary`]).
mod job;
mod json;
mod json_job;
mod live;
mod parsable;
pub mod time;
pub mod tres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub use job::SlurmSummary;
use job::{Collector, Context};
pub use live::sacct_args;

use crate::error::Problem;
use crate::record::{Records, SlurmJob, SourceEvent};
use crate::source::Source;
use crate::IngestError;

/// The fields a live run asks sacct for (by name: the header line is kept and read).
pub const SACCT_FORMAT: &str =
    "Cluster,JobID,JobName,Partition,Account,User,AllocTRES,Start,End,State,ElapsedRaw,NodeList";

/// `[[sources]] type = "slurm"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    pub name: String,
    /// The cluster of records that do not say (sacct output without a Cluster column).
    pub cluster: String,
    /// Files of `sacct --parsable2` (with its header) or `sacct --json` output, or directories
    /// of them. Default: none, which means live mode (run sacct).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Live mode: the sacct binary. Default: `sacct` (on PATH).
    #[serde(default = "default_sacct")]
    pub sacct: PathBuf,
    /// Live mode: `SLURM_CONF` for sacct. Default: sacct's own (environment or built-in path).
    #[serde(default)]
    pub slurm_conf: Option<PathBuf>,
    /// Live mode: `-M` (clusters sharing the slurmdbd; `["all"]` for all). Default: sacct's own
    /// cluster.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Live mode: how far before the checkpoint each run starts reading, for records that reach
    /// slurmdbd late. Default: 60.
    #[serde(default = "default_overlap")]
    pub overlap_minutes: u32,
    /// Live mode: how far back the first run reads: `7d`, `36h`, `90m`, or a UTC date
    /// `2026-11-01` / time `2026-11-01T06:00:00`. Default: `7d`.
    #[serde(default = "default_start")]
    pub start: String,
    /// Files: the UTC offset of the times in `--parsable2` output (`+01:00`, `-05:00`). Default:
    /// UTC. (Live runs ask sacct for UTC; JSON times carry no zone.)
    #[serde(default)]
    pub timezone: Option<String>,
    /// Live mode: sacct is stopped after this long. Default: 600.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Problems listed before reading stops. Default: 20.
    #[serde(default = "default_max_errors")]
    pub max_errors: usize,
    /// Cron expression (with seconds) for `costmill serve`. Default: none (run on demand only).
    #[serde(default)]
    pub schedule: Option<String>,
}

fn default_sacct() -> PathBuf {
    PathBuf::from("sacct")
}

fn default_overlap() -> u32 {
    60
}

fn default_start() -> String {
    "7d".into()
}

fn default_timeout() -> u64 {
    600
}

fn default_max_errors() -> usize {
    20
}

impl SlurmConfig {
    /// A live source of `cluster` with the defaults.
    pub fn live(name: &str, cluster: &str) -> SlurmConfig {
        SlurmConfig {
            name: name.into(),
            cluster: cluster.into(),
            paths: Vec::new(),
            sacct: default_sacct(),
            slurm_conf: None,
            clusters: Vec::new(),
            overlap_minutes: default_overlap(),
            start: default_start(),
            timezone: None,
            timeout_seconds: default_timeout(),
            max_errors: default_max_errors(),
            schedule: None,
        }
    }

    /// A source of files of `cluster` with the defaults.
    pub fn files(name: &str, cluster: &str, paths: &[PathBuf]) -> SlurmConfig {
        SlurmConfig {
            paths: paths.to_vec(),
            ..SlurmConfig::live(name, cluster)
        }
    }

    /// Problems as `(key, reason)` (name and schedule are checked by the caller).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.cluster.trim().is_empty() {
            problems.push((
                "cluster".into(),
                "name the cluster (used for records without a Cluster field)".into(),
            ));
        }
        if let Err(e) = time::parse_start(&self.start, 0) {
            problems.push(("start".into(), e));
        }
        if let Some(tz) = &self.timezone {
            if let Err(e) = time::parse_offset(tz) {
                problems.push(("timezone".into(), e));
            }
        }
        if self.timeout_seconds == 0 {
            problems.push(("timeout_seconds".into(), "must be at least 1".into()));
        }
        if let Some(c) = self
            .clusters
            .iter()
            .find(|c| c.is_empty() || c.contains([',', ' ']))
        {
            problems.push((
                "clusters".into(),
                format!("{c:?}: one cluster name per entry, without commas or spaces"),
            ));
        }
        if !self.paths.is_empty() {
            let live_only = [
                ("slurm_conf", self.slurm_conf.is_some()),
                ("clusters", !self.clusters.is_empty()),
            ];
            for (key, set) in live_only {
                if set {
                    problems.push((
                        key.into(),
                        "applies to live mode (no `paths`); with `paths` the files are read".into(),
                    ));
                }
            }
        } else if self.timezone.is_some() {
            problems.push((
                "timezone".into(),
                "applies to `paths` (files); live runs ask sacct for UTC".into(),
            ));
        }
        problems
    }
}

enum Mode {
    Files(Vec<PathBuf>),
    Live,
}

/// The runnable source.
pub struct Slurm {
    config: SlurmConfig,
    mode: Mode,
    summary: Arc<Mutex<SlurmSummary>>,
}

impl Slurm {
    /// Files when the config has `paths`, live otherwise.
    pub fn new(config: SlurmConfig) -> Slurm {
        let mode = if config.paths.is_empty() {
            Mode::Live
        } else {
            Mode::Files(config.paths.clone())
        };
        Slurm {
            config,
            mode,
            summary: Arc::default(),
        }
    }

    /// Exactly these files (none given is an error, not live mode).
    pub fn from_files(name: &str, cluster: &str, paths: &[PathBuf]) -> Slurm {
        Slurm {
            config: SlurmConfig::files(name, cluster, paths),
            mode: Mode::Files(paths.to_vec()),
            summary: Arc::default(),
        }
    }

    /// What the last run read (also logged at its end).
    pub fn last_summary(&self) -> SlurmSummary {
        self.summary.lock().expect("summary lock").clone()
    }
}

impl Source for Slurm {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn read(
        &self,
        checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let config = self.config.clone();
        let files = match &self.mode {
            Mode::Files(paths) => Some(paths.clone()),
            Mode::Live => None,
        };
        let summary = self.summary.clone();
        super::blocking_stream(move |tx| {
            let out = Out::new(tx);
            let result = match files {
                Some(paths) => read_files(&config, &paths, &out),
                None => live::read_live(&config, checkpoint, &out),
            };
            if let Some(s) = result {
                tracing::info!(
                    source = %config.name,
                    finished = s.finished,
                    running = s.running,
                    cancelled_before_start = s.cancelled_before_start,
                    not_started = s.not_started,
                    steps = s.steps,
                    duplicates = s.duplicates,
                    formats = %s.formats.join("; "),
                    "slurm accounting read"
                );
                *summary.lock().expect("summary lock") = s;
            }
        })
    }
}

/// The stream's sending side, and whether anyone still listens.
struct Out<'a> {
    tx: &'a mpsc::Sender<Result<SourceEvent, IngestError>>,
    open: std::cell::Cell<bool>,
}

impl<'a> Out<'a> {
    fn new(tx: &'a mpsc::Sender<Result<SourceEvent, IngestError>>) -> Out<'a> {
        Out {
            tx,
            open: std::cell::Cell::new(true),
        }
    }

    fn send(&self, event: Result<SourceEvent, IngestError>) -> bool {
        if self.open.get() && self.tx.blocking_send(event).is_err() {
            self.open.set(false);
        }
        self.open.get()
    }

    fn jobs(&self, jobs: Vec<SlurmJob>) -> bool {
        self.send(Ok(SourceEvent::Records(Records::SlurmJobs(jobs))))
    }

    fn problem(&self, problem: Problem) -> bool {
        self.send(Ok(SourceEvent::Problem(problem)))
    }
}

/// Files, and the files directly inside directories (sorted; hidden ones left out).
fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    super::files_in(paths, |p| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    })
}

fn read_files(config: &SlurmConfig, paths: &[PathBuf], out: &Out) -> Option<SlurmSummary> {
    if paths.is_empty() {
        out.send(Err(IngestError::NoInput));
        return None;
    }
    let offset = match config.timezone.as_deref().map(time::parse_offset) {
        None => chrono::FixedOffset::east_opt(0).expect("UTC"),
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            out.problem(Problem::whole_file(
                Path::new(&config.name),
                format!("timezone: {e}"),
            ));
            return None;
        }
    };
    let ctx = Context {
        cluster: config.cluster.clone(),
        offset,
        now: chrono::Utc::now().timestamp(),
        running_end_from_elapsed: true,
    };
    let mut collector = Collector::default();
    for path in expand(paths) {
        if let Err(problem) = read_one(&path, &ctx, &mut collector, out) {
            out.problem(problem);
        }
        if !out.open.get() || collector.stopped {
            return None;
        }
    }
    collector.finish(&mut |jobs| out.jobs(jobs));
    Some(collector.summary)
}

/// One file, by its content: gzip, JSON (`{` or `[` first) or `--parsable2` text.
fn read_one(
    path: &Path,
    ctx: &Context,
    collector: &mut Collector,
    out: &Out,
) -> Result<(), Problem> {
    let file = std::fs::File::open(path)
        .map_err(|e| Problem::whole_file(path, format!("cannot open: {e}")))?;
    let mut reader = BufReader::new(file);
    let gzip = reader
        .fill_buf()
        .map_err(|e| Problem::whole_file(path, format!("cannot read: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    };
    read_input(input, path, ctx, collector, out)
}

fn read_input(
    mut input: Box<dyn BufRead + '_>,
    origin: &Path,
    ctx: &Context,
    collector: &mut Collector,
    out: &Out,
) -> Result<(), Problem> {
    let first = loop {
        let buf = input
            .fill_buf()
            .map_err(|e| Problem::whole_file(origin, format!("cannot read: {e}")))?;
        if buf.is_empty() {
            break None;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    };
    let mut emit = |jobs| out.jobs(jobs);
    let mut report = |p| out.problem(p);
    match first {
        None => Err(Problem::whole_file(
            origin,
            "empty: expected sacct --parsable2 or --json output",
        )),
        Some(b'{') | Some(b'[') => {
            json::read(input, origin, ctx, collector, &mut emit, &mut report)
        }
        Some(_) => {
            collector.summary.formats.push("sacct --parsable2".into());
            parsable::read(input, origin, ctx, collector, &mut emit, &mut report)
        }
    }
}
