//! Exact rollups committed with the tables they sum (`migrations/007_rollups.sql`).
//!
//! A rollup belongs to its source table, not to a writer: every [`crate::commit::Batch`] of
//! `focus_costs` or `allocations` fills the rollups' staging tables from its own staging table
//! (and, where a rollup partition spans more than the batch replaces, from the live rows the
//! batch keeps), then swaps them in the same commit, rolled back with it on failure and restored
//! with it on recovery. Readers of a rollup therefore see the same data as readers of its source.
use clickhouse::Row;
use serde::Deserialize;

use crate::{q, Query, Store, StoreError};

/// A table derived from a source table and committed with it.
#[derive(Debug, Clone, Copy)]
pub struct Rollup {
    pub table: &'static str,
    /// `INSERT INTO {rollup} SELECT … FROM {staging}` (may also read `{live}`, the source table,
    /// except its `{partitions}`, within `{rollup_partitions}`).
    pub fill: fn() -> Query,
    /// The rollup partition id that holds a source partition id.
    pub partition_of: fn(&str) -> String,
    /// How many rows of the rollup differ from one computed afresh from the source (0: exact).
    pub check: fn() -> Query,
}

fn same(id: &str) -> String {
    id.to_string()
}

/// `allocations` is partitioned by day (`YYYYMMDD`), its rollup by month (`YYYYMM`).
fn month_of_day(id: &str) -> String {
    id.get(..6).unwrap_or(id).to_string()
}

const FOCUS_COSTS: &[Rollup] = &[
    Rollup {
        table: "focus_costs_daily",
        fill: q::rollup_focus_costs_daily,
        partition_of: same,
        check: q::rollup_check_focus_costs_daily,
    },
    Rollup {
        table: "focus_tags_daily",
        fill: q::rollup_focus_tags_daily,
        partition_of: same,
        check: q::rollup_check_focus_tags_daily,
    },
];

const ALLOCATIONS: &[Rollup] = &[Rollup {
    table: "allocations_daily",
    fill: q::rollup_allocations_daily,
    partition_of: month_of_day,
    check: q::rollup_check_allocations_daily,
}];

/// The rollups of a table (none for most).
pub fn rollups_of(table: &str) -> &'static [Rollup] {
    match table {
        "focus_costs" => FOCUS_COSTS,
        "allocations" => ALLOCATIONS,
        _ => &[],
    }
}

/// The rollup partitions that hold the given source partitions, sorted, without repeats.
pub fn partitions_of<'a>(
    rollup: &Rollup,
    ids: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = ids
        .into_iter()
        .map(|id| (rollup.partition_of)(id))
        .collect();
    set.into_iter().collect()
}

/// Every rollup whose rows differ from its source's, with the number of differing rows: empty
/// when every rollup is exact.
pub async fn differences(store: &Store) -> Result<Vec<(&'static str, u64)>, StoreError> {
    #[derive(Row, Deserialize)]
    struct Count {
        n: u64,
    }
    let mut found = Vec::new();
    for rollup in FOCUS_COSTS.iter().chain(ALLOCATIONS) {
        let rows: Vec<Count> = store.fetch_all(&(rollup.check)()).await?;
        let n = rows.first().map_or(0, |c| c.n);
        if n > 0 {
            found.push((rollup.table, n));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_days_map_to_their_month() {
        let ids = ["20261030".to_string(), "20261031".into(), "20261101".into()];
        assert_eq!(
            partitions_of(&rollups_of("allocations")[0], &ids),
            vec!["202610".to_string(), "202611".into()]
        );
        let focus = ["abc".to_string()];
        assert_eq!(
            partitions_of(&rollups_of("focus_costs")[0], &focus),
            vec!["abc"]
        );
        assert!(rollups_of("k8s_pods").is_empty());
    }
}
