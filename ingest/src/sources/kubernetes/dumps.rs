//! `costmill ingest kubernetes DUMP.json…`: `kubectl get nodes,pods -A -o json` output (one
//! mixed `List`, or separate node and pod lists), optionally with PodMetrics lists
//! (`kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods`) and ReplicaSet/Job lists (for exact
//! owner chains); `.json` or `.json.gz`, files or directories of them.
//!
//! Each file is a sighting at its time: `at` when the caller gives one (all files then form one
//! sample), else the file's modified time. Files within [`SAMPLE_SPREAD_SECS`] of the first file
//! of a sample join it (the node, pod and metrics files of one moment, written one after the
//! other), and the sample is at that first time. The samples fold into hourly windows (see
//! [`super::window`]) with `interval_secs` when given, else the median gap between the samples
//! (the lower one of an even count), else [`DEFAULT_INTERVAL_SECS`] for a single sample.
//! Dumps landed one per run should pass the interval at which they are taken.
//!
//! Landing the same dumps again gives the same rows (they replace themselves). A window is keyed
//! by its start, so land each dump once, or an hour's dumps together: a later run that folds an
//! hour's samples without the earlier ones keys its windows from its own first sighting.
use std::io::Read;
use std::path::{Path, PathBuf};

use futures::stream::BoxStream;

use super::objects::{self, Objects};
use super::owners::Owners;
use super::sample::{node_windows, pod_windows, ClusterFold, Sample};
use super::window::Timing;
use crate::error::Problem;
use crate::record::{Records, SourceEvent};
use crate::source::Source;
use crate::IngestError;

/// Files this close in time (seconds) to a sample's first file belong to that sample.
pub const SAMPLE_SPREAD_SECS: u32 = 30;
/// The sampling interval of a single sample when none is given.
pub const DEFAULT_INTERVAL_SECS: u32 = 60;
/// Records per batch sent to the sinks.
const CHUNK: usize = 10_000;

/// Kubernetes dumps as one run.
#[derive(Debug, Clone)]
pub struct KubernetesDumps {
    /// The source name (batch log, leases).
    pub name: String,
    /// The cluster the rows are of.
    pub cluster: String,
    pub paths: Vec<PathBuf>,
    /// The time of every file (Unix seconds). Default: each file's modified time.
    pub at: Option<u32>,
    /// Seconds between samples. Default: inferred (see the module documentation).
    pub interval_secs: Option<u32>,
    /// The longest gap between two sightings still counted as present. Default: 3 × interval.
    pub max_gap_secs: Option<u32>,
}

impl KubernetesDumps {
    pub fn new(cluster: &str, paths: &[PathBuf]) -> KubernetesDumps {
        KubernetesDumps {
            name: format!("kubernetes-{cluster}"),
            cluster: cluster.to_string(),
            paths: paths.to_vec(),
            at: None,
            interval_secs: None,
            max_gap_secs: None,
        }
    }
}

impl Source for KubernetesDumps {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(
        &self,
        _checkpoint: Option<String>,
    ) -> BoxStream<'static, Result<SourceEvent, IngestError>> {
        let dumps = self.clone();
        super::super::blocking_stream(move |tx| {
            let send = |event: Result<SourceEvent, IngestError>| tx.blocking_send(event).is_ok();
            match fold(&dumps) {
                Err(e) => {
                    send(Err(e));
                }
                Ok(Err(problems)) => {
                    for p in problems {
                        if !send(Ok(SourceEvent::Problem(p))) {
                            return;
                        }
                    }
                }
                Ok(Ok((nodes, pods))) => {
                    for chunk in nodes.chunks(CHUNK) {
                        if !send(Ok(SourceEvent::Records(Records::K8sNodes(chunk.to_vec())))) {
                            return;
                        }
                    }
                    for chunk in pods.chunks(CHUNK) {
                        if !send(Ok(SourceEvent::Records(Records::K8sPods(chunk.to_vec())))) {
                            return;
                        }
                    }
                }
            }
        })
    }
}

type Folded = (
    Vec<crate::record::NodeWindow>,
    Vec<crate::record::PodWindow>,
);

/// Directories expand to the `.json` and `.json.gz` files inside them, sorted.
pub fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    super::super::files_in(paths, |p| {
        let name = p.to_string_lossy().to_lowercase();
        name.ends_with(".json") || name.ends_with(".json.gz")
    })
}

fn read_text(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("not readable gzip of UTF-8 text: {e}"))?;
        return Ok(text);
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

fn modified(path: &Path) -> Result<u32, String> {
    let time = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("no modified time (pass the time of the dump): {e}"))?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| u32::try_from(d.as_secs()).ok())
        .ok_or_else(|| "its modified time is outside 1970..2106".to_string())
}

/// The interval when none is given: the median gap between consecutive samples.
pub fn infer_interval(times: &[u32]) -> u32 {
    let mut gaps: Vec<u32> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return DEFAULT_INTERVAL_SECS;
    }
    gaps.sort_unstable();
    gaps[(gaps.len() - 1) / 2]
}

/// Group timed documents into samples (input sorted by time).
pub fn group(timed: Vec<(u32, Objects)>) -> (Vec<Sample>, Owners) {
    let mut owners = Owners::default();
    let mut samples: Vec<Sample> = Vec::new();
    for (at, mut objects) in timed {
        owners.extend(std::mem::take(&mut objects.owners));
        match samples.last_mut() {
            Some(s) if at - s.at <= SAMPLE_SPREAD_SECS => s.add(objects),
            _ => {
                let mut s = Sample::new(at);
                s.add(objects);
                samples.push(s);
            }
        }
    }
    (samples, owners)
}

/// Read, check and fold every file: the rows, or the problems found.
fn fold(dumps: &KubernetesDumps) -> Result<Result<Folded, Vec<Problem>>, IngestError> {
    let files = expand(&dumps.paths);
    if files.is_empty() {
        return Err(IngestError::NoInput);
    }
    let mut problems = Vec::new();
    let mut timed = Vec::new();
    for path in &files {
        let at = match dumps.at {
            Some(at) => at,
            None => match modified(path) {
                Ok(at) => at,
                Err(message) => {
                    problems.push(Problem::whole_file(path, message));
                    continue;
                }
            },
        };
        let text = match read_text(path) {
            Ok(text) => text,
            Err(message) => {
                problems.push(Problem::whole_file(path, message));
                continue;
            }
        };
        let (objects, found) = objects::parse(&text, path);
        problems.extend(found);
        timed.push((at, objects));
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    timed.sort_by_key(|(at, _)| *at);
    let (samples, owners) = group(timed);
    let times: Vec<u32> = samples.iter().map(|s| s.at).collect();
    let interval = dumps
        .interval_secs
        .unwrap_or_else(|| infer_interval(&times));
    let timing = Timing::new(interval, dumps.max_gap_secs);
    tracing::info!(
        cluster = %dumps.cluster,
        files = files.len(),
        samples = samples.len(),
        interval = timing.interval,
        max_gap = timing.max_gap,
        "folding Kubernetes dumps"
    );
    let mut folded = ClusterFold::new(timing);
    for sample in &samples {
        folded.observe(sample, &owners);
    }
    Ok(Ok((
        node_windows(&dumps.cluster, folded.nodes.finish()),
        pod_windows(&dumps.cluster, folded.pods.finish()),
    )))
}
