//! Running a source: its stream goes to the sinks (opened per record kind as records arrive);
//! when the stream ends without a problem, every sink's staging is checked and committed, then
//! the source's checkpoint is saved. On a problem, an error or a signal, every batch is aborted
//! and the live tables are untouched.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use queries::commit::{BatchSpec, CommitReport, Swap};
use queries::{q, Store};
use tokio_util::sync::CancellationToken;

use crate::progress::{CommitProgress, NoProgress, Progress};
use crate::record::{MetricRecord, NodeWindow, PodWindow, Records, SlurmJob, SourceEvent};
use crate::sink::usage::{UsageRecord, UsageSink};
use crate::sink::{FocusSink, ProblemLog, Sink, Staged};
use crate::source::Source;
use crate::IngestError;

/// How a run treats its records.
#[derive(Clone)]
pub struct RunOptions {
    /// FOCUS: refuse spec deviations instead of counting them.
    pub strict: bool,
    /// Problems listed before reading stops.
    pub max_errors: usize,
    /// Ctrl-C / SIGTERM: the run stops and aborts; a commit under way finishes first.
    pub cancel: CancellationToken,
    pub progress: Arc<dyn Progress>,
    /// How long to wait for another writer of the same partitions.
    pub lease_wait: Duration,
    /// Leave saving the checkpoint to the caller ([`save_checkpoint`]), e.g. until the changed
    /// days are allocated: a run whose follow-up failed is then read again on the next run.
    pub defer_checkpoint: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            strict: false,
            max_errors: 20,
            cancel: CancellationToken::new(),
            progress: Arc::new(NoProgress),
            lease_wait: Duration::from_secs(30),
            defer_checkpoint: false,
        }
    }
}

/// What a run landed.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub source: String,
    /// Per sink: what was staged and how it was committed.
    pub commits: Vec<(Staged, CommitReport)>,
    /// First and one-past-last day the committed rows touch (for allocation).
    pub days: Option<(u16, u16)>,
    pub checkpoint: Option<String>,
    pub elapsed: Duration,
}

impl RunReport {
    pub fn rows(&self) -> u64 {
        self.commits.iter().map(|(s, _)| s.rows).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Focus,
    Metrics,
    K8sNodes,
    K8sPods,
    SlurmJobs,
}

fn kind(records: &Records) -> Kind {
    match records {
        Records::Focus(_) => Kind::Focus,
        Records::Metrics(_) => Kind::Metrics,
        Records::K8sNodes(_) => Kind::K8sNodes,
        Records::K8sPods(_) => Kind::K8sPods,
        Records::SlurmJobs(_) => Kind::SlurmJobs,
    }
}

struct Run<'a> {
    store: &'a Store,
    source: String,
    options: &'a RunOptions,
    problems: Arc<ProblemLog>,
    sinks: BTreeMap<Kind, Box<dyn Sink>>,
}

impl Run<'_> {
    fn spec(&self, kind: &'static str, table: &'static str, swap: Swap) -> BatchSpec {
        BatchSpec::new(kind, &self.source, table, swap)
            .with_cancel(self.options.cancel.clone())
            .with_lease_wait(self.options.lease_wait)
            .with_observer(Arc::new(CommitProgress {
                table,
                progress: self.options.progress.clone(),
            }))
    }

    async fn usage_sink<R: UsageRecord>(&self) -> Result<Box<dyn Sink>, IngestError> {
        let batch = self
            .store
            .begin_batch(self.spec("usage", R::TABLE, Swap::Attach))
            .await?;
        Ok(Box::new(
            UsageSink::<R>::new(
                self.store,
                batch,
                &self.source,
                self.problems.clone(),
                self.options.progress.clone(),
            )
            .await?,
        ))
    }

    async fn sink(&mut self, kind: Kind) -> Result<&mut Box<dyn Sink>, IngestError> {
        if !self.sinks.contains_key(&kind) {
            let sink: Box<dyn Sink> = match kind {
                Kind::Focus => {
                    let batch = self
                        .store
                        .begin_batch(self.spec("ingest", "focus_costs", Swap::Replace))
                        .await?;
                    Box::new(FocusSink::new(
                        self.store,
                        batch,
                        &self.source,
                        self.options.strict,
                        self.problems.clone(),
                        self.options.progress.clone(),
                    ))
                }
                Kind::Metrics => self.usage_sink::<MetricRecord>().await?,
                Kind::K8sNodes => self.usage_sink::<NodeWindow>().await?,
                Kind::K8sPods => self.usage_sink::<PodWindow>().await?,
                Kind::SlurmJobs => self.usage_sink::<SlurmJob>().await?,
            };
            self.sinks.insert(kind.clone(), sink);
        }
        Ok(self.sinks.get_mut(&kind).expect("just opened"))
    }

    /// Read the stream through; the last checkpoint it yielded.
    async fn read(
        &mut self,
        source: &dyn Source,
        checkpoint: Option<String>,
    ) -> Result<Option<String>, IngestError> {
        let mut stream = source.read(checkpoint);
        let mut last = None;
        loop {
            let event = tokio::select! {
                _ = self.options.cancel.cancelled() => return Err(IngestError::Cancelled),
                event = stream.next() => event,
            };
            let Some(event) = event else { break };
            match event? {
                SourceEvent::Records(records) => {
                    self.sink(kind(&records)).await?.write(records).await?;
                }
                SourceEvent::Problem(problem) => self.problems.push(problem),
                SourceEvent::Checkpoint(c) => last = Some(c),
            }
            if self.problems.is_full() {
                break;
            }
        }
        Ok(last)
    }

    async fn abort_all(self, reason: &str) {
        for (_, sink) in self.sinks {
            if let Err(e) = sink.into_batch().abort(reason).await {
                tracing::warn!(error = %e, "could not clean up an aborted batch");
            }
        }
    }
}

/// Run a source once: read, stage, check, commit, save the checkpoint.
pub async fn run_source(
    store: &Store,
    source: &dyn Source,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    let started = Instant::now();
    let name = source.name().to_string();
    let checkpoint = load_checkpoint(store, &name).await?;
    let mut run = Run {
        store,
        source: name.clone(),
        options,
        problems: Arc::new(ProblemLog::new(options.max_errors)),
        sinks: BTreeMap::new(),
    };
    let last_checkpoint = match run.read(source, checkpoint).await {
        Ok(c) => c,
        Err(e) => {
            run.abort_all(&e.to_string()).await;
            return Err(e);
        }
    };
    // Every sink finishes loading (its checks run on staging) before anything is swapped.
    let mut staged = Vec::new();
    let mut failed = None;
    for sink in run.sinks.values_mut() {
        match sink.finish().await {
            Ok(s) => staged.push(s),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        run.abort_all(&e.to_string()).await;
        return Err(e);
    }
    let (problems, stopped_early) = run.problems.take();
    if !problems.is_empty() {
        run.abort_all("the input was refused").await;
        return Err(IngestError::Invalid {
            problems,
            stopped_early,
        });
    }
    // Each table's batch is atomic. A run feeding several tables commits them one after the
    // other; if a later commit fails, the earlier tables keep their (idempotent) rows and the
    // checkpoint is not saved, so the next run lands everything again.
    let mut commits = Vec::new();
    let mut days: Option<(u16, u16)> = None;
    let mut sinks = std::mem::take(&mut run.sinks).into_values();
    for (sink, staged) in sinks.by_ref().zip(staged) {
        match sink.into_batch().commit(staged.totals.clone()).await {
            Ok(report) => {
                if let Some((a, b)) = staged.days {
                    days = Some(days.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                }
                commits.push((staged, report));
            }
            Err(e) => {
                for rest in sinks {
                    let _ = rest.into_batch().abort(&e.to_string()).await;
                }
                return Err(e.into());
            }
        }
    }
    if let Some(checkpoint) = last_checkpoint
        .as_ref()
        .filter(|_| !options.defer_checkpoint)
    {
        save_checkpoint(store, &name, checkpoint).await?;
    }
    Ok(RunReport {
        source: name,
        commits,
        days,
        checkpoint: last_checkpoint,
        elapsed: started.elapsed(),
    })
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct CheckpointRow {
    checkpoint: String,
}

#[derive(Debug, clickhouse::Row, serde::Serialize)]
struct CheckpointWrite {
    source: String,
    checkpoint: String,
    updated_at: u32,
    version: u64,
}

/// The checkpoint a source's last committed run left.
pub async fn load_checkpoint(store: &Store, source: &str) -> Result<Option<String>, IngestError> {
    let rows: Vec<CheckpointRow> = store
        .fetch_all(&q::checkpoint_get().bind_str("source", source))
        .await?;
    Ok(rows.into_iter().next().map(|r| r.checkpoint))
}

/// Remember where a source is; its next run starts there.
pub async fn save_checkpoint(
    store: &Store,
    source: &str,
    checkpoint: &str,
) -> Result<(), IngestError> {
    let mut insert = store
        .insert::<CheckpointWrite>("source_checkpoints")
        .await?;
    let now = queries::lease::now_ms();
    insert
        .write(&CheckpointWrite {
            source: source.into(),
            checkpoint: checkpoint.into(),
            updated_at: (now / 1000) as u32,
            version: now,
        })
        .await
        .map_err(IngestError::Insert)?;
    insert.end().await.map_err(IngestError::Insert)
}

/// `costmill ingest focus PATH...`: FOCUS files or directories as one batch of source `source`.
pub async fn ingest_focus(
    store: &Store,
    paths: &[std::path::PathBuf],
    source: &str,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    let files = crate::sources::focus_files::FocusFiles {
        name: source.to_string(),
        paths: paths.to_vec(),
    };
    run_once(store, &files, options).await
}

/// `costmill ingest metrics FILE...`: per-service daily metrics.
pub async fn ingest_metrics(
    store: &Store,
    paths: &[std::path::PathBuf],
    source: &str,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    let files = crate::sources::metrics_file::MetricsFile {
        name: source.to_string(),
        paths: paths.to_vec(),
    };
    run_once(store, &files, options).await
}

/// A run on demand: the input is read whole, whatever an earlier run's checkpoint says.
async fn run_once(
    store: &Store,
    source: &dyn Source,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    struct Whole<'a>(&'a dyn Source);
    impl Source for Whole<'_> {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn read(
            &self,
            _checkpoint: Option<String>,
        ) -> futures::stream::BoxStream<'static, Result<SourceEvent, IngestError>> {
            self.0.read(None)
        }
    }
    run_source(store, &Whole(source), options).await
}

/// `costmill ingest slurm FILE...`: Slurm accounting from files of `sacct --parsable2` (with
/// its header) or `sacct --json` output, read whole; `cluster_default` names the cluster of
/// records without a Cluster field. Times without a zone are read as UTC.
pub async fn ingest_slurm(
    store: &Store,
    paths: &[std::path::PathBuf],
    cluster_default: &str,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    let files = crate::sources::slurm::Slurm::from_files("slurm", cluster_default, paths);
    run_once(store, &files, options).await
}

/// `costmill ingest kubernetes DUMP...`: `kubectl get nodes,pods -A -o json` dumps (and optional
/// PodMetrics, ReplicaSet and Job lists), files or directories, of cluster `cluster`, folded
/// into hourly windows. `at` (Unix seconds) is the time of every file; without it each file's
/// modified time. The sampling interval is inferred (see
/// [`crate::sources::kubernetes::dumps`]); [`ingest_kubernetes_dumps`] sets it.
pub async fn ingest_kubernetes(
    store: &Store,
    paths: &[std::path::PathBuf],
    cluster: &str,
    at: Option<u32>,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    let mut dumps = crate::sources::kubernetes::KubernetesDumps::new(cluster, paths);
    dumps.at = at;
    run_once(store, &dumps, options).await
}

/// Kubernetes dumps with every setting (interval, longest gap bridged) spelled out.
pub async fn ingest_kubernetes_dumps(
    store: &Store,
    dumps: &crate::sources::kubernetes::KubernetesDumps,
    options: &RunOptions,
) -> Result<RunReport, IngestError> {
    run_once(store, dumps, options).await
}
