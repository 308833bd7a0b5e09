//! The typed records sources yield. They say nothing about ClickHouse: sinks validate, encode,
//! stage and commit them.
use std::path::PathBuf;
use std::sync::Arc;

use queries::Dec18;

use crate::error::Problem;
use crate::reader::Location;

/// What a source's stream carries.
pub enum SourceEvent {
    Records(Records),
    /// A problem with the input (file, line, column, what was expected). Any problem refuses the
    /// whole run: nothing is committed.
    Problem(Problem),
    /// Where the source is, once everything before it has been yielded. Saved after the commit
    /// and handed back to the source on its next run.
    Checkpoint(String),
}

/// Records of one kind, in batches.
pub enum Records {
    Focus(FocusEvent),
    Metrics(Vec<MetricRecord>),
    K8sNodes(Vec<NodeWindow>),
    K8sPods(Vec<PodWindow>),
    SlurmJobs(Vec<SlurmJob>),
}

/// FOCUS rows as text, input by input, for the FOCUS sink to validate and normalize. Cloud API
/// sources map their responses to FOCUS column names and send them the same way.
pub enum FocusEvent {
    /// An input (file, API response) begins.
    Start(Arc<Origin>),
    /// Records of the current input, fields in the order of its headers.
    Rows(TextRows),
    /// The current input ended; `ended_mid_line`: its last line had no line end (truncated?).
    End { ended_mid_line: bool },
}

/// Where records come from: a file, or an API response labelled like one.
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: PathBuf,
    pub headers: Vec<String>,
}

/// Records with the same number of text fields, packed in one buffer: no allocation per field.
#[derive(Debug, Clone, Default)]
pub struct TextRows {
    fields: usize,
    data: String,
    /// End offset in `data` of every field, record after record.
    ends: Vec<usize>,
    locations: Vec<Location>,
}

impl TextRows {
    pub fn new(fields: usize) -> TextRows {
        TextRows {
            fields,
            ..TextRows::default()
        }
    }

    pub fn push<S: AsRef<str>>(&mut self, location: Location, fields: &[S]) {
        assert_eq!(
            fields.len(),
            self.fields,
            "every record has the input's fields"
        );
        for f in fields {
            self.data.push_str(f.as_ref());
            self.ends.push(self.data.len());
        }
        self.locations.push(location);
    }

    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.data.len() + self.ends.len() * 8
    }

    /// Visit each record's location and fields; `scratch` is reused between records.
    pub fn for_each<'a>(
        &'a self,
        scratch: &mut Vec<&'a str>,
        mut visit: impl FnMut(Location, &[&'a str]) -> std::ops::ControlFlow<()>,
    ) {
        let mut start = 0;
        for (i, location) in self.locations.iter().enumerate() {
            scratch.clear();
            for end in &self.ends[i * self.fields..(i + 1) * self.fields] {
                scratch.push(&self.data[start..*end]);
                start = *end;
            }
            if visit(*location, scratch).is_break() {
                return;
            }
        }
    }
}

/// One service's value of a metric on one day (for proportional pools).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    pub day: chrono::NaiveDate,
    pub metric: String,
    pub service: String,
    pub value: Dec18,
}

/// A Kubernetes node over a window: capacity and the cloud instance behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeWindow {
    pub cluster: String,
    pub node: String,
    /// spec.providerID, e.g. `aws:///us-east-1a/i-0abc…`.
    pub provider_id: String,
    pub instance_type: String,
    pub cpu_cores: Dec18,
    pub memory_bytes: Dec18,
    pub gpus: Dec18,
    /// Unix seconds, UTC.
    pub window_start: u32,
    pub window_end: u32,
}

/// A pod over a window: requests and measured usage.
#[derive(Debug, Clone, PartialEq)]
pub struct PodWindow {
    pub cluster: String,
    pub node: String,
    pub namespace: String,
    pub pod: String,
    pub workload_kind: String,
    pub workload: String,
    pub labels: Vec<(String, String)>,
    pub window_start: u32,
    pub window_end: u32,
    pub cpu_request_cores: Dec18,
    pub cpu_usage_cores: Dec18,
    pub memory_request_bytes: Dec18,
    pub memory_usage_bytes: Dec18,
    pub gpu_request: Dec18,
}

/// A Slurm job from accounting; a later record of the same job replaces the earlier one.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmJob {
    pub cluster: String,
    pub job_id: String,
    pub job_name: String,
    pub partition: String,
    pub account: String,
    pub user: String,
    pub alloc_cpus: Dec18,
    pub alloc_memory_mb: Dec18,
    pub alloc_gpus: Dec18,
    pub start: u32,
    pub end: u32,
    pub state: String,
}
