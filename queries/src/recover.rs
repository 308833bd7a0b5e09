//! Recovery on start: finish what crashed runs left (see [`crate::commit`]).

use clickhouse::Row;
use serde::Deserialize;

use crate::commit::{backup_name, batch_of, now_secs, restore, LogRow};
use crate::rollup::{partitions_of, rollups_of};
use crate::{lease, q, Store, StoreError};

#[derive(Debug, Clone, Row, Deserialize)]
struct OpenBatch {
    batch_id: String,
    target: String,
    partitions: Vec<String>,
    holder: String,
}

#[derive(Debug, Clone, Row, Deserialize)]
struct TableName {
    name: String,
}

impl Store {
    /// Finish what crashed runs left: roll back a commit that died mid-swap (from its backup),
    /// then drop staging and backup tables whose batch no longer holds its lease.
    /// Returns the names of the tables dropped.
    pub async fn recover(&self) -> Result<Vec<String>, StoreError> {
        let open: Vec<OpenBatch> = self.fetch_all(&q::batch_log_open()).await?;
        for batch in open {
            if self.batch_holds_any_lease(&batch.batch_id).await? {
                continue;
            }
            let backup = backup_name(&batch.batch_id, &batch.target);
            let tables: Vec<TableName> = self.fetch_all(&q::leftover_tables()).await?;
            if !tables.iter().any(|t| t.name == backup) {
                // The backup goes only after `committed` is logged; without it there is nothing
                // to restore from, so the live table is left as it is.
                tracing::error!(batch = %batch.batch_id, table = %batch.target, "a commit was interrupted but its backup table is gone; the live table was left as it is");
                continue;
            }
            let saved = self.partition_ids(&backup).await?;
            let ids: Vec<String> = batch
                .partitions
                .iter()
                .filter_map(|p| p.split_once(' ').map(|(id, _)| id.to_string()))
                .collect();
            // The rollups committed with the table first (their backups were made before
            // `swapping` was logged; one already gone was restored by an earlier attempt), the
            // table itself last: its backup, what this looks for, must be the last one dropped.
            for rollup in rollups_of(&batch.target) {
                let rollup_backup = backup_name(&batch.batch_id, rollup.table);
                if !tables.iter().any(|t| t.name == rollup_backup) {
                    continue;
                }
                let rollup_saved = self.partition_ids(&rollup_backup).await?;
                let rollup_ids = partitions_of(rollup, &ids);
                restore(
                    self,
                    rollup.table,
                    &rollup_backup,
                    &rollup_ids,
                    &rollup_saved,
                )
                .await?;
            }
            restore(self, &batch.target, &backup, &ids, &saved).await?;
            tracing::warn!(batch = %batch.batch_id, table = %batch.target, "rolled back a commit interrupted by a crash");
            self.log_batch(&LogRow {
                batch_id: batch.batch_id.clone(),
                kind: String::new(),
                source: String::new(),
                target: batch.target.clone(),
                partitions: batch.partitions.clone(),
                rows: 0,
                currencies: vec![],
                billed: vec![],
                effective: vec![],
                started_at: now_secs(),
                ended_at: now_secs(),
                outcome: "rolled back".into(),
                error: format!(
                    "interrupted during the swap (holder {}); restored on recovery",
                    batch.holder
                ),
                holder: batch.holder,
                seq: lease::now_ms(),
            })
            .await?;
        }
        let tables: Vec<TableName> = self.fetch_all(&q::leftover_tables()).await?;
        let mut dropped = Vec::new();
        for table in tables {
            let Some(batch) = batch_of(&table.name) else {
                continue;
            };
            if self.batch_holds_any_lease(batch).await? {
                continue;
            }
            self.execute(&q::staging_drop().bind_ident("staging", &table.name))
                .await?;
            dropped.push(table.name);
        }
        if !dropped.is_empty() {
            tracing::info!(tables = ?dropped, "removed staging tables left by crashed runs");
        }
        Ok(dropped)
    }

    /// Whether any lease is held by this batch (its id is the holder).
    async fn batch_holds_any_lease(&self, batch_id: &str) -> Result<bool, StoreError> {
        #[derive(Row, Deserialize)]
        struct Count {
            n: u64,
        }
        let rows: Vec<Count> = self
            .fetch_all(
                &q::lease_held_by()
                    .bind_str("holder", batch_id)
                    .bind("now", crate::Param::Int(lease::now_ms().into())),
            )
            .await?;
        Ok(rows.first().is_some_and(|c| c.n > 0))
    }
}
