//! Usage sinks, one per usage table: Kubernetes node and pod windows, Slurm jobs, service
//! metrics. Records are validated (a window ends after it starts, quantities are not negative),
//! written to staging with their ingest time as the version, and attached per partition: the
//! tables are ReplacingMergeTree keyed by what identifies one observation, so landing the same
//! window twice keeps one row, and readers use FINAL (see migrations/004).
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use queries::commit::{Batch, BatchTotals};
use queries::rows::{K8sNodeRow, K8sPodRow, MetricRow, SlurmJobRow};
use queries::{Dec18, Store};

use super::{day_of, ProblemLog, Sink, Staged};
use crate::error::Problem;
use crate::reader::Location;
use crate::record::{MetricRecord, NodeWindow, PodWindow, Records, SlurmJob};
use crate::IngestError;

/// A record type and the row it becomes.
pub trait UsageRecord: Send + 'static {
    type Row: clickhouse::RowOwned + clickhouse::RowWrite + serde::Serialize + Send + Sync + 'static;
    const TABLE: &'static str;
    /// The records of this type in a batch, if it is one.
    fn take(records: Records) -> Option<Vec<Self>>
    where
        Self: Sized;
    /// What is wrong with it, if anything.
    fn problem(&self) -> Option<String>;
    /// The day it belongs to (days since 1970-01-01), for re-allocation.
    fn day(&self) -> u16;
    fn describe(&self) -> String;
    /// What the record is of, for the summary: the cluster, or the metric name.
    fn subject(&self) -> &str;
    fn into_row(self, ingested_at: u32) -> Self::Row;
}

fn negative(fields: &[(&str, Dec18)]) -> Option<String> {
    fields
        .iter()
        .find(|(_, v)| v.0 < 0)
        .map(|(name, v)| format!("{name} must not be negative, found {v}"))
}

fn window_problem(start: u32, end: u32) -> Option<String> {
    (end <= start).then(|| {
        format!(
            "the window must end after it starts ({} .. {})",
            queries::format_datetime_ms(u64::from(start) * 1000),
            queries::format_datetime_ms(u64::from(end) * 1000)
        )
    })
}

impl UsageRecord for NodeWindow {
    type Row = K8sNodeRow;
    const TABLE: &'static str = "k8s_nodes";
    fn take(records: Records) -> Option<Vec<Self>> {
        match records {
            Records::K8sNodes(v) => Some(v),
            _ => None,
        }
    }
    fn problem(&self) -> Option<String> {
        window_problem(self.window_start, self.window_end).or_else(|| {
            negative(&[
                ("cpu_cores", self.cpu_cores),
                ("memory_bytes", self.memory_bytes),
                ("gpus", self.gpus),
            ])
        })
    }
    fn day(&self) -> u16 {
        day_of(self.window_start)
    }
    fn subject(&self) -> &str {
        &self.cluster
    }
    fn describe(&self) -> String {
        format!("node {}/{}", self.cluster, self.node)
    }
    fn into_row(self, ingested_at: u32) -> K8sNodeRow {
        K8sNodeRow {
            cluster: self.cluster,
            node: self.node,
            provider_id: self.provider_id,
            instance_type: self.instance_type,
            cpu_cores: self.cpu_cores,
            memory_bytes: self.memory_bytes,
            gpus: self.gpus,
            window_start: self.window_start,
            window_end: self.window_end,
            ingested_at,
        }
    }
}

impl UsageRecord for PodWindow {
    type Row = K8sPodRow;
    const TABLE: &'static str = "k8s_pod_usage";
    fn take(records: Records) -> Option<Vec<Self>> {
        match records {
            Records::K8sPods(v) => Some(v),
            _ => None,
        }
    }
    fn problem(&self) -> Option<String> {
        window_problem(self.window_start, self.window_end).or_else(|| {
            negative(&[
                ("cpu_request_cores", self.cpu_request_cores),
                ("cpu_usage_cores", self.cpu_usage_cores),
                ("memory_request_bytes", self.memory_request_bytes),
                ("memory_usage_bytes", self.memory_usage_bytes),
                ("gpu_request", self.gpu_request),
            ])
        })
    }
    fn day(&self) -> u16 {
        day_of(self.window_start)
    }
    fn subject(&self) -> &str {
        &self.cluster
    }
    fn describe(&self) -> String {
        format!("pod {}/{}/{}", self.cluster, self.namespace, self.pod)
    }
    fn into_row(self, ingested_at: u32) -> K8sPodRow {
        let (label_keys, label_values) = self.labels.into_iter().unzip();
        K8sPodRow {
            cluster: self.cluster,
            node: self.node,
            namespace: self.namespace,
            pod: self.pod,
            workload_kind: self.workload_kind,
            workload: self.workload,
            label_keys,
            label_values,
            window_start: self.window_start,
            window_end: self.window_end,
            cpu_request_cores: self.cpu_request_cores,
            cpu_usage_cores: self.cpu_usage_cores,
            memory_request_bytes: self.memory_request_bytes,
            memory_usage_bytes: self.memory_usage_bytes,
            gpu_request: self.gpu_request,
            ingested_at,
        }
    }
}

impl UsageRecord for SlurmJob {
    type Row = SlurmJobRow;
    const TABLE: &'static str = "slurm_jobs";
    fn take(records: Records) -> Option<Vec<Self>> {
        match records {
            Records::SlurmJobs(v) => Some(v),
            _ => None,
        }
    }
    fn problem(&self) -> Option<String> {
        (self.end < self.start)
            .then(|| "the job ends before it starts".to_string())
            .or_else(|| {
                negative(&[
                    ("alloc_cpus", self.alloc_cpus),
                    ("alloc_memory_mb", self.alloc_memory_mb),
                    ("alloc_gpus", self.alloc_gpus),
                ])
            })
    }
    fn day(&self) -> u16 {
        day_of(self.start)
    }
    fn subject(&self) -> &str {
        &self.cluster
    }
    fn describe(&self) -> String {
        format!("job {}/{}", self.cluster, self.job_id)
    }
    fn into_row(self, ingested_at: u32) -> SlurmJobRow {
        SlurmJobRow {
            cluster: self.cluster,
            job_id: self.job_id,
            job_name: self.job_name,
            partition: self.partition,
            account: self.account,
            user: self.user,
            alloc_cpus: self.alloc_cpus,
            alloc_memory_mb: self.alloc_memory_mb,
            alloc_gpus: self.alloc_gpus,
            start: self.start,
            end: self.end,
            state: self.state,
            ingested_at,
        }
    }
}

const EPOCH: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");

impl UsageRecord for MetricRecord {
    type Row = MetricRow;
    const TABLE: &'static str = "service_metrics";
    fn take(records: Records) -> Option<Vec<Self>> {
        match records {
            Records::Metrics(v) => Some(v),
            _ => None,
        }
    }
    fn problem(&self) -> Option<String> {
        if self.metric.trim().is_empty() || self.service.trim().is_empty() {
            return Some("metric and service must not be empty".into());
        }
        if u16::try_from((self.day - EPOCH).num_days()).is_err() {
            return Some(format!("{} is outside 1970..2149", self.day));
        }
        negative(&[("value", self.value)])
    }
    fn day(&self) -> u16 {
        (self.day - EPOCH).num_days() as u16
    }
    fn subject(&self) -> &str {
        &self.metric
    }
    fn describe(&self) -> String {
        format!("metric {} of {} on {}", self.metric, self.service, self.day)
    }
    fn into_row(self, ingested_at: u32) -> MetricRow {
        let day = self.day();
        MetricRow {
            day,
            metric: self.metric,
            service: self.service,
            value: self.value,
            ingested_at,
        }
    }
}

pub struct UsageSink<R: UsageRecord> {
    batch: Batch,
    source: String,
    problems: Arc<ProblemLog>,
    insert: Option<clickhouse::insert::Insert<R::Row>>,
    rows: u64,
    days: Option<(u16, u16)>,
    subjects: std::collections::BTreeSet<String>,
    ingested_at: u32,
    progress: Arc<dyn crate::Progress>,
}

impl<R: UsageRecord> UsageSink<R> {
    pub async fn new(
        store: &Store,
        batch: Batch,
        source: &str,
        problems: Arc<ProblemLog>,
        progress: Arc<dyn crate::Progress>,
    ) -> Result<UsageSink<R>, IngestError> {
        let insert = store.insert::<R::Row>(batch.staging()).await?;
        Ok(UsageSink {
            batch,
            source: source.to_string(),
            problems,
            insert: Some(insert),
            rows: 0,
            days: None,
            subjects: Default::default(),
            ingested_at: chrono::Utc::now().timestamp() as u32,
            progress,
        })
    }

    async fn write_records(&mut self, records: Vec<R>) -> Result<(), IngestError> {
        let count = records.len() as u64;
        for record in records {
            if let Some(message) = record.problem() {
                self.problems.push(Problem {
                    file: PathBuf::from(&self.source),
                    location: Location::File,
                    column: None,
                    message: format!("{}: {message}", record.describe()),
                });
                continue;
            }
            if !self.problems.is_empty() {
                continue;
            }
            if !self.subjects.contains(record.subject()) {
                self.subjects.insert(record.subject().to_string());
            }
            let day = record.day();
            self.days = Some(match self.days {
                None => (day, day + 1),
                Some((a, b)) => (a.min(day), b.max(day + 1)),
            });
            let row = record.into_row(self.ingested_at);
            self.insert
                .as_mut()
                .expect("open until finished")
                .write(&row)
                .await
                .map_err(IngestError::Insert)?;
            self.rows += 1;
        }
        self.progress.rows(count);
        Ok(())
    }
}

impl<R: UsageRecord> Sink for UsageSink<R> {
    fn table(&self) -> &'static str {
        R::TABLE
    }

    fn write(&mut self, records: Records) -> BoxFuture<'_, Result<(), IngestError>> {
        let records = R::take(records).expect("the runner routes records by kind");
        self.write_records(records).boxed()
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<Staged, IngestError>> {
        async move {
            if let Some(insert) = self.insert.take() {
                insert.end().await.map_err(IngestError::Insert)?;
            }
            Ok(Staged {
                table: R::TABLE,
                rows: self.rows,
                totals: BatchTotals {
                    rows: self.rows,
                    ..BatchTotals::default()
                },
                days: self.days,
                focus: None,
                subjects: self.subjects.iter().cloned().collect(),
            })
        }
        .boxed()
    }

    fn into_batch(self: Box<Self>) -> Batch {
        self.batch
    }
}
