//! One staged commit, used by every writer (FOCUS ingest, usage ingest, allocation):
//!
//! 1. [`Store::begin_batch`] takes the writer lease of the target (two writers of the same
//!    partitions never interleave: the second waits, then fails naming the holder) and creates a
//!    private staging table `_costmill_staging_<batch>_<table>` like the live one.
//! 2. The writer loads rows into [`Batch::staging`] and runs its checks **on staging**.
//! 3. [`Batch::commit`] fills the staging tables of the table's rollups ([`crate::rollup`]) from
//!    the staged rows and swaps the staged partitions into the live table, then the rollups'
//!    into theirs, as one unit. Before the first swap it copies every live partition it will
//!    touch (of the table and its rollups) into backup tables (hard links, cheap) and logs the
//!    plan in `batch_log`; if any swap fails, every partition of the batch is put back from the
//!    backups, so a batch lands whole or not at all. A process that dies mid-swap leaves the
//!    backup and the `swapping` log row behind, and the next start ([`Store::recover`]) restores
//!    from them.
//!
//! What a concurrent reader sees: each partition changes in one step (old rows or new, never a
//! mix). A batch spanning several partitions (several billing months, several days) is swapped
//! partition after partition within milliseconds, so a query running during those milliseconds
//! may see one month already new and another still old; it never sees a half-replaced month.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::lease::{self, Lease};
use crate::{q, rollup, Dec18, Param, Store, StoreError};

const STAGING_PREFIX: &str = "_costmill_staging_";
const BACKUP_PREFIX: &str = "_costmill_backup_";

/// How staged partitions reach the live table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The staged partition replaces the live one (FOCUS months, allocation days).
    Replace,
    /// The staged parts are added to the live partition: for Replacing tables, whose key makes a
    /// re-landed observation replace the earlier one (usage windows, metrics).
    Attach,
}

/// Told about each step of a commit, e.g. to draw progress.
pub trait CommitObserver: Send + Sync {
    /// A partition was swapped into the live table.
    fn partition_swapped(&self, _partition: &str) {}
}

/// What a batch writes, and how.
#[derive(Clone)]
pub struct BatchSpec {
    /// `ingest`, `usage`, `allocate`: for the batch log.
    pub kind: &'static str,
    /// The source name (empty for allocation).
    pub source: String,
    /// The live table.
    pub table: &'static str,
    pub swap: Swap,
    /// Ctrl-C / SIGTERM: checked before the swap, which itself is never interrupted.
    pub cancel: CancellationToken,
    /// How long to wait for another writer of the same partitions. Default: 30 s.
    pub lease_wait: Duration,
    /// Time to live of the writer lease (renewed every third of it). Default: 60 s.
    pub lease_ttl: Duration,
    pub observer: Option<Arc<dyn CommitObserver>>,
}

impl BatchSpec {
    pub fn new(kind: &'static str, source: &str, table: &'static str, swap: Swap) -> BatchSpec {
        BatchSpec {
            kind,
            source: source.to_string(),
            table,
            swap,
            cancel: CancellationToken::new(),
            lease_wait: Duration::from_secs(30),
            lease_ttl: lease::DEFAULT_TTL,
            observer: None,
        }
    }

    pub fn with_cancel(mut self, cancel: CancellationToken) -> BatchSpec {
        self.cancel = cancel;
        self
    }

    pub fn with_lease_wait(mut self, wait: Duration) -> BatchSpec {
        self.lease_wait = wait;
        self
    }

    pub fn with_lease_ttl(mut self, ttl: Duration) -> BatchSpec {
        self.lease_ttl = ttl;
        self
    }

    pub fn with_observer(mut self, observer: Arc<dyn CommitObserver>) -> BatchSpec {
        self.observer = Some(observer);
        self
    }

    /// The writer lease: one writer per table and source (allocation: per table).
    fn lease_name(&self) -> String {
        format!("write/{}/{}", self.table, self.source)
    }
}

/// Rows and money of a batch, per currency: two currencies are never added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchTotals {
    pub rows: u64,
    /// Currency → (billed, effective).
    pub by_currency: BTreeMap<String, (Dec18, Dec18)>,
}

/// What a commit did.
#[derive(Debug, Clone)]
pub struct CommitReport {
    pub batch_id: String,
    /// The partitions swapped in (as ClickHouse prints them, e.g. `('aws', 202609)`).
    pub partitions: Vec<String>,
    /// Live partitions dropped (days of an allocation window that got no rows).
    pub dropped: Vec<String>,
    pub swap_elapsed: Duration,
}

#[derive(Debug, Clone, Row, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Row, Serialize)]
pub(crate) struct LogRow {
    pub(crate) batch_id: String,
    pub(crate) kind: String,
    pub(crate) source: String,
    pub(crate) target: String,
    pub(crate) partitions: Vec<String>,
    pub(crate) rows: u64,
    pub(crate) currencies: Vec<String>,
    pub(crate) billed: Vec<Dec18>,
    pub(crate) effective: Vec<Dec18>,
    pub(crate) started_at: u32,
    pub(crate) ended_at: u32,
    pub(crate) outcome: String,
    pub(crate) error: String,
    pub(crate) holder: String,
    pub(crate) seq: u64,
}

/// A batch in progress: its staging table and writer lease.
pub struct Batch {
    store: Store,
    spec: BatchSpec,
    id: String,
    staging: String,
    lease: Option<Lease>,
    drop: BTreeSet<String>,
    started_at: u32,
    cancel: CancellationToken,
}

/// Unique, sortable, fixed length (23), and safe inside a table name.
pub fn new_batch_id() -> String {
    use rand::Rng;
    let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
    format!("{now}_{:08x}", rand::thread_rng().gen::<u32>())
}

const BATCH_ID_LEN: usize = 23;

fn staging_name(id: &str, table: &str) -> String {
    format!("{STAGING_PREFIX}{id}_{table}")
}

pub(crate) fn backup_name(id: &str, table: &str) -> String {
    format!("{BACKUP_PREFIX}{id}_{table}")
}

/// The batch id in a staging or backup table name.
pub(crate) fn batch_of(table: &str) -> Option<&str> {
    let rest = table
        .strip_prefix(STAGING_PREFIX)
        .or_else(|| table.strip_prefix(BACKUP_PREFIX))?;
    rest.get(..BATCH_ID_LEN)
}

pub(crate) fn now_secs() -> u32 {
    chrono::Utc::now().timestamp() as u32
}

impl Store {
    /// Start a batch: take the writer lease, create the staging table.
    pub async fn begin_batch(&self, spec: BatchSpec) -> Result<Batch, StoreError> {
        let id = new_batch_id();
        let info = lease::process_info(&format!("{} of `{}`", spec.kind, spec.table));
        let lease = self
            .acquire_lease(
                &spec.lease_name(),
                &id,
                &info,
                spec.lease_ttl,
                spec.lease_wait,
                &spec.cancel,
            )
            .await?;
        let staging = staging_name(&id, spec.table);
        if let Err(e) = self
            .execute(
                &q::staging_create()
                    .bind_ident("staging", &staging)
                    .bind_ident("live", spec.table),
            )
            .await
        {
            let _ = lease.release().await;
            return Err(e);
        }
        // Cancelled by a signal, or by losing the lease.
        let cancel = spec.cancel.child_token();
        let lost = lease.lost().clone();
        let on_lost = cancel.clone();
        tokio::spawn(async move {
            lost.cancelled().await;
            on_lost.cancel();
        });
        Ok(Batch {
            store: self.clone(),
            spec,
            id,
            staging,
            lease: Some(lease),
            drop: BTreeSet::new(),
            started_at: now_secs(),
            cancel,
        })
    }

    /// The partitions a table holds.
    pub async fn partitions(&self, table: &str) -> Result<Vec<Partition>, StoreError> {
        self.fetch_all(&q::table_partitions().bind_str("table", table))
            .await
    }

    /// The ids of the partitions a table holds.
    pub(crate) async fn partition_ids(&self, table: &str) -> Result<BTreeSet<String>, StoreError> {
        Ok(self
            .partitions(table)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect())
    }

    pub(crate) async fn log_batch(&self, row: &LogRow) -> Result<(), StoreError> {
        self.insert_rows("batch_log", std::slice::from_ref(row))
            .await
    }
}

/// Put partitions back as they were: from the backup where the live table had them, else dropped.
pub(crate) async fn restore(
    store: &Store,
    live: &str,
    backup: &str,
    ids: &[String],
    saved: &BTreeSet<String>,
) -> Result<(), StoreError> {
    for id in ids {
        let statement = if saved.contains(id) {
            q::partition_replace()
                .bind_ident("live", live)
                .bind_str("id", id)
                .bind_ident("staging", backup)
        } else {
            q::partition_drop()
                .bind_ident("live", live)
                .bind_str("id", id)
        };
        store.execute(&statement).await?;
    }
    store
        .execute(&q::staging_drop().bind_ident("staging", backup))
        .await
}

impl Batch {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The staging table to load.
    pub fn staging(&self) -> &str {
        &self.staging
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Cancelled on Ctrl-C/SIGTERM or when the writer lease was lost: stop loading and abort.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Live partitions (by id) to drop in this commit: e.g. days of an allocation window that
    /// now have no rows.
    pub fn drop_partitions(&mut self, ids: impl IntoIterator<Item = String>) {
        self.drop.extend(ids);
    }

    fn log_row(
        &self,
        outcome: &str,
        error: &str,
        partitions: &[String],
        totals: &BatchTotals,
    ) -> LogRow {
        LogRow {
            batch_id: self.id.clone(),
            kind: self.spec.kind.into(),
            source: self.spec.source.clone(),
            target: self.spec.table.into(),
            partitions: partitions.to_vec(),
            rows: totals.rows,
            currencies: totals.by_currency.keys().cloned().collect(),
            billed: totals.by_currency.values().map(|v| v.0).collect(),
            effective: totals.by_currency.values().map(|v| v.1).collect(),
            started_at: self.started_at,
            ended_at: now_secs(),
            outcome: outcome.into(),
            error: error.into(),
            holder: self.id.clone(),
            seq: lease::now_ms(),
        }
    }

    /// Swap the staged partitions in (and drop the listed ones), with the table's rollups
    /// ([`crate::rollup`]), all or nothing on failure.
    pub async fn commit(mut self, totals: BatchTotals) -> Result<CommitReport, StoreError> {
        if self.cancel.is_cancelled() {
            self.finish(
                "aborted",
                "stopped by a signal before the swap",
                &[],
                &totals,
            )
            .await?;
            return Err(StoreError::Cancelled);
        }
        let targets = match self.plan_targets().await {
            Ok(targets) => targets,
            Err(e) => {
                self.cleanup().await;
                return Err(e);
            }
        };
        let store = self.store.clone();
        let main = &targets[0];
        // `<id> <name>`: the id to restore by, the name for people.
        let plan: Vec<String> = main
            .staged
            .iter()
            .map(|p| format!("{} {}", p.id, p.name))
            .chain(main.drops.iter().map(|id| format!("{id} (dropped)")))
            .collect();

        for target in &targets {
            if let Err(e) = target.back_up(&store).await {
                self.cleanup().await;
                return Err(e);
            }
        }
        store
            .log_batch(&self.log_row("swapping", "", &plan, &totals))
            .await?;

        let started = Instant::now();
        let mut failure = None;
        for (i, target) in targets.iter().enumerate() {
            // The observer follows the batch's own table (progress counts its partitions).
            let observer = self.spec.observer.as_deref().filter(|_| i == 0);
            if let Err(failed) = target.swap(&store, observer).await {
                failure = Some(failed);
                break;
            }
        }
        let swap_elapsed = started.elapsed();
        if let Some((partition, error)) = failure {
            let mut restored = Ok(());
            // Rollups first, the table itself last: its backup is what recovery looks for, so
            // it must be the last one dropped.
            for target in targets.iter().rev() {
                let result = restore(
                    &store,
                    &target.table,
                    &target.backup,
                    &target.touched,
                    &target.before,
                )
                .await;
                if restored.is_ok() {
                    restored = result;
                }
            }
            let error = StoreError::CommitFailed {
                batch: self.id.clone(),
                partition,
                message: error.to_string(),
                rollback: match &restored {
                    Ok(()) => String::new(),
                    Err(e) => format!(
                        " — except that the rollback itself failed ({e}); the next costmill start retries it"
                    ),
                },
            };
            if restored.is_ok() {
                let _ = store
                    .log_batch(&self.log_row("rolled back", &error.to_string(), &plan, &totals))
                    .await;
            }
            // Otherwise the log stays at `swapping` with the backups kept: recovery finishes it.
            self.cleanup().await;
            return Err(error);
        }
        self.finish("committed", "", &plan, &totals).await?;
        // After `committed` is logged: a crash before these drops leaves only stale backups,
        // which the next start removes.
        for target in &targets {
            if let Err(e) = store
                .execute(&q::staging_drop().bind_ident("staging", &target.backup))
                .await
            {
                tracing::warn!(table = %target.backup, error = %e, "could not drop the backup table; the next start removes it");
            }
        }
        let main = targets.into_iter().next().expect("the batch's own table");
        Ok(CommitReport {
            batch_id: self.id.clone(),
            partitions: main.staged.into_iter().map(|p| p.name).collect(),
            dropped: main.drops,
            swap_elapsed,
        })
    }

    /// What the commit swaps: the batch's table first, then each rollup, filled here from the
    /// staged rows.
    async fn plan_targets(&self) -> Result<Vec<Target>, StoreError> {
        let store = &self.store;
        let live = self.spec.table;
        let main = Target::plan(
            store,
            live,
            self.staging.clone(),
            backup_name(&self.id, live),
            self.spec.swap,
            &self.drop,
            None,
        )
        .await?;
        let mut targets = vec![main];
        for rollup in rollup::rollups_of(live) {
            debug_assert_eq!(
                self.spec.swap,
                Swap::Replace,
                "rollups need replaced partitions"
            );
            let touched = rollup::partitions_of(rollup, &targets[0].touched);
            let staging = staging_name(&self.id, rollup.table);
            store
                .execute(
                    &q::staging_create()
                        .bind_ident("staging", &staging)
                        .bind_ident("live", rollup.table),
                )
                .await?;
            store
                .execute(
                    &(rollup.fill)()
                        .bind_ident("rollup", &staging)
                        .bind_ident("staging", &self.staging)
                        .bind_ident("live", live)
                        .bind("partitions", Param::StrArray(targets[0].touched.clone()))
                        .bind("rollup_partitions", Param::StrArray(touched.clone())),
                )
                .await?;
            let target = Target::plan(
                store,
                rollup.table,
                staging,
                backup_name(&self.id, rollup.table),
                Swap::Replace,
                &touched.iter().cloned().collect(),
                Some(touched.clone()),
            )
            .await?;
            targets.push(target);
        }
        Ok(targets)
    }

    /// Give up: drop the staging table, log why, release the lease. The live table is untouched.
    pub async fn abort(mut self, reason: &str) -> Result<(), StoreError> {
        self.finish("failed", reason, &[], &BatchTotals::default())
            .await
    }

    async fn finish(
        &mut self,
        outcome: &str,
        error: &str,
        partitions: &[String],
        totals: &BatchTotals,
    ) -> Result<(), StoreError> {
        let logged = self
            .store
            .log_batch(&self.log_row(outcome, error, partitions, totals))
            .await;
        self.cleanup().await;
        logged
    }

    async fn cleanup(&mut self) {
        let rollups = rollup::rollups_of(self.spec.table)
            .iter()
            .map(|r| staging_name(&self.id, r.table));
        for staging in std::iter::once(self.staging.clone()).chain(rollups) {
            if let Err(e) = self
                .store
                .execute(&q::staging_drop().bind_ident("staging", &staging))
                .await
            {
                tracing::warn!(table = %staging, error = %e, "could not drop the staging table; the next start removes it");
            }
        }
        if let Some(lease) = self.lease.take() {
            if let Err(e) = lease.release().await {
                tracing::warn!(error = %e, "could not release the writer lease; it expires within a minute");
            }
        }
    }
}

/// One table a commit swaps: the batch's own, or one of its rollups.
struct Target {
    table: String,
    staging: String,
    backup: String,
    swap: Swap,
    /// Staged partitions, swapped in.
    staged: Vec<Partition>,
    /// Live partitions dropped (touched, not staged, present).
    drops: Vec<String>,
    /// Every partition the commit may change: what a rollback restores.
    touched: Vec<String>,
    /// The live partitions before the commit.
    before: BTreeSet<String>,
}

impl Target {
    /// `drop`: partitions to drop where the live table has them and the batch stages none.
    /// `touched`: every partition the commit may change; default: the staged and dropped ones.
    async fn plan(
        store: &Store,
        table: &str,
        staging: String,
        backup: String,
        swap: Swap,
        drop: &BTreeSet<String>,
        touched: Option<Vec<String>>,
    ) -> Result<Target, StoreError> {
        let staged = store.partitions(&staging).await?;
        let before = store.partition_ids(table).await?;
        let staged_ids: BTreeSet<&str> = staged.iter().map(|p| p.id.as_str()).collect();
        let drops: Vec<String> = drop
            .iter()
            .filter(|id| !staged_ids.contains(id.as_str()) && before.contains(*id))
            .cloned()
            .collect();
        let touched = touched.unwrap_or_else(|| {
            staged
                .iter()
                .map(|p| p.id.clone())
                .chain(drops.iter().cloned())
                .collect()
        });
        Ok(Target {
            table: table.to_string(),
            staging,
            backup,
            swap,
            staged,
            drops,
            touched,
            before,
        })
    }

    /// Copy the live partitions the commit touches into the backup table (hard links).
    async fn back_up(&self, store: &Store) -> Result<(), StoreError> {
        store
            .execute(
                &q::staging_create()
                    .bind_ident("staging", &self.backup)
                    .bind_ident("live", &self.table),
            )
            .await?;
        for id in self.touched.iter().filter(|id| self.before.contains(*id)) {
            store
                .execute(
                    &q::partition_copy()
                        .bind_ident("backup", &self.backup)
                        .bind_str("id", id)
                        .bind_ident("live", &self.table),
                )
                .await?;
        }
        Ok(())
    }

    /// Swap the staged partitions in, then drop the dropped ones; the first failure stops.
    async fn swap(
        &self,
        store: &Store,
        observer: Option<&dyn CommitObserver>,
    ) -> Result<(), (String, StoreError)> {
        for p in &self.staged {
            let statement = match self.swap {
                Swap::Replace => q::partition_replace(),
                Swap::Attach => q::partition_attach(),
            }
            .bind_ident("live", &self.table)
            .bind_str("id", &p.id)
            .bind_ident("staging", &self.staging);
            store
                .execute(&statement)
                .await
                .map_err(|e| (p.name.clone(), e))?;
            if let Some(observer) = observer {
                observer.partition_swapped(&p.name);
            }
        }
        for id in &self.drops {
            let statement = q::partition_drop()
                .bind_ident("live", &self.table)
                .bind_str("id", id);
            store
                .execute(&statement)
                .await
                .map_err(|e| (id.clone(), e))?;
        }
        Ok(())
    }
}
