//! The ClickHouse store every costmill crate uses: connection settings, the managed
//! (embedded) server, versioned migrations, and the SQL files under `queries/sql/`.
//!
//! Every statement lives in a `.sql` file. Placeholders use ClickHouse's own syntax,
//! `{name:Type}`, and are rendered client-side (see [`sql`]) because ClickHouse 18.16
//! has no server-side query parameters.

pub mod commit;
pub mod config;
pub mod error;
pub mod lease;
pub mod migrations;
pub mod money;
pub mod native;
mod recover;
pub mod rollup;
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

/// A timestamp in milliseconds since the epoch, rendered like [`format_datetime`].
pub fn format_datetime_ms(ms: u64) -> String {
    chrono::DateTime::from_timestamp((ms / 1000) as i64, 0)
        .map(format_datetime)
        .unwrap_or_default()
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
        focus_staging_summary => "focus_staging_summary",
        focus_staging_days => "focus_staging_days",
        focus_replaced_files => "focus_replaced_files",
        focus_totals => "focus_totals",
        costs_by_group => "costs_by_group",
        bench_focus_native => "bench_focus_native",
        allocation_inputs => "allocation_inputs",
        allocation_metrics => "allocation_metrics",
        cost_day_range => "cost_day_range",
        allocations_by_group => "allocations_by_group",
        explain_service => "explain_service",
        k8s_node_days => "k8s_node_days",
        k8s_pod_days => "k8s_pod_days",
        slurm_job_days => "slurm_job_days",
        // Leases, staged commits, the batch log, checkpoints.
        lease_active => "lease_active",
        lease_held_by => "lease_held_by",
        staging_create => "staging_create",
        staging_drop => "staging_drop",
        table_partitions => "table_partitions",
        partition_replace => "partition_replace",
        partition_attach => "partition_attach",
        partition_copy => "partition_copy",
        partition_drop => "partition_drop",
        leftover_tables => "leftover_tables",
        batch_log_open => "batch_log_open",
        checkpoint_get => "checkpoint_get",
        source_runs_status => "source_runs_status",
        source_runs_since => "source_runs_since",
        leases_table => "leases_table",
        rollup_focus_costs_daily => "rollup_focus_costs_daily",
        rollup_focus_tags_daily => "rollup_focus_tags_daily",
        rollup_allocations_daily => "rollup_allocations_daily",
        rollup_check_focus_costs_daily => "rollup_check_focus_costs_daily",
        rollup_check_focus_tags_daily => "rollup_check_focus_tags_daily",
        rollup_check_allocations_daily => "rollup_check_allocations_daily",
        // Allocation by day: multi-day charges, spans, conservation on staging.
        allocation_spread_inputs => "allocation_spread_inputs",
        allocation_spread_span => "allocation_spread_span",
        slurm_job_span => "slurm_job_span",
        allocations_staged_balance => "allocations_staged_balance",
        // Alerts and deliveries (alerts crate: store, delivery).
        alerts_list => "alerts_list",
        deliveries_get => "deliveries_get",
        alerts_service_owners => "alerts_service_owners",
        // Anomaly detection and budgets (alerts crate: detect, budget).
        budget_charge_keys => "budget_charge_keys",
        budget_allocations => "budget_allocations",
        budget_focus => "budget_focus",
        budget_future_sources => "budget_future_sources",
        budget_data_days => "budget_data_days",
        detect_owner_series => "detect_owner_series",
        detect_billing_series => "detect_billing_series",
        detect_owner_causes => "detect_owner_causes",
        detect_billing_causes => "detect_billing_causes",
        detect_last_days => "detect_last_days",
        // Slack (alerts crate: slack).
        // Weekly email (alerts crate: email).
        email_daily => "email_daily",
        email_pools => "email_pools",
        email_recommendations => "email_recommendations",
        // REST API (#10)
        tokens_list => "tokens_list",
        api_costs_owners => "api_costs_owners",
        api_costs_billing => "api_costs_billing",
        api_costs_tag => "api_costs_tag",
        api_data_generation => "api_data_generation",
        workload_migrations_list => "workload_migrations_list",
        workload_migration_events => "workload_migration_events",
        migration_measured_costs => "migration_measured_costs",
        recommend_k8s_workloads => "recommend_k8s_workloads",
        recommend_k8s_costs => "recommend_k8s_costs",
        recommend_k8s_span => "recommend_k8s_span",
        recommend_vm_usage => "recommend_vm_usage",
        recommend_vm_costs => "recommend_vm_costs",
        recommend_vm_span => "recommend_vm_span",
        recommend_vm_k8s_nodes => "recommend_vm_k8s_nodes",
        recommend_slurm_workloads => "recommend_slurm_workloads",
        recommend_slurm_costs => "recommend_slurm_costs",
        recommend_slurm_span => "recommend_slurm_span",
        recommendations_latest => "recommendations_latest",
        api_allocations => "api_allocations",
        api_service_teams => "api_service_teams",
        api_recommendations => "api_recommendations",
        // metrics (#10)
        metrics_source_runs => "metrics_source_runs",
        metrics_month_costs => "metrics_month_costs",
        // export (#10)
        export_focus_allocations => "export_focus_allocations",
        export_focus_services => "export_focus_services",
        // bench/api (#10)
        bench_api_recommendations => "bench_api_recommendations",
        // price catalog (#9)
        catalog_current => "catalog_current",
        catalog_versions => "catalog_versions",
    }
}

pub mod rows;

#[cfg(feature = "test-support")]
pub mod testing;
