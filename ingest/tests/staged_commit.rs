//! The staged commit, leases and crash recovery against a real ClickHouse: a batch lands whole or
//! not at all, a crash mid-swap is rolled back on the next start, leftover staging tables are
//! removed, two writers never interleave.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingest::generate::{self, GenerateOptions};
use ingest::{IngestError, Progress, RunOptions};
use queries::commit::{BatchSpec, BatchTotals, Swap};
use queries::rows::SourceTotal;
use queries::testing::test_store;
use queries::{q, Store, StoreError};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

type Totals = BTreeMap<(String, u32), (u64, Decimal)>;

fn bill(dir: &Path, name: &str, rows: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let options = GenerateOptions {
        rows,
        seed,
        ..GenerateOptions::default()
    };
    generate::write_csv(&options, std::fs::File::create(&path).unwrap()).unwrap();
    path
}

/// BilledCost per provider and billing month, straight from the file.
fn file_totals(paths: &[PathBuf]) -> Totals {
    let mut totals = Totals::new();
    for path in paths {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (provider, period, billed) = (
            col("Provider"),
            col("BillingPeriodStart"),
            col("BilledCost"),
        );
        for record in reader.records() {
            let record = record.unwrap();
            let month: u32 = record[period][..7].replace('-', "").parse().unwrap();
            let slot = totals
                .entry((record[provider].to_string(), month))
                .or_default();
            slot.0 += 1;
            slot.1 += Decimal::from_str(&record[billed]).unwrap();
        }
    }
    totals
}

async fn live_totals(store: &Store, source: &str) -> Totals {
    let rows: Vec<SourceTotal> = store.fetch_all(&q::focus_totals()).await.unwrap();
    rows.into_iter()
        .filter(|r| r.source == source)
        .map(|r| {
            (
                (r.provider, r.period),
                (r.rows, r.billed.to_decimal().unwrap()),
            )
        })
        .collect()
}

/// A query over plain blocking HTTP: what a second client would do, usable from a callback.
fn http_query(store: &Store, sql: &str) -> String {
    let address = store.url().trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let path = format!("/?database={}", store.database());
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(" 200 "), "{sql}: {response}");
    body.to_string()
}

fn leftover_tables(store: &Store) -> Vec<String> {
    http_query(
        store,
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '_costmill_') FORMAT TSV",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn outcomes(store: &Store) -> Vec<String> {
    http_query(
        store,
        "SELECT outcome FROM batch_log ORDER BY seq FORMAT TSV",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Sabotages the commit: after the first partition is swapped, the staging table disappears,
/// so the next swap fails (as it would if the server lost the table or a disk).
struct DropStagingAfterFirstSwap {
    store: Store,
    swapped: Mutex<Vec<String>>,
}

impl Progress for DropStagingAfterFirstSwap {
    fn partition_swapped(&self, _table: &str, partition: &str) {
        let mut swapped = self.swapped.lock().unwrap();
        swapped.push(partition.to_string());
        if swapped.len() == 1 {
            for table in leftover_tables(&self.store) {
                if table.starts_with("_costmill_staging_") {
                    http_query(&self.store, &format!("DROP TABLE `{table}`"));
                }
            }
        }
    }
}

#[tokio::test]
async fn a_batch_over_several_months_lands_whole_or_not_at_all() {
    let store = test_store("rollback").await;
    let dir = tempfile::tempdir().unwrap();
    let old = bill(dir.path(), "old.csv", 12_000, 31);
    let new = bill(dir.path(), "new.csv", 12_000, 32);
    ingest::ingest_focus(&store, &[old.clone()], "billing", &RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        live_totals(&store, "billing").await,
        file_totals(&[old.clone()])
    );

    let saboteur = Arc::new(DropStagingAfterFirstSwap {
        store: store.clone(),
        swapped: Mutex::new(vec![]),
    });
    let options = RunOptions {
        progress: saboteur.clone(),
        ..RunOptions::default()
    };
    let error = ingest::ingest_focus(&store, &[new], "billing", &options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, IngestError::Store(StoreError::CommitFailed { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("restored"), "{error}");
    // One month had been swapped in before the failure; it is back to the old rows.
    assert_eq!(saboteur.swapped.lock().unwrap().len(), 1);
    assert_eq!(live_totals(&store, "billing").await, file_totals(&[old]));
    // The rollups committed with focus_costs are back too.
    assert_eq!(queries::rollup::differences(&store).await.unwrap(), vec![]);
    assert!(
        leftover_tables(&store).is_empty(),
        "{:?}",
        leftover_tables(&store)
    );
    assert_eq!(
        outcomes(&store).last().map(String::as_str),
        Some("rolled back")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_killed_mid_swap_is_rolled_back_on_the_next_start() {
    let store = test_store("crash").await;
    let dir = tempfile::tempdir().unwrap();
    let old = bill(dir.path(), "old.csv", 9_000, 41);
    ingest::ingest_focus(&store, &[old.clone()], "billing", &RunOptions::default())
        .await
        .unwrap();
    let before = live_totals(&store, "billing").await;

    /// Parks the committing task after its first swap, so the test can kill it there.
    struct Park(std::sync::mpsc::Sender<()>);
    impl queries::commit::CommitObserver for Park {
        fn partition_swapped(&self, _partition: &str) {
            let _ = self.0.send(());
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let spec = BatchSpec::new("ingest", "billing", "focus_costs", Swap::Replace)
        .with_lease_ttl(Duration::from_secs(2))
        .with_observer(Arc::new(Park(tx)));
    let batch = store.begin_batch(spec).await.unwrap();
    // The new version of every month: the old rows without one cloud service.
    store
        .client()
        .query_raw(&format!(
            "INSERT INTO `{}` SELECT * FROM focus_costs WHERE ServiceName != 'Amazon Elastic Compute Cloud'",
            batch.staging()
        ))
        .execute()
        .await
        .unwrap();
    let commit = tokio::spawn(batch.commit(BatchTotals::default()));
    tokio::task::spawn_blocking(move || rx.recv().unwrap())
        .await
        .unwrap();
    commit.abort();
    assert!(commit.await.unwrap_err().is_cancelled());
    // Killed after one swap: one month is new, the others old: exactly what recovery must undo.
    assert_ne!(live_totals(&store, "billing").await, before);
    assert_eq!(
        outcomes(&store).last().map(String::as_str),
        Some("swapping")
    );

    // While the dead writer's lease has not expired, recovery leaves its tables alone.
    store.recover().await.unwrap();
    assert_ne!(live_totals(&store, "billing").await, before);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let dropped = store.recover().await.unwrap();
    assert_eq!(live_totals(&store, "billing").await, before);
    assert_eq!(queries::rollup::differences(&store).await.unwrap(), vec![]);
    assert_eq!(
        dropped.len(),
        3,
        "the dead batch's staging tables (focus_costs and its two rollups): {dropped:?}"
    );
    assert!(leftover_tables(&store).is_empty());
    assert_eq!(
        outcomes(&store).last().map(String::as_str),
        Some("rolled back")
    );
}

#[tokio::test]
async fn leftover_staging_tables_go_on_start_unless_their_writer_is_alive() {
    let store = test_store("leftovers").await;
    let dead = "_costmill_staging_20260101000000_0badc0de_focus_costs";
    http_query(&store, &format!("CREATE TABLE `{dead}` AS focus_costs"));
    // A live writer's staging table stays.
    let live = store
        .begin_batch(BatchSpec::new(
            "ingest",
            "other",
            "focus_costs",
            Swap::Replace,
        ))
        .await
        .unwrap();
    let dropped = store.recover().await.unwrap();
    assert_eq!(dropped, [dead]);
    assert_eq!(leftover_tables(&store), [live.staging().to_string()]);
    live.abort("test done").await.unwrap();
    assert!(leftover_tables(&store).is_empty());
    // Identifiers with a backslash or a back quote are quoted so ClickHouse reads them back.
    let odd = "odd\\name`x";
    store
        .execute(
            &q::staging_create()
                .bind_ident("staging", odd)
                .bind_ident("live", "leases"),
        )
        .await
        .unwrap();
    assert!(http_query(
        &store,
        "SELECT name FROM system.tables WHERE database = currentDatabase() FORMAT TSV"
    )
    .lines()
    .any(|l| l == "odd\\\\name`x"));
    store
        .execute(&q::staging_drop().bind_ident("staging", odd))
        .await
        .unwrap();
}

#[tokio::test]
async fn one_lease_holder_at_a_time_and_an_expired_lease_is_taken_over() {
    let store = test_store("lease").await;
    let never = CancellationToken::new();
    let mut contenders = Vec::new();
    for i in 0..4 {
        let store = store.clone();
        let never = never.clone();
        contenders.push(tokio::spawn(async move {
            store
                .acquire_lease(
                    "job",
                    &format!("holder-{i}"),
                    &format!("test holder {i}"),
                    Duration::from_secs(2),
                    Duration::ZERO,
                    &never,
                )
                .await
        }));
    }
    let mut won = Vec::new();
    let mut refused = Vec::new();
    for c in contenders {
        match c.await.unwrap() {
            Ok(lease) => won.push(lease),
            Err(e) => refused.push(e.to_string()),
        }
    }
    assert_eq!(won.len(), 1, "exactly one winner, refused: {refused:?}");
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|e| e.contains("job is held by test holder")),
        "{refused:?}"
    );
    // Held and renewed past its time to live: still held.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(store
        .acquire_lease(
            "job",
            "late",
            "late",
            Duration::from_secs(2),
            Duration::ZERO,
            &never
        )
        .await
        .is_err());
    // A holder that dies (no renewal, no release) loses it when it expires.
    drop(won);
    let taken = store
        .acquire_lease(
            "job",
            "late",
            "late",
            Duration::from_secs(2),
            Duration::from_secs(5),
            &never,
        )
        .await
        .unwrap();
    taken.release().await.unwrap();
    assert!(store.lease_claims("job").await.unwrap().is_empty());
}

#[tokio::test]
async fn two_writers_of_the_same_source_never_interleave() {
    let store = test_store("writers").await;
    let dir = tempfile::tempdir().unwrap();
    let a = bill(dir.path(), "a.csv", 15_000, 51);
    let b = bill(dir.path(), "b.csv", 15_000, 52);
    let (sa, sb) = (store.clone(), store.clone());
    let (pa, pb) = (a.clone(), b.clone());
    let first = tokio::spawn(async move {
        ingest::ingest_focus(&sa, &[pa], "billing", &RunOptions::default()).await
    });
    let second = tokio::spawn(async move {
        ingest::ingest_focus(&sb, &[pb], "billing", &RunOptions::default()).await
    });
    let (ra, rb) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    // Both committed, one after the other: the live months are exactly one file's, never a mix.
    let live = live_totals(&store, "billing").await;
    assert!(
        live == file_totals(&[a.clone()]) || live == file_totals(&[b]),
        "a mix of two batches"
    );
    let ids = [&ra.commits[0].1.batch_id, &rb.commits[0].1.batch_id];
    assert_ne!(ids[0], ids[1]);

    // Without waiting, the second writer is refused with who holds the partitions.
    let holder = store
        .begin_batch(BatchSpec::new(
            "ingest",
            "billing",
            "focus_costs",
            Swap::Replace,
        ))
        .await
        .unwrap();
    let options = RunOptions {
        lease_wait: Duration::ZERO,
        ..RunOptions::default()
    };
    let error = ingest::ingest_focus(&store, &[a], "billing", &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("write/focus_costs/billing is held by ingest of `focus_costs`"),
        "{error}"
    );
    holder.abort("test done").await.unwrap();
}

#[tokio::test]
async fn a_month_in_part_files_is_replaced_as_one_set() {
    let store = test_store("parts").await;
    let dir = tempfile::tempdir().unwrap();
    let whole = bill(dir.path(), "whole.csv", 10_000, 61);
    // Split like real exports: part-00001 and part-00002, each with the header.
    let parts_dir = dir.path().join("2026-09");
    std::fs::create_dir(&parts_dir).unwrap();
    let text = std::fs::read_to_string(&whole).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let parts: Vec<PathBuf> = rows
        .chunks(rows.len() / 2 + 1)
        .enumerate()
        .map(|(i, chunk)| {
            let path = parts_dir.join(format!("part-{:05}.csv", i + 1));
            std::fs::write(&path, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
            path
        })
        .collect();
    assert_eq!(parts.len(), 2);
    let report = ingest::ingest_focus(
        &store,
        &[parts_dir.clone()],
        "billing",
        &RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.rows(), 10_000);
    let whole_totals = file_totals(&[whole]);
    assert_eq!(live_totals(&store, "billing").await, whole_totals);
    // Re-delivering only one part replaces the months it covers and says which file's rows went;
    // months it does not cover keep their rows.
    let report = ingest::ingest_focus(
        &store,
        &[parts[0].clone()],
        "billing",
        &RunOptions::default(),
    )
    .await
    .unwrap();
    let replaced = &report.commits[0].0.focus.as_ref().unwrap().replaced_files;
    assert!(
        !replaced.is_empty() && replaced.iter().all(|r| r.file == "part-00002.csv"),
        "{replaced:?}"
    );
    let mut expected = file_totals(&[parts[0].clone()]);
    let covered: Vec<u32> = expected.keys().map(|(_, month)| *month).collect();
    for (key, value) in whole_totals {
        if !covered.contains(&key.1) {
            expected.insert(key, value);
        }
    }
    assert_eq!(live_totals(&store, "billing").await, expected);
    // The rollups follow the replaced months and keep the others.
    assert_eq!(queries::rollup::differences(&store).await.unwrap(), vec![]);
    let rolled: String = http_query(
        &store,
        "SELECT toString(sum(billed)) FROM focus_costs_daily FORMAT TSV",
    );
    let expected_total: Decimal = expected.values().map(|(_, billed)| *billed).sum();
    assert_eq!(
        Decimal::from_str(rolled.trim()).unwrap().normalize(),
        expected_total.normalize()
    );
}
