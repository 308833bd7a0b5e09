//! The mapping of allocation lines to FOCUS rows, and both encodings read back by costmill's own
//! FOCUS reader in strict mode (no ClickHouse needed; api/tests/export.rs runs the whole path).
use std::ops::ControlFlow;

use ingest::focus::normalize::{focus_schema, BatchStamp};
use ingest::focus::{ColumnMap, Normalizer};
use queries::native::NativeBlock;
use queries::Dec18;

use super::encode::Encoder;
use super::focus::{AllocationLine, BillingService, FocusLine, Origins, COLUMNS};
use super::ExportFormat;

const UNIT: i128 = 1_000_000_000_000_000_000;

fn line(kind: &str, method: &str, cost_source: &str, input_ref: &str) -> AllocationLine {
    AllocationLine {
        day: 20_698, // 2026-09-02
        service: "ledger".into(),
        team: "payments".into(),
        env: "prod".into(),
        currency: "USD".into(),
        kind: kind.into(),
        pool: String::new(),
        method: method.into(),
        cost_source: cost_source.into(),
        input_ref: input_ref.into(),
        share: Dec18(UNIT),
        billed: Dec18(12 * UNIT + 345_678_901_234_567_891),
        effective: Dec18(-(3 * UNIT) - 1),
        input_rows: 3,
        run_id: "run".into(),
        computed_at: 1_788_000_000,
    }
}

fn origins() -> Origins {
    Origins::new(vec![BillingService {
        provider: "AWS".into(),
        service_name: "Amazon Elastic Compute Cloud".into(),
        service_category: "Compute".into(),
        publisher: "Amazon Web Services".into(),
        invoice_issuer: "Amazon Web Services, Inc.".into(),
    }])
}

/// A few lines of every shape the allocator writes.
fn lines() -> Vec<FocusLine> {
    let origins = origins();
    let ec2 = "AWS / Amazon Elastic Compute Cloud";
    let mut pool = line("pool", "proportional:kafka_bytes", ec2, "kafka");
    pool.pool = "kafka > platform".into();
    let mut idle = line("idle", "kubernetes idle capacity", ec2, "prod/node-1");
    idle.env = String::new();
    [
        line("direct", "rule:pods", ec2, "k8s://prod/payments/ledger"),
        line(
            "direct",
            "rule:tagged",
            ec2,
            "i-0abc [spread 2026-09-01 → 2026-10-01]",
        ),
        line("unallocated", "no rule matched", "Azure / Tax", "(Tax)"),
        line(
            "direct",
            "rule:slurm",
            "price:configured / slurm partition gpu",
            "slurm://hpc/gpu/1001",
        ),
        pool,
        idle,
    ]
    .into_iter()
    .map(|l| FocusLine::new(l, &origins))
    .collect()
}

#[test]
fn lines_map_onto_focus_columns() {
    let lines = lines();
    let column = |name: &str| COLUMNS.iter().position(|(n, _)| *n == name).unwrap();
    let text = |l: &FocusLine, name: &str| match l.values()[column(name)] {
        super::focus::Value::Text(s) => s.to_string(),
        super::focus::Value::Null => "<null>".into(),
        other => format!("{other:?}"),
    };
    let k8s = &lines[0];
    assert_eq!(text(k8s, "ProviderName"), "AWS");
    assert_eq!(text(k8s, "ServiceName"), "Amazon Elastic Compute Cloud");
    assert_eq!(text(k8s, "ServiceCategory"), "Compute");
    assert_eq!(text(k8s, "PublisherName"), "Amazon Web Services");
    assert_eq!(text(k8s, "InvoiceIssuerName"), "Amazon Web Services, Inc.");
    assert_eq!(text(k8s, "ResourceId"), "k8s://prod/payments/ledger");
    assert_eq!(
        text(k8s, "Tags"),
        r#"{"env":"prod","service":"ledger","team":"payments"}"#
    );
    assert_eq!(text(k8s, "x_AllocationMethod"), "rule:pods");
    assert_eq!(
        text(k8s, "ChargeDescription"),
        "direct allocation to ledger by rule:pods: AWS / Amazon Elastic Compute Cloud, k8s://prod/payments/ledger"
    );
    // 2026-09-02: its day, and September as the billing period.
    let times = [
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
    ]
    .map(|c| k8s.values()[column(c)]);
    assert_eq!(
        times,
        [1_788_220_800, 1_790_812_800, 1_788_307_200, 1_788_393_600].map(super::focus::Value::Time)
    );
    assert_eq!(
        text(&lines[1], "ResourceId"),
        "i-0abc",
        "the spread note is not part of the resource"
    );
    // A charge without a resource, of a service without billing rows in the window.
    let tax = &lines[2];
    assert_eq!(text(tax, "ResourceId"), "<null>");
    assert_eq!(
        (
            text(tax, "ProviderName"),
            text(tax, "ServiceName"),
            text(tax, "ServiceCategory"),
            text(tax, "PublisherName"),
            text(tax, "InvoiceIssuerName")
        ),
        (
            "Azure".into(),
            "Tax".into(),
            "Other".into(),
            "Azure".into(),
            "Azure".into()
        )
    );
    let priced = &lines[3];
    assert_eq!(text(priced, "ProviderName"), "costmill");
    assert_eq!(text(priced, "ServiceName"), "slurm partition gpu");
    assert_eq!(text(priced, "ServiceCategory"), "Compute");
    let pool = &lines[4];
    assert_eq!(text(pool, "ResourceId"), "<null>");
    assert_eq!(text(pool, "x_Pool"), "kafka > platform");
    assert!(text(pool, "ChargeDescription").contains(" through pool kafka > platform: "));
    let idle = &lines[5];
    assert_eq!(
        text(idle, "Tags"),
        r#"{"service":"ledger","team":"payments"}"#
    );
    assert_eq!(text(idle, "ResourceId"), "<null>");
    // List and contracted cost repeat the effective cost.
    for l in &lines {
        let v = l.values();
        assert_eq!(v[column("ListCost")], v[column("EffectiveCost")]);
        assert_eq!(v[column("ContractedCost")], v[column("EffectiveCost")]);
    }
}

/// Encode, write to a file, read it with costmill's FOCUS reader and normalize every row
/// strictly: the fields read back, and the problems (errors and deviations) found.
fn read_back(format: ExportFormat, lines: &[FocusLine]) -> (Vec<Vec<String>>, Vec<String>) {
    let mut encoder = Encoder::new(format, Vec::new()).unwrap();
    // Two chunks: two CSV writes, two Parquet row groups.
    let (first, second) = lines.split_at(lines.len() / 2);
    encoder.write(first).unwrap();
    encoder.write(second).unwrap();
    let bytes = encoder.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export");
    std::fs::write(&path, bytes).unwrap();
    if format == ExportFormat::Parquet {
        use polars::prelude::{ParquetReader, SerReader};
        let mut reader = ParquetReader::new(std::fs::File::open(&path).unwrap());
        let groups = reader.get_metadata().unwrap().row_groups.len();
        let chunks = [first, second].iter().filter(|c| !c.is_empty()).count();
        assert_eq!(groups, chunks, "one row group per chunk written");
    }
    let mut records = ingest::reader::open(&path).unwrap();
    let headers = records.headers().to_vec();
    let expected: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    assert_eq!(headers, expected);
    let map = ColumnMap::new(&headers).expect("every mandatory FOCUS column");
    let stamp = BatchStamp {
        source: "export".into(),
        batch_id: "b".into(),
        ingested_at: 0,
    };
    let mut normalizer = Normalizer::new(map, stamp, "export".into());
    let mut block = NativeBlock::new(&focus_schema());
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    records
        .for_each_record(&mut |_, fields| {
            let mut found = Vec::new();
            normalizer.normalize_into(fields, 1, &mut found, &mut block);
            problems.extend(found.into_iter().map(|p| format!("{p:?}")));
            rows.push(fields.iter().map(|f| f.to_string()).collect());
            ControlFlow::Continue(())
        })
        .unwrap();
    (rows, problems)
}

#[test]
fn csv_and_parquet_read_back_strictly_with_exact_amounts() {
    let lines = lines();
    let column = |name: &str| COLUMNS.iter().position(|(n, _)| *n == name).unwrap();
    for format in [ExportFormat::Csv, ExportFormat::Parquet] {
        let (rows, problems) = read_back(format, &lines);
        assert_eq!(problems, Vec::<String>::new(), "{format:?}");
        assert_eq!(rows.len(), lines.len(), "{format:?}");
        for (row, line) in rows.iter().zip(&lines) {
            let amount = |name: &str| {
                ingest::focus::values::parse_decimal(&row[column(name)])
                    .unwrap()
                    .value
            };
            assert_eq!(amount("BilledCost"), line.line.billed, "{format:?}");
            assert_eq!(amount("EffectiveCost"), line.line.effective, "{format:?}");
            assert_eq!(amount("x_Share"), line.line.share, "{format:?}");
            let start = ingest::focus::values::parse_timestamp(&row[column("ChargePeriodStart")]);
            assert_eq!(start, Some(1_788_307_200), "{format:?}");
            assert_eq!(row[column("x_Team")], "payments", "{format:?}");
            assert_eq!(row[column("ChargeClass")], "", "{format:?}");
        }
    }
}

#[test]
fn an_empty_export_is_a_valid_file() {
    for format in [ExportFormat::Csv, ExportFormat::Parquet] {
        let (rows, problems) = read_back(format, &[]);
        assert!(rows.is_empty() && problems.is_empty(), "{format:?}");
    }
}
