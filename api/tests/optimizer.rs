//! `costmill catalog import|list` and `costmill placement` through the binary, on a real
//! ClickHouse: the built-in catalog imported, imported again (idempotent), a changed price
//! imported as a later version (latest wins, the old rows stay), an older version re-imported
//! (still the latest wins), SkyPilot's raw layout and a bad file; placement answers checked
//! against rows computed here from the CSV files with plain code (not the optimizer crate).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use queries::testing::test_store;
use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{dec, Db, BIN};

fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../optimizer/data/catalog")
}

fn run(db: &Db, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("COSTMILL_DATA_DIR", dir.join("data"))
        .env("COSTMILL_CLICKHOUSE__URL", &db.url)
        .env("COSTMILL_CLICKHOUSE__DATABASE", &db.database)
        .env_remove("COSTMILL_LOG")
        .output()
        .expect("costmill runs")
}

/// (stdout, stderr) of a run that must succeed.
fn costmill(db: &Db, dir: &Path, args: &[&str]) -> (String, String) {
    let output = run(db, dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "costmill {args:?}: {stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// A catalog row as the CSV has it.
#[derive(Debug, Clone)]
struct Row {
    provider: String,
    instance_type: String,
    vcpus: Option<Decimal>,
    memory: Option<Decimal>,
    accelerator: String,
    count: Option<Decimal>,
    region: String,
    zone: String,
    price: Option<Decimal>,
    spot: Option<Decimal>,
}

fn read_rows(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let opt = |s: &str| (!s.is_empty()).then(|| dec(s));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Row {
                provider: r[0].into(),
                instance_type: r[1].into(),
                vcpus: opt(&r[2]),
                memory: opt(&r[3]),
                accelerator: r[4].into(),
                count: opt(&r[5]),
                region: r[6].into(),
                zone: r[7].into(),
                price: opt(&r[8]),
                spot: opt(&r[9]),
            }
        })
        .collect()
}

/// One expected answer: (price, provider, region, zone, instance type, spot).
type Answer = (Decimal, String, String, String, String, bool);

/// CPU offers: rows with no accelerator, minus GCP's GPU hosts (a2, a3, g2) and Azure's
/// N-series without a named GPU, which are not CPU machines.
fn cpu_answers(rows: &[Row], vcpus: Decimal, memory: Decimal, spot: bool) -> Vec<Answer> {
    let mut out: Vec<Answer> = rows
        .iter()
        .filter(|r| r.accelerator.is_empty() && !r.instance_type.is_empty())
        .filter(|r| {
            !(r.provider == "gcp"
                && ["a2-", "a3-", "g2-"]
                    .iter()
                    .any(|p| r.instance_type.starts_with(p)))
        })
        .filter(|r| !(r.provider == "azure" && r.instance_type.starts_with("Standard_N")))
        .filter(|r| r.vcpus.unwrap() >= vcpus && r.memory.unwrap() >= memory)
        .filter_map(|r| {
            let price = if spot { r.spot } else { r.price }?;
            Some((
                price,
                r.provider.clone(),
                r.region.clone(),
                r.zone.clone(),
                r.instance_type.clone(),
                spot,
            ))
        })
        .collect();
    out.sort();
    out
}

fn answers_of(json: &str) -> Vec<Answer> {
    let rows: Vec<Value> = serde_json::from_str(json).unwrap();
    rows.iter()
        .map(|r| {
            (
                dec(r["hourly_usd"].as_str().unwrap()),
                r["provider"].as_str().unwrap().into(),
                r["region"].as_str().unwrap().into(),
                r["zone"].as_str().unwrap_or("").into(),
                r["instance_type"].as_str().unwrap().into(),
                r["spot"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn all_rows(dir: &Path) -> Vec<Row> {
    ["aws", "gcp", "azure", "lambda", "runpod"]
        .iter()
        .flat_map(|p| read_rows(&dir.join(format!("{p}.csv"))))
        .collect()
}

fn count(db: &Db, condition: &str) -> u64 {
    db.rows(&format!(
        "SELECT toString(count()) AS n FROM price_catalog FINAL WHERE {condition}"
    ))[0]["n"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn catalog_versions_and_placement_from_the_latest() {
    let store = test_store("optimizer").await;
    let db = Db::at(store.url(), store.database());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let builtin = all_rows(&catalog_dir());
    assert_eq!(builtin.len(), 2420);

    // An empty table: placement answers from the built-in catalog and says so.
    let four_by_sixteen = [
        "placement",
        "--cpus",
        "4",
        "--memory",
        "16",
        "--spot",
        "--format",
        "json",
        "--limit",
        "8",
    ];
    let (out, err) = costmill(&db, dir, &four_by_sixteen);
    assert!(
        err.contains("price_catalog is empty: using the built-in catalog"),
        "{err}"
    );
    let expected = cpu_answers(&builtin, dec("4"), dec("16"), true);
    assert_eq!(answers_of(&out), expected[..8].to_vec());
    // Azure's three D4 families compete: D4as_v5, D4_v5, D4s_v5 in eastus and westus3.
    assert_eq!(expected[0].4, "Standard_D4as_v5");
    let families: std::collections::BTreeSet<&str> =
        expected[..6].iter().map(|a| a.4.as_str()).collect();
    assert_eq!(
        families.into_iter().collect::<Vec<_>>(),
        ["Standard_D4_v5", "Standard_D4as_v5", "Standard_D4s_v5"]
    );
    let json: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["zone"], Value::Null, "Azure has no zones");
    assert_eq!(json[0]["vcpus"], "4");
    assert_eq!(json[0]["memory_gib"], "16");
    assert_eq!(json[0]["accelerators"], serde_json::json!([]));

    // Import the built-in copy: 2420 rows, the 5 duplicate p4de.24xlarge keys merged.
    let (out, _) = costmill(&db, dir, &["catalog", "import", "--builtin"]);
    assert!(
        out.contains("imported 2415 catalog rows as of 2026-11-22"),
        "{out}"
    );
    assert_eq!(count(&db, "1"), 2415);
    assert_eq!(count(&db, "provider = 'azure'"), 364);
    // Again: idempotent.
    costmill(&db, dir, &["catalog", "import", "--builtin"]);
    assert_eq!(count(&db, "1"), 2415);
    let (out, err) = costmill(&db, dir, &four_by_sixteen);
    assert!(
        err.contains("using the stored price catalog: 2415 rows, latest as of 2026-11-22"),
        "{err}"
    );
    assert_eq!(answers_of(&out), expected[..8].to_vec());

    // A later version of azure.csv: Standard_D4as_v5 eastus spot 0.01892 -> 0.0175, westus3
    // 0.01892 -> 0.03.
    let azure_text = std::fs::read_to_string(catalog_dir().join("azure.csv")).unwrap();
    let changed = azure_text
        .replace(
            "azure,Standard_D4as_v5,4.0,16,,,eastus,,0.172,0.01892",
            "azure,Standard_D4as_v5,4.0,16,,,eastus,,0.172,0.0175",
        )
        .replace(
            "azure,Standard_D4as_v5,4.0,16,,,westus3,,0.172,0.01892",
            "azure,Standard_D4as_v5,4.0,16,,,westus3,,0.172,0.03",
        );
    assert_ne!(changed, azure_text);
    let later = dir.join("later");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(later.join("azure.csv"), &changed).unwrap();
    let (out, _) = costmill(
        &db,
        dir,
        // A directory: its *.csv files.
        &["catalog", "import", "later", "--as-of", "2026-12-01"],
    );
    assert!(
        out.contains("imported 364 catalog rows as of 2026-12-01"),
        "{out}"
    );
    // History: the old version's rows are all kept, the new one added.
    assert_eq!(count(&db, "as_of = '2026-11-22'"), 2415);
    assert_eq!(count(&db, "as_of = '2026-12-01'"), 364);
    let old_price = db.rows(
        "SELECT toString(spot_price_hourly_usd) AS p FROM price_catalog FINAL \
         WHERE instance_type = 'Standard_D4as_v5' AND region = 'eastus' ORDER BY as_of",
    );
    let prices: Vec<Decimal> = old_price
        .iter()
        .map(|r| dec(r["p"].as_str().unwrap()))
        .collect();
    assert_eq!(prices, [dec("0.01892"), dec("0.0175")]);

    let mut current: Vec<Row> = all_rows(&catalog_dir())
        .into_iter()
        .filter(|r| r.provider != "azure")
        .collect();
    current.extend(read_rows(&later.join("azure.csv")));
    let expected_later = cpu_answers(&current, dec("4"), dec("16"), true);
    assert_eq!(expected_later[0].0, dec("0.0175"));
    assert_ne!(expected_later[..8], expected[..8]);
    let (out, err) = costmill(&db, dir, &four_by_sixteen);
    assert!(err.contains("latest as of 2026-12-01"), "{err}");
    assert_eq!(answers_of(&out), expected_later[..8].to_vec());

    // Importing the older version again changes nothing: the latest as_of still wins.
    costmill(&db, dir, &["catalog", "import", "--builtin"]);
    assert_eq!(count(&db, "1"), 2415 + 364);
    let (out, _) = costmill(&db, dir, &four_by_sixteen);
    assert_eq!(answers_of(&out), expected_later[..8].to_vec());

    // `catalog list`: the current offers with the new price, and each version on stderr.
    let (out, err) = costmill(
        &db,
        dir,
        &["catalog", "list", "--provider", "azure", "--format", "json"],
    );
    assert!(
        err.contains("azure: as of 2026-11-22: 364 rows, 0 current"),
        "{err}"
    );
    assert!(
        err.contains("azure: as of 2026-12-01: 364 rows, 364 current"),
        "{err}"
    );
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(listed.iter().all(|o| o["provider"] == "azure"));
    let d4as = listed
        .iter()
        .find(|o| o["instance_type"] == "Standard_D4as_v5" && o["region"] == "eastus")
        .unwrap();
    assert_eq!(d4as["spot_hourly_usd"], "0.0175");
    assert_eq!(d4as["on_demand_hourly_usd"], "0.172");

    // GPUs on GCP: host row + accelerator row, computed here from gcp.csv: L4 x1 goes on
    // g2-standard-4, -8, -12, -16 and -32 in the accelerator row's zone.
    let gcp = read_rows(&catalog_dir().join("gcp.csv"));
    let mut l4: Vec<Answer> = Vec::new();
    for accelerator in gcp.iter().filter(|r| {
        r.accelerator == "L4" && r.count == Some(dec("1")) && r.instance_type.is_empty()
    }) {
        for host in gcp.iter().filter(|h| {
            h.region == accelerator.region
                && h.zone == accelerator.zone
                && [
                    "g2-standard-4",
                    "g2-standard-8",
                    "g2-standard-12",
                    "g2-standard-16",
                    "g2-standard-32",
                ]
                .contains(&h.instance_type.as_str())
                && h.memory.unwrap() >= dec("20")
        }) {
            for (spot, a, b) in [
                (false, host.price, accelerator.price),
                (true, host.spot, accelerator.spot),
            ] {
                if let (Some(a), Some(b)) = (a, b) {
                    l4.push((
                        a + b,
                        "gcp".into(),
                        host.region.clone(),
                        host.zone.clone(),
                        host.instance_type.clone(),
                        spot,
                    ));
                }
            }
        }
    }
    l4.sort();
    let (out, _) = costmill(
        &db,
        dir,
        &[
            "placement",
            "--cpus",
            "2",
            "--memory",
            "20",
            "--gpus",
            "L4:1",
            "--providers",
            "gcp",
            "--format",
            "json",
            "--limit",
            "6",
        ],
    );
    assert_eq!(answers_of(&out), l4[..6].to_vec());
    // g2-standard-8 (32 GiB) is the smallest G2 with 20 GiB.
    assert_eq!(l4[0].4, "g2-standard-8");
    let json: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json[0]["accelerators"],
        serde_json::json!([{"name": "L4", "count": "1"}])
    );

    // Packing: 10 replicas of 1.5 vCPU / 3 GiB on spot, on the current catalog; each shape's
    // total computed here: nodes = ceil(10 / min(floor(vcpus / 1.5), floor(memory / 3))).
    let mut packed: Vec<(Decimal, Answer)> = cpu_answers(&current, dec("1.5"), dec("3"), true)
        .into_iter()
        .map(|a| {
            let row = current
                .iter()
                .find(|r| r.instance_type == a.4 && r.region == a.2 && r.zone == a.3)
                .unwrap();
            let per_node = (row.vcpus.unwrap() / dec("1.5"))
                .floor()
                .min((row.memory.unwrap() / dec("3")).floor());
            let nodes = (dec("10") / per_node).ceil();
            (a.0 * nodes, a)
        })
        .collect();
    packed.sort_by_key(|x| x.0);
    let (out, _) = costmill(
        &db,
        dir,
        &[
            "placement",
            "--cpus",
            "1.5",
            "--memory",
            "3",
            "--spot",
            "--replicas",
            "10",
            "--format",
            "json",
            "--limit",
            "5",
        ],
    );
    let json: Vec<Value> = serde_json::from_str(&out).unwrap();
    let totals: Vec<Decimal> = json
        .iter()
        .map(|r| dec(r["total_hourly_usd"].as_str().unwrap()))
        .collect();
    assert_eq!(totals, packed[..5].iter().map(|p| p.0).collect::<Vec<_>>());
    assert_eq!(
        answers_of(&out),
        packed[..5].iter().map(|p| p.1.clone()).collect::<Vec<_>>()
    );

    // SkyPilot's raw layout (its AWS header, with GpuInfo), the provider from the path.
    let raw_dir = dir.join("catalogs/v7/aws");
    std::fs::create_dir_all(&raw_dir).unwrap();
    std::fs::write(
        raw_dir.join("vms.csv"),
        "\u{feff}InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone\r\n\
         m6i.xlarge,,,4.0,16.0,,0.192,0.0101,us-east-1,use1-az1\r\n\
         g4dn.xlarge,T4,1.0,4.0,16.0,\"{'Gpus': [{'Name': 'T4', 'Count': 1}]}\",0.526,0.2,us-east-1,use1-az1\r\n",
    )
    .unwrap();
    // images.csv next to it is not a price catalog: a directory import takes vms.csv only.
    std::fs::write(raw_dir.join("images.csv"), "Tag,Region,ImageId\n").unwrap();
    let (out, _) = costmill(
        &db,
        dir,
        &["catalog", "import", "catalogs", "--as-of", "2026-12-02"],
    );
    assert!(
        out.contains("imported 2 catalog rows as of 2026-12-02"),
        "{out}"
    );
    assert_eq!(count(&db, "as_of = '2026-12-02' AND provider = 'aws'"), 2);
    let (out, _) = costmill(&db, dir, &four_by_sixteen);
    let first = &answers_of(&out)[0];
    assert_eq!(
        (first.0, first.4.as_str(), first.3.as_str()),
        (dec("0.0101"), "m6i.xlarge", "use1-az1")
    );

    // A bad file: refused with file, line and column; nothing written.
    let bad = dir.join("bad.csv");
    let mut text: Vec<&str> = azure_text.lines().take(3).collect();
    text.push("azure,Standard_D2s_v5,2.0,8,,,westus,,0.108,\"0,01\"");
    std::fs::write(&bad, text.join("\n")).unwrap();
    let before = count(&db, "1");
    let output = run(
        &db,
        dir,
        &["catalog", "import", "bad.csv", "--as-of", "2026-12-03"],
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(
            "bad.csv: line 4: column 10 (spot_price_hourly_usd): expected a price in USD per hour"
        ),
        "{err}"
    );
    assert_eq!(count(&db, "1"), before);

    // Bad requests name the flag or the value.
    for (args, message) in [
        (
            vec!["--providers", "awz"],
            "provider \"awz\" is not in the catalog",
        ),
        (
            vec!["--gpus", "A100:x"],
            "--gpus \"A100:x\": expected MODEL:COUNT",
        ),
        (
            vec!["--regions", "mars-1"],
            "region \"mars-1\" is not in the catalog",
        ),
    ] {
        let mut full = vec!["placement", "--cpus", "1", "--memory", "1"];
        full.extend(args);
        let output = run(&db, dir, &full);
        assert!(!output.status.success());
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(message), "{err}");
    }

    // The table format, like SkyPilot's optimizer table: one line per choice.
    let (out, _) = costmill(
        &db,
        dir,
        &[
            "placement",
            "--cpus",
            "4",
            "--memory",
            "16",
            "--on-demand",
            "--limit",
            "3",
        ],
    );
    assert!(out.contains("$/HOUR") && out.contains("on-demand"), "{out}");
    let expected_od = cpu_answers(&current, dec("4"), dec("16"), false);
    assert!(out.contains(&expected_od[0].4), "{out}");
    let per_provider: BTreeMap<String, u64> = db
        .rows("SELECT provider, toString(count()) AS n FROM price_catalog FINAL GROUP BY provider")
        .iter()
        .map(|r| {
            (
                r["provider"].as_str().unwrap().to_string(),
                r["n"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_provider["lambda"], 306);
    assert_eq!(per_provider["azure"], 364 * 2);

    // A file named after nothing and without a provider column needs --provider.
    std::fs::write(
        dir.join("prices.csv"),
        "InstanceType,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\n\
         m6i.xlarge,4.0,16.0,0.192,0.0099,us-east-1,use1-az2\n",
    )
    .unwrap();
    let output = run(&db, dir, &["catalog", "import", "prices.csv"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("prices.csv: line 2: no provider"), "{err}");
    let (out, _) = costmill(
        &db,
        dir,
        &[
            "catalog",
            "import",
            "prices.csv",
            "--provider",
            "aws",
            "--as-of",
            "2026-12-04",
        ],
    );
    assert!(
        out.contains("imported 1 catalog rows as of 2026-12-04"),
        "{out}"
    );
    let (out, _) = costmill(&db, dir, &four_by_sixteen);
    let first = &answers_of(&out)[0];
    assert_eq!(
        (first.0, first.1.as_str(), first.3.as_str()),
        (dec("0.0099"), "aws", "use1-az2")
    );
}
