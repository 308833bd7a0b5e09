//! The ClickHouse store every costmill crate uses: connection settings, the managed
//! (embedded) server, versioned migrations, and the SQL files under `queries/sql/`.
//!
//! Every statement lives in a `.sql` file. Placeholders use ClickHouse's own syntax,
//! `{name:Type}`, and are rendered client-side (see [`sql`]) because ClickHouse 18.16
//! has no server-side query parameters.

pub mod config;
pub mod error;
pub mod migrations;
pub mod money;
pub mod native;
pub mod server;
pub mod sql;
pub mod store;

pub use config::ClickHouseConfig;
pub use error::StoreError;
pub use money::Dec18;
pub use sql::{Param, Query};
pub use store::Store;

/// Render a timestamp in the `YYYY-MM-DD hh:mm:ss` UTC form both ClickHouse versions parse.
pub fn format_datetime(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Every SQL file of the project, by name. `ALL` lets the compatibility test run each one.
pub mod q {
    use crate::Query;

    macro_rules! sql_files {
        ($($name:ident => $file:literal),* $(,)?) => {
            $(
                pub fn $name() -> Query {
                    Query::new($file, include_str!(concat!("../sql/", $file, ".sql")))
                }
            )*
            /// `(file stem, constructor)` of every query file.
            pub const ALL: &[(&str, fn() -> Query)] = &[$(($file, $name)),*];
        };
    }

    sql_files! {
        create_database => "create_database",
        migrations_table => "migrations_table",
        migrations_applied => "migrations_applied",
        migration_record => "migration_record",
        focus_staging_create => "focus_staging_create",
        focus_staging_drop => "focus_staging_drop",
        focus_staging_partitions => "focus_staging_partitions",
        focus_replace_partition => "focus_replace_partition",
        focus_staging_summary => "focus_staging_summary",
        focus_totals => "focus_totals",
        costs_by_group => "costs_by_group",
        bench_focus_native => "bench_focus_native",
        allocation_inputs => "allocation_inputs",
        allocation_metrics => "allocation_metrics",
        cost_day_range => "cost_day_range",
        allocations_staging_create => "allocations_staging_create",
        allocations_staging_drop => "allocations_staging_drop",
        allocations_replace_day => "allocations_replace_day",
        allocations_drop_day => "allocations_drop_day",
        allocation_conservation => "allocation_conservation",
        allocations_by_group => "allocations_by_group",
        explain_service => "explain_service",
        k8s_node_days => "k8s_node_days",
        k8s_pod_days => "k8s_pod_days",
        slurm_job_days => "slurm_job_days",
    }
}

pub mod rows;

#[cfg(feature = "test-support")]
pub mod testing;
