//! FOCUS ingestion against a real ClickHouse: exact totals, idempotent re-ingest, every kind of
//! bad input refused with its location and nothing changed.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ingest::generate::{self, Flavor, FocusVersion, GenerateOptions};
use ingest::sink::focus::DeviationCount;
use ingest::{IngestError, RunOptions};
use queries::rows::SourceTotal;
use queries::testing::test_store;
use queries::{q, Store};
use rust_decimal::Decimal;

type Totals = BTreeMap<(String, u32), (u64, Decimal, Decimal)>;

fn options(rows: u64, seed: u64) -> GenerateOptions {
    GenerateOptions {
        rows,
        seed,
        ..GenerateOptions::default()
    }
}

fn write_csv(dir: &Path, name: &str, options: &GenerateOptions) -> PathBuf {
    let path = dir.join(name);
    generate::write_csv(options, std::fs::File::create(&path).unwrap()).unwrap();
    path
}

/// Sums per provider and billing month computed straight from the file, without costmill's parser.
fn expected_totals(path: &Path) -> Totals {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h)).unwrap();
    let (provider, period, billed, effective) = (
        col(&["Provider", "ProviderName"]),
        col(&["BillingPeriodStart"]),
        col(&["BilledCost"]),
        col(&["EffectiveCost"]),
    );
    let mut totals = Totals::new();
    for record in reader.records() {
        let record = record.unwrap();
        let month: u32 = record[period][..7].replace('-', "").parse().unwrap();
        let entry = totals
            .entry((record[provider].to_string(), month))
            .or_default();
        entry.0 += 1;
        entry.1 += Decimal::from_str(&record[billed]).unwrap();
        entry.2 += Decimal::from_str(&record[effective]).unwrap();
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
                (
                    r.rows,
                    r.billed.to_decimal().unwrap(),
                    r.effective.to_decimal().unwrap(),
                ),
            )
        })
        .collect()
}

/// What a FOCUS run landed, from its report.
#[derive(Debug)]
struct Landed {
    rows: u64,
    batch_id: String,
    replaced: Vec<String>,
    deviations: Vec<DeviationCount>,
}

async fn ingest_with(
    store: &Store,
    paths: &[PathBuf],
    source: &str,
    options: RunOptions,
) -> Result<Landed, IngestError> {
    let report = ingest::ingest_focus(store, paths, source, &options).await?;
    let (staged, commit) = report.commits.into_iter().next().expect("one FOCUS commit");
    Ok(Landed {
        rows: staged.rows,
        batch_id: commit.batch_id,
        replaced: commit.partitions,
        deviations: staged.focus.expect("FOCUS detail").deviations,
    })
}

async fn ingest(
    store: &Store,
    paths: &[PathBuf],
    source: &str,
    strict: bool,
) -> Result<Landed, IngestError> {
    let options = RunOptions {
        strict,
        max_errors: 10,
        ..RunOptions::default()
    };
    ingest_with(store, paths, source, options).await
}

async fn staging_tables(store: &Store) -> u64 {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Count {
        n: u64,
    }
    let sql = format!(
        "SELECT count() AS n FROM system.tables WHERE database = '{}' AND startsWith(name, '_costmill_')",
        store.database()
    );
    store
        .client()
        .query_raw(&sql)
        .fetch_one::<Count>()
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn totals_per_provider_and_month_equal_the_input_to_the_last_decimal() {
    let store = test_store("totals").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(dir.path(), "export.csv", &options(30_000, 7));
    let expected = expected_totals(&path);
    assert_eq!(expected.len(), 9, "3 providers × 3 months");

    let report = ingest(&store, &[path.clone()], "aws-and-friends", false)
        .await
        .unwrap();
    assert_eq!(report.rows, 30_000);
    assert_eq!(live_totals(&store, "aws-and-friends").await, expected);
    // The export flavor carries the deviations real exports have; they are counted, not fatal.
    let kinds: Vec<_> = report
        .deviations
        .iter()
        .map(|d| d.kind.describe())
        .collect();
    assert!(
        kinds.contains(&"mandatory value missing")
            && kinds.contains(&"enumeration value in non-standard casing"),
        "{kinds:?}"
    );
    assert_eq!(report.replaced.len(), 3);
    assert_eq!(staging_tables(&store).await, 0);

    // Rows are encoded by hand: read one back as the typed row and compare it with the file.
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let first = reader.records().next().unwrap().unwrap();
    let field = |name: &str| first[headers.iter().position(|h| h == name).unwrap()].to_string();
    let rows: Vec<queries::rows::FocusRow> = store
        .client()
        .query_raw("SELECT * FROM focus_costs WHERE x_SourceRow = 2")
        .fetch_all()
        .await
        .unwrap();
    let row = &rows[0];
    assert_eq!(row.BillingAccountId, field("BillingAccountId"));
    assert_eq!(row.ServiceName, field("ServiceName"));
    assert_eq!(row.ResourceId, field("ResourceId"));
    assert_eq!(row.SubAccountName, field("SubAccountName"));
    assert_eq!(
        row.BilledCost.to_decimal().unwrap(),
        Decimal::from_str(&field("BilledCost")).unwrap()
    );
    assert_eq!(
        row.ListUnitPrice.unwrap().to_decimal().unwrap(),
        Decimal::from_str(&field("ListUnitPrice")).unwrap()
    );
    assert_eq!(
        Some(row.Tags.as_str()).filter(|t| !t.is_empty()),
        Some(field("Tags").as_str()).filter(|t| *t != "NULL" && !t.is_empty())
    );
    let tags: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.Tags).unwrap_or_default();
    assert_eq!(row.x_TagKeys.len(), tags.len());
    assert_eq!(
        (
            row.x_Source.as_str(),
            row.x_SourceFile.as_str(),
            row.x_SourceRow
        ),
        ("aws-and-friends", "export.csv", 2)
    );
    assert_eq!(row.x_BatchId, report.batch_id);
    assert!(row.x_RowFingerprint != 0 && row.x_IngestedAt > 1_700_000_000);
    assert_eq!(
        queries::format_datetime(
            chrono::DateTime::from_timestamp(row.ChargePeriodStart.into(), 0).unwrap()
        ),
        "2026-08-01 00:00:00"
    );
}

#[tokio::test]
async fn reingesting_a_period_replaces_it_and_never_double_counts() {
    let store = test_store("reingest").await;
    let dir = tempfile::tempdir().unwrap();
    let first = write_csv(dir.path(), "first.csv", &options(8_000, 1));
    let restated = write_csv(dir.path(), "restated.csv", &options(6_000, 2));
    let other = write_csv(dir.path(), "other.csv", &options(4_000, 3));

    ingest(&store, &[first.clone()], "billing", false)
        .await
        .unwrap();
    ingest(&store, &[first.clone()], "billing", false)
        .await
        .unwrap();
    assert_eq!(
        live_totals(&store, "billing").await,
        expected_totals(&first)
    );

    // Another source's months are separate partitions and stay untouched by a restatement.
    ingest(&store, &[other.clone()], "other", false)
        .await
        .unwrap();
    ingest(&store, &[restated.clone()], "billing", false)
        .await
        .unwrap();
    assert_eq!(
        live_totals(&store, "billing").await,
        expected_totals(&restated)
    );
    assert_eq!(live_totals(&store, "other").await, expected_totals(&other));
}

#[tokio::test]
async fn gzip_parquet_and_focus_1_0_headers_land_the_same_totals() {
    let store = test_store("formats").await;
    let dir = tempfile::tempdir().unwrap();
    let base = options(5_000, 11);
    let csv = write_csv(dir.path(), "plain.csv", &base);
    let expected = expected_totals(&csv);

    let gz = dir.path().join("export.csv.gz");
    let mut encoder = generate::gz_writer(Box::new(std::fs::File::create(&gz).unwrap()));
    generate::write_csv(&base, &mut encoder).unwrap();
    encoder.finish().unwrap();
    ingest(&store, &[gz], "gz", false).await.unwrap();
    assert_eq!(live_totals(&store, "gz").await, expected);

    let parquet = dir.path().join("export.parquet");
    generate::write_parquet(&base, &parquet, 1_500).unwrap();
    let report = ingest(&store, &[parquet], "parquet", false).await.unwrap();
    assert_eq!(report.rows, 5_000);
    assert_eq!(live_totals(&store, "parquet").await, expected);

    let v10 = write_csv(
        dir.path(),
        "v10.csv",
        &GenerateOptions {
            version: FocusVersion::V1_0,
            ..base.clone()
        },
    );
    assert!(std::fs::read_to_string(&v10)
        .unwrap()
        .starts_with("BillingAccountId"));
    ingest(&store, &[v10.clone()], "v10", false).await.unwrap();
    assert_eq!(live_totals(&store, "v10").await, expected);

    let clickhouse_flavor = write_csv(
        dir.path(),
        "ch.csv",
        &GenerateOptions {
            flavor: Flavor::Clickhouse,
            ..base
        },
    );
    ingest(&store, &[clickhouse_flavor], "ch", false)
        .await
        .unwrap();
    assert_eq!(live_totals(&store, "ch").await, expected);
}

/// Rewrite a generated file, changing records through `edit(line, headers, record)`.
fn mutate(src: &Path, dst: &Path, edit: impl Fn(u64, &csv::StringRecord, &mut Vec<String>)) {
    let mut reader = csv::Reader::from_path(src).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_path(dst).unwrap();
    writer.write_record(&headers).unwrap();
    for (i, record) in reader.records().enumerate() {
        let mut fields: Vec<String> = record.unwrap().iter().map(str::to_string).collect();
        edit(i as u64 + 2, &headers, &mut fields);
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
}

fn set(headers: &csv::StringRecord, fields: &mut [String], column: &str, value: &str) {
    let i = headers.iter().position(|h| h == column).unwrap();
    fields[i] = value.to_string();
}

/// Ingest `bad` over a populated table: it must fail with every `needles` in the message and
/// leave the table exactly as it was.
async fn assert_refused(store: &Store, bad: &Path, strict: bool, needles: &[&str]) {
    let before = live_totals(store, "billing").await;
    let error = ingest(store, &[bad.to_path_buf()], "billing", strict)
        .await
        .unwrap_err();
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "expected {needle:?} in:\n{message}"
        );
    }
    assert!(message.contains("nothing was ingested"), "{message}");
    assert_eq!(
        live_totals(store, "billing").await,
        before,
        "a refused file changed the table"
    );
    assert_eq!(staging_tables(store).await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_file_line_column_and_changes_nothing() {
    let store = test_store("bad_input").await;
    let dir = tempfile::tempdir().unwrap();
    let good = write_csv(dir.path(), "good.csv", &options(3_000, 5));
    ingest(&store, &[good.clone()], "billing", false)
        .await
        .unwrap();
    let d = dir.path();

    // A missing mandatory column.
    let mut reader = csv::Reader::from_path(&good).unwrap();
    let headers = reader.headers().unwrap().clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&i| &headers[i] != "BilledCost")
        .collect();
    let no_billed = d.join("no_billed.csv");
    let mut writer = csv::Writer::from_path(&no_billed).unwrap();
    writer
        .write_record(keep.iter().map(|&i| &headers[i]))
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        writer
            .write_record(keep.iter().map(|&i| &record[i]))
            .unwrap();
    }
    writer.flush().unwrap();
    assert_refused(
        &store,
        &no_billed,
        false,
        &["no_billed.csv: line 1: missing mandatory FOCUS column BilledCost"],
    )
    .await;

    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("bad_decimal.csv", "BilledCost", "12,5", vec!["bad_decimal.csv: line 1500: column 12 (BilledCost): expected a decimal number", "\"12,5\""]),
        ("bad_time.csv", "ChargePeriodStart", "18/09/2026", vec!["bad_time.csv: line 1500: column 6 (ChargePeriodStart): expected a timestamp"]),
        ("bad_category.csv", "ChargeCategory", "Refund", vec!["line 1500: column 8 (ChargeCategory): expected one of Usage, Purchase, Tax, Credit, Adjustment, found \"Refund\""]),
        ("reversed.csv", "ChargePeriodEnd", "2026-08-01 00:00:00", vec!["line 1500: column 6 (ChargePeriodStart)", "is after ChargePeriodEnd 2026-08-01 00:00:00"]),
        ("bad_tags.csv", "Tags", "team=data", vec!["line 1500: column 45 (Tags): expected a JSON object"]),
    ];
    for (name, column, value, needles) in cases {
        let bad = d.join(name);
        mutate(&good, &bad, |line, headers, fields| {
            if line == 1500 {
                set(headers, fields, column, value);
                if column == "ChargePeriodEnd" {
                    set(headers, fields, "ChargePeriodStart", "2026-09-15 00:00:00");
                }
            }
        });
        assert_refused(&store, &bad, false, &needles).await;
    }

    // CRLF line ends and a byte-order mark, as Azure, Excel and Python's csv module write: the
    // line number is the line a text editor shows.
    let bad = d.join("bad_decimal.csv");
    let crlf = d.join("crlf.csv");
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(&crlf, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    assert_refused(
        &store,
        &crlf,
        false,
        &["crlf.csv: line 1500: column 12 (BilledCost): expected a decimal number"],
    )
    .await;

    // Non-UTF-8 bytes in one field.
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"Compute Engi")
        .unwrap();
    bytes[at + 2] = 0xff;
    let latin1 = d.join("latin1.csv");
    std::fs::write(&latin1, &bytes).unwrap();
    assert_refused(
        &store,
        &latin1,
        false,
        &["latin1.csv: line ", ": column ", "): not valid UTF-8"],
    )
    .await;

    // A file cut off in the middle of a row.
    let text = std::fs::read(&good).unwrap();
    let truncated = d.join("truncated.csv");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    assert_refused(
        &store,
        &truncated,
        false,
        &["truncated.csv: line ", "the file is truncated"],
    )
    .await;

    // A gzip stream cut off.
    let gz_path = d.join("cut.csv.gz");
    let mut encoder = generate::gz_writer(Box::new(std::fs::File::create(&gz_path).unwrap()));
    std::io::Write::write_all(&mut encoder, &text).unwrap();
    encoder.finish().unwrap();
    let gz_bytes = std::fs::read(&gz_path).unwrap();
    std::fs::write(&gz_path, &gz_bytes[..gz_bytes.len() * 2 / 3]).unwrap();
    assert_refused(&store, &gz_path, false, &["cut.csv.gz: line ", "truncated"]).await;

    // A truncated Parquet file has no footer.
    let parquet = d.join("cut.parquet");
    generate::write_parquet(&options(2_000, 5), &parquet, 500).unwrap();
    let pq = std::fs::read(&parquet).unwrap();
    std::fs::write(&parquet, &pq[..pq.len() - 100]).unwrap();
    assert_refused(
        &store,
        &parquet,
        false,
        &["cut.parquet: not a readable Parquet file"],
    )
    .await;

    // Deviations are errors under --strict.
    assert_refused(
        &store,
        &good,
        true,
        &["--strict refuses deviations", "mandatory value missing"],
    )
    .await;
}

#[tokio::test]
async fn max_errors_bounds_the_listing() {
    let store = test_store("max_errors").await;
    let dir = tempfile::tempdir().unwrap();
    let good = write_csv(dir.path(), "good.csv", &options(2_000, 9));
    let bad = dir.path().join("many.csv");
    mutate(&good, &bad, |line, headers, fields| {
        if line % 100 == 0 {
            set(headers, fields, "EffectiveCost", "n/a");
        }
    });
    let options = RunOptions {
        max_errors: 3,
        ..RunOptions::default()
    };
    let Err(IngestError::Invalid {
        problems,
        stopped_early,
    }) = ingest_with(&store, &[bad], "billing", options).await
    else {
        panic!("expected the file to be refused");
    };
    assert!(stopped_early);
    let lines: Vec<String> = problems.iter().map(|p| p.location.to_string()).collect();
    assert_eq!(lines, ["line 100", "line 200", "line 300"]);
    assert!(live_totals(&store, "billing").await.is_empty());
}

/// Records when each partition swap completed.
#[derive(Default)]
struct SwapClock(std::sync::Mutex<Vec<std::time::Instant>>);

impl ingest::Progress for SwapClock {
    fn partition_swapped(&self, _table: &str, _partition: &str) {
        self.0.lock().unwrap().push(std::time::Instant::now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_see_the_old_month_or_the_new_never_a_mix() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let store = test_store("concurrent").await;
    let dir = tempfile::tempdir().unwrap();
    let old = write_csv(dir.path(), "old.csv", &options(20_000, 21));
    let new = write_csv(dir.path(), "new.csv", &options(20_000, 22));
    ingest(&store, &[old.clone()], "billing", false)
        .await
        .unwrap();
    let (old_totals, new_totals) = (expected_totals(&old), expected_totals(&new));

    let reader_store = store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reader = tokio::spawn(async move {
        let mut reads = Vec::new();
        while !stop_reader.load(Ordering::SeqCst) {
            let started = std::time::Instant::now();
            for (key, value) in live_totals(&reader_store, "billing").await {
                assert!(
                    old_totals.get(&key) == Some(&value) || new_totals.get(&key) == Some(&value),
                    "{key:?} showed {value:?}, neither the old nor the new month"
                );
            }
            reads.push((started, std::time::Instant::now()));
        }
        reads
    });
    // Swap back and forth until reads have demonstrably overlapped swaps.
    let clock = Arc::new(SwapClock::default());
    for round in 0..6 {
        let file = if round % 2 == 0 { &new } else { &old };
        let options = RunOptions {
            progress: clock.clone(),
            ..RunOptions::default()
        };
        ingest_with(&store, &[file.clone()], "billing", options)
            .await
            .unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    let swaps = clock.0.lock().unwrap().clone();
    let overlaps = swaps
        .iter()
        .filter(|t| reads.iter().any(|(a, b)| a < *t && *t < b))
        .count();
    assert!(
        overlaps > 0,
        "no read overlapped any of {} swaps ({} reads): the test proved nothing",
        swaps.len(),
        reads.len()
    );
    assert_eq!(live_totals(&store, "billing").await, expected_totals(&old));
}
