//! A real ClickHouse for integration tests: `COSTMILL_TEST_CLICKHOUSE_URL` when set, otherwise a
//! managed server shared by all test processes (under the system temp dir), with one fresh
//! database per test so tests run in parallel.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{ClickHouseConfig, Store};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The data dir of the shared test server.
pub fn test_data_dir() -> PathBuf {
    std::env::var_os("COSTMILL_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("costmill-test-clickhouse"))
}

/// Settings pointing at the test server with a database of our own.
pub fn test_config(name: &str) -> ClickHouseConfig {
    let database = format!(
        "t_{}_{}_{}",
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    ClickHouseConfig {
        url: std::env::var("COSTMILL_TEST_CLICKHOUSE_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        database,
        ..ClickHouseConfig::default()
    }
}

/// A migrated, empty database for one test.
pub async fn test_store(name: &str) -> Store {
    let config = test_config(name);
    // A database left by an earlier run whose process had the same pid starts over.
    let stale = Store::connect(&config, &test_data_dir())
        .await
        .unwrap_or_else(|e| panic!("test ClickHouse: {e}"));
    stale
        .execute(
            &crate::Query::new(
                "drop test database",
                "DROP DATABASE IF EXISTS {db:Identifier}",
            )
            .bind_ident("db", &config.database),
        )
        .await
        .unwrap_or_else(|e| panic!("test ClickHouse: {e}"));
    Store::open(&config, &test_data_dir())
        .await
        .unwrap_or_else(|e| panic!("test ClickHouse: {e}"))
}
