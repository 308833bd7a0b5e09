//! Versioned schema migrations: `migrations/NNN_name.sql`, applied once each, in order.
use crate::{q, Param, Store, StoreError};

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! migrations {
    ($($version:literal => $file:literal),* $(,)?) => {
        pub const MIGRATIONS: &[Migration] = &[$(
            Migration { version: $version, name: $file, text: include_str!(concat!("../migrations/", $file, ".sql")) }
        ),*];
    };
}

migrations! {
    1 => "001_focus_costs",
    2 => "002_allocations",
    3 => "003_usage",
    4 => "004_utc_currency_idempotent_usage",
    5 => "005_alerts_deliveries_budgets",
    6 => "006_api_tokens",
    7 => "007_rollups",
    8 => "008_price_catalog",
    9 => "009_workload_migrations",
}

impl Migration {
    pub fn checksum(&self) -> String {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.text.as_bytes()))
    }
}

/// A migration and whether (and when) it was applied.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub version: u32,
    pub name: String,
    pub applied_at: Option<u32>,
}

/// Refuse a schema whose applied migrations were edited since.
fn check_applied(applied: &[crate::rows::AppliedMigration]) -> Result<(), StoreError> {
    for migration in MIGRATIONS {
        if let Some(done) = applied.iter().find(|a| a.version == migration.version) {
            if done.checksum != migration.checksum() {
                return Err(StoreError::MigrationChanged {
                    file: format!("{}.sql", migration.name),
                    applied: done.checksum.clone(),
                    current: migration.checksum(),
                });
            }
        }
    }
    Ok(())
}

impl Store {
    /// Apply every migration not yet recorded; refuse if an applied file was edited since.
    /// Processes starting together (two `serve` replicas) migrate one at a time, under a lease;
    /// an up-to-date schema (every command's start) takes no lease.
    pub async fn migrate(&self) -> Result<Vec<&'static str>, StoreError> {
        self.execute(&q::migrations_table()).await?;
        self.execute(&q::leases_table()).await?;
        let applied = self
            .fetch_all::<crate::rows::AppliedMigration>(&q::migrations_applied())
            .await?;
        check_applied(&applied)?;
        if MIGRATIONS
            .iter()
            .all(|m| applied.iter().any(|a| a.version == m.version))
        {
            return Ok(Vec::new());
        }
        let holder = crate::commit::new_batch_id();
        let lease = self
            .acquire_lease(
                "migrate",
                &holder,
                &crate::lease::process_info("migrating the schema"),
                crate::lease::DEFAULT_TTL,
                std::time::Duration::from_secs(600),
                &tokio_util::sync::CancellationToken::new(),
            )
            .await?;
        let result = self.apply_pending().await;
        let released = lease.release().await;
        let applied = result?;
        released?;
        Ok(applied)
    }

    async fn apply_pending(&self) -> Result<Vec<&'static str>, StoreError> {
        let applied = self
            .fetch_all::<crate::rows::AppliedMigration>(&q::migrations_applied())
            .await?;
        check_applied(&applied)?;
        let mut newly = Vec::new();
        for migration in MIGRATIONS {
            if applied.iter().any(|a| a.version == migration.version) {
                continue;
            }
            for statement in crate::sql::statements(migration.text) {
                self.client()
                    .query_raw(&statement)
                    .execute()
                    .await
                    .map_err(|source| StoreError::Migration {
                        file: format!("{}.sql", migration.name),
                        source,
                    })?;
            }
            let record = q::migration_record()
                .bind("version", Param::Int(migration.version.into()))
                .bind_str("name", migration.name)
                .bind_str("checksum", migration.checksum());
            self.execute(&record).await?;
            tracing::info!(migration = migration.name, "applied migration");
            newly.push(migration.name);
        }
        Ok(newly)
    }

    /// Every known migration with its applied time, if any.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        self.execute(&q::migrations_table()).await?;
        let applied = self
            .fetch_all::<crate::rows::AppliedMigration>(&q::migrations_applied())
            .await?;
        Ok(MIGRATIONS
            .iter()
            .map(|m| MigrationStatus {
                version: m.version,
                name: m.name.to_string(),
                applied_at: applied
                    .iter()
                    .find(|a| a.version == m.version)
                    .map(|a| a.applied_at),
            })
            .collect())
    }
}
