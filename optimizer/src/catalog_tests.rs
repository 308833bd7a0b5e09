//! The parser against every header shape (the extract's own and SkyPilot's raw ones, rebuilt
//! here from the headers the extract's README lists), GCP host + accelerator pricing, and
//! errors naming the file, line and column.
use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn text_of(name: &str) -> &'static str {
    EMBEDDED.iter().find(|(n, _)| *n == name).unwrap().1
}

/// The raw SkyPilot headers (README "Source headers"), before GpuInfo/Generation were dropped.
const RAW_HEADERS: &[(&str, &str)] = &[
    ("aws", "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone"),
    ("gcp", "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice"),
    ("azure", "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation"),
    ("lambda", "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice"),
    ("runpod", "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Region,SpotPrice,Price,AvailabilityZone"),
];

/// Rewrite an extract file in SkyPilot's raw layout for its cloud: columns in the raw order,
/// GpuInfo as SkyPilot writes it (a quoted dict with commas), Generation for Azure, CRLF line
/// ends and a byte-order mark.
fn as_raw(provider: &str, unified: &str) -> String {
    let header = RAW_HEADERS.iter().find(|(p, _)| *p == provider).unwrap().1;
    let mut reader = csv::Reader::from_reader(unified.as_bytes());
    let names: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut out = String::from("\u{feff}");
    out.push_str(header);
    out.push_str("\r\n");
    for record in reader.records() {
        let record = record.unwrap();
        let get = |name: &str| record[names.iter().position(|n| n == name).unwrap()].to_string();
        let fields: Vec<String> = header
            .split(',')
            .map(|column| match column {
                "InstanceType" => get("instance_type"),
                "AcceleratorName" => get("accelerator_name"),
                "AcceleratorCount" => get("accelerator_count"),
                "vCPUs" => get("vcpus"),
                "MemoryGiB" => get("memory_gib"),
                "Price" => get("price_hourly_usd"),
                "SpotPrice" => get("spot_price_hourly_usd"),
                "Region" => get("region"),
                "AvailabilityZone" => get("zone"),
                "GpuInfo" if !get("accelerator_name").is_empty() => format!(
                    "\"{{'Gpus': [{{'Name': '{}', 'Count': {}}}], 'TotalGpuMemoryInMiB': 16384}}\"",
                    get("accelerator_name"),
                    get("accelerator_count")
                ),
                "GpuInfo" => String::new(),
                "Generation" => "V1, V2".into(),
                other => panic!("{other}"),
            })
            .map(|f| {
                if f.contains(',') && !f.starts_with('"') {
                    format!("\"{f}\"")
                } else {
                    f
                }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

fn without_origin(rows: Vec<CatalogRow>) -> Vec<CatalogRow> {
    rows.into_iter()
        .map(|mut r| {
            r.source.clear();
            r.line = 0;
            r
        })
        .collect()
}

#[test]
fn the_embedded_extract_parses_with_the_readme_counts() {
    let expected = [
        ("aws.csv", 552),
        ("gcp.csv", 503),
        ("azure.csv", 364),
        ("lambda.csv", 306),
        ("runpod.csv", 695),
    ];
    let mut total = 0;
    for (name, rows) in expected {
        let parsed = parse(text_of(name).as_bytes(), name, None).unwrap();
        assert_eq!(parsed.len(), rows, "{name}");
        let provider = name.trim_end_matches(".csv");
        assert!(parsed.iter().all(|r| r.provider == provider), "{name}");
        total += rows;
    }
    let rows = embedded_rows();
    assert_eq!(rows.len(), total);
    assert_eq!(total, 2420);
    // Line numbers are an editor's: the header is line 1.
    let first = &rows[0];
    assert_eq!(
        (
            first.source.as_str(),
            first.line,
            first.instance_type.as_str()
        ),
        ("aws.csv", 2, "c5.2xlarge")
    );
    let gcp = parse(text_of("gcp.csv").as_bytes(), "gcp.csv", None).unwrap();
    assert_eq!(gcp.last().unwrap().line, 504);
    // Exact decimals: `0.189500` is 0.1895; the row `aws,c5.2xlarge,8.0,16.0,,,eu-west-1,
    // euw1-az1,0.384,0.189500`.
    assert_eq!(first.price_hourly_usd, Some(d("0.384")));
    assert_eq!(first.spot_price_hourly_usd, Some(d("0.1895")));
    assert_eq!(first.vcpus, Some(d("8")));
    assert_eq!(first.zone.as_deref(), Some("euw1-az1"));
    // Azure has no zones; Lambda no spot prices.
    assert!(rows
        .iter()
        .filter(|r| r.provider == "azure" || r.provider == "lambda")
        .all(|r| r.zone.is_none()));
    assert!(rows
        .iter()
        .filter(|r| r.provider == "lambda")
        .all(|r| r.spot_price_hourly_usd.is_none() && r.price_hourly_usd.is_some()));
    // g4dn.16xlarge's AcceleratorCount `1.0` is one T4.
    let g4dn = rows
        .iter()
        .find(|r| r.instance_type == "g4dn.16xlarge")
        .unwrap();
    assert_eq!(
        g4dn.accelerator,
        Some(Accelerator {
            name: "T4".into(),
            count: d("1")
        })
    );
    // p5e.48xlarge (us-west-2, usw2-az3) has a spot price and no on-demand price.
    let p5e = rows
        .iter()
        .find(|r| r.instance_type == "p5e.48xlarge")
        .unwrap();
    assert_eq!(p5e.price_hourly_usd, None);
    assert_eq!(p5e.spot_price_hourly_usd, Some(d("15.7656")));
}

#[test]
fn every_raw_skypilot_header_reads_like_the_unified_one() {
    for (provider, _) in RAW_HEADERS {
        let name = format!("{provider}.csv");
        let unified = parse(text_of(&name).as_bytes(), &name, None).unwrap();
        let raw_text = as_raw(provider, text_of(&name));
        // No provider column: the provider comes from SkyPilot's path `<cloud>/vms.csv`.
        let path = format!("catalogs/v7/{provider}/vms.csv");
        let from_path = provider_from_path(std::path::Path::new(&path));
        assert_eq!(from_path.as_deref(), Some(*provider));
        let raw = parse(raw_text.as_bytes(), &path, from_path.as_deref()).unwrap();
        assert_eq!(raw.len(), unified.len(), "{provider}");
        assert_eq!(raw[0].line, 2, "{provider}: BOM and CRLF keep editor lines");
        assert_eq!(raw.last().unwrap().line, unified.len() as u64 + 1);
        assert_eq!(
            without_origin(raw),
            without_origin(unified),
            "{provider}: raw and unified headers give the same rows"
        );
    }
}

#[test]
fn columns_are_found_by_name_in_any_order_and_case() {
    let text = "Zone,SPOT_PRICE_HOURLY_USD,region,Price,memory_gib,VCPUS,instance_type,extra\n\
                us-east-1a,0.05,us-east-1,0.1,8,2,m5.large,ignored\n";
    let rows = parse(text.as_bytes(), "x.csv", Some("aws")).unwrap();
    assert_eq!(
        rows,
        vec![CatalogRow {
            provider: "aws".into(),
            instance_type: "m5.large".into(),
            vcpus: Some(d("2")),
            memory_gib: Some(d("8")),
            accelerator: None,
            region: "us-east-1".into(),
            zone: Some("us-east-1a".into()),
            price_hourly_usd: Some(d("0.1")),
            spot_price_hourly_usd: Some(d("0.05")),
            source: "x.csv".into(),
            line: 2,
        }]
    );
    // No spot column at all: no spot prices. Scientific notation and `nan` as pandas writes.
    let text = "InstanceType,vCPUs,MemoryGiB,Price,Region\nt,1,1,1e-05,r\nu,1,1,nan,r\n";
    let rows = parse(text.as_bytes(), "y.csv", Some("x")).unwrap();
    assert_eq!(rows[0].price_hourly_usd, Some(d("0.00001")));
    assert_eq!(rows[0].spot_price_hourly_usd, None);
    assert_eq!(rows[1].price_hourly_usd, None);
    // A provider column wins over the default; an empty cell falls back to it.
    let text = "provider,InstanceType,vCPUs,MemoryGiB,Price,Region\nAWS,t,1,1,1,r\n,u,1,1,1,r\n";
    let rows = parse(text.as_bytes(), "z.csv", Some("azure")).unwrap();
    assert_eq!(rows[0].provider, "aws");
    assert_eq!(rows[1].provider, "azure");
    assert_eq!(
        provider_from_path(std::path::Path::new("/x/runpod.csv")).as_deref(),
        Some("runpod")
    );
    assert_eq!(
        provider_from_path(std::path::Path::new("/x/prices.csv")),
        None
    );
    assert_eq!(provider_from_path(std::path::Path::new("/x/vms.csv")), None);
}

fn err(text: &str, provider: Option<&str>) -> String {
    parse(text.as_bytes(), "bad.csv", provider)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_input_names_file_line_column_and_expectation() {
    let header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone";
    let good = "c5.large,,,2.0,4.0,,0.085,0.03,us-east-1,use1-az1";
    // A decimal comma in the price, line 3 (after a good line 2).
    let text = format!("{header}\n{good}\nc5.xlarge,,,4.0,8.0,,\"0,17\",0.06,us-east-1,use1-az1\n");
    assert_eq!(
        err(&text, Some("aws")),
        "bad.csv: line 3: column 7 (Price): expected a price in USD per hour like 0.0705, at \
         least 0, at most 18 decimals (empty: none), found \"0,17\""
    );
    // Negative spot price.
    let text = format!("{header}\nc5.large,,,2.0,4.0,,0.085,-0.03,us-east-1,use1-az1\n");
    assert!(
        err(&text, Some("aws"))
            .starts_with("bad.csv: line 2: column 8 (SpotPrice): expected a price"),
        "{}",
        err(&text, Some("aws"))
    );
    // Too many decimals for Decimal(38, 18).
    let text = format!("{header}\nc5.large,,,2.0,4.0,,0.0000000000000000001,,us-east-1,use1-az1\n");
    assert!(err(&text, Some("aws")).contains("column 7 (Price)"));
    // Zero vCPUs on an instance row.
    let text = format!("{header}\nc5.large,,,0,4.0,,0.085,,us-east-1,use1-az1\n");
    assert_eq!(
        err(&text, Some("aws")),
        "bad.csv: line 2: column 4 (vCPUs): expected a positive number of vCPUs like 4 or 0.25, found \"0\""
    );
    // An accelerator without a count.
    let text = format!("{header}\np3.2xlarge,V100,,8,61,,3.06,,us-east-1,use1-az1\n");
    assert!(err(&text, Some("aws")).starts_with(
        "bad.csv: line 2: column 3 (AcceleratorCount): expected a positive accelerator count"
    ));
    // A count without an accelerator.
    let text = format!("{header}\nc5.large,,2,2.0,4.0,,0.085,,us-east-1,use1-az1\n");
    assert!(err(&text, Some("aws"))
        .contains("column 3 (AcceleratorCount): expected an empty or zero count"));
    // No instance type and no accelerator.
    let text = format!("{header}\n,,,2.0,4.0,,0.085,,us-east-1,use1-az1\n");
    assert!(err(&text, Some("aws"))
        .starts_with("bad.csv: line 2: column 1 (InstanceType): expected an instance type"));
    // vCPUs on an accelerator-only row.
    let text = "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice\n,8,,A100,1,,us-central1,us-central1-a,2.9,1.1\n";
    assert!(err(text, Some("gcp")).starts_with(
        "bad.csv: line 2: column 2 (vCPUs): expected an empty value on an accelerator-only row"
    ));
    // Empty region.
    let text = format!("{header}\nc5.large,,,2.0,4.0,,0.085,,,use1-az1\n");
    assert!(err(&text, Some("aws"))
        .starts_with("bad.csv: line 2: column 9 (Region): expected a region name"));
    // A missing column, named as SkyPilot and the extract name it.
    let text = "InstanceType,vCPUs,MemoryGiB,Region\nc5.large,2,4,us-east-1\n";
    assert_eq!(
        err(text, Some("aws")),
        "bad.csv: line 1: no column Price (or price_hourly_usd); the header has: InstanceType,vCPUs,MemoryGiB,Region"
    );
    // A column twice under its two names.
    let text = "InstanceType,vCPUs,MemoryGiB,Region,Price,price_hourly_usd\n";
    assert_eq!(
        err(text, Some("aws")),
        "bad.csv: line 1: column 6 (price_hourly_usd) repeats column 5 (both are Price (or price_hourly_usd))"
    );
    // A short line.
    let text = format!("{header}\n{good}\nc5.large,,,2.0\n");
    assert_eq!(
        err(&text, Some("aws")),
        "bad.csv: line 3: expected 10 fields as in the header, found 4"
    );
    // Not UTF-8 (Latin-1 é in the region).
    let mut bytes = format!("{header}\n{good}\nc5.large,,,2.0,4.0,,0.085,,us-east-1").into_bytes();
    bytes.extend_from_slice(b"\xe9,use1-az1\n");
    assert_eq!(
        parse(&bytes, "bad.csv", Some("aws"))
            .unwrap_err()
            .to_string(),
        "bad.csv: line 3: column 9: not UTF-8 text"
    );
    // No provider anywhere.
    let text = format!("{header}\n{good}\n");
    assert!(err(&text, None).starts_with("bad.csv: line 2: no provider"));
    // Empty file.
    assert!(err("", None).starts_with("bad.csv: empty file"));
    // CRLF line ends count lines as an editor does.
    let text =
        format!("{header}\r\n{good}\r\n{good}\r\nc5.large,,,x,4.0,,0.085,,us-east-1,use1-az1\r\n");
    assert!(err(&text, Some("aws")).starts_with("bad.csv: line 4: column 4 (vCPUs)"));
}

#[test]
fn duplicate_keys_merge_to_the_lowest_prices_and_shapes_must_agree() {
    // AWS's p4de.24xlarge pairs (GpuInfo dropped): one row with a spot price, one without.
    let rows = embedded_rows();
    let p4de: Vec<&CatalogRow> = rows
        .iter()
        .filter(|r| r.instance_type == "p4de.24xlarge" && r.zone.as_deref() == Some("usw2-az1"))
        .collect();
    assert_eq!(p4de.len(), 2);
    let (merged, count) = merge_duplicates(rows.clone()).unwrap();
    assert_eq!(count, 5);
    assert_eq!(merged.len(), 2415);
    let one: Vec<&CatalogRow> = merged
        .iter()
        .filter(|r| r.instance_type == "p4de.24xlarge" && r.zone.as_deref() == Some("usw2-az1"))
        .collect();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].price_hourly_usd, Some(d("40.96575")));
    assert_eq!(one[0].spot_price_hourly_usd, Some(d("7.107")));

    let text =
        "InstanceType,vCPUs,MemoryGiB,Price,Region\nm5.large,2,8,0.1,r\nm5.large,2,16,0.1,r\n";
    let rows = parse(text.as_bytes(), "dup.csv", Some("aws")).unwrap();
    assert_eq!(
        merge_duplicates(rows).unwrap_err().to_string(),
        "dup.csv: line 3: aws m5.large in r is also at dup.csv:2 with another shape (vCPUs \
         Some(2) and memory Some(16) GiB against Some(2) and Some(8)); one of them is wrong"
    );
}

fn offer<'a>(catalog: &'a Catalog, instance_type: &str, zone: &str) -> &'a Offer {
    catalog
        .offers
        .iter()
        .find(|o| o.instance_type == instance_type && o.zone.as_deref() == Some(zone))
        .unwrap_or_else(|| panic!("{instance_type} in {zone}"))
}

#[test]
fn gcp_gpu_vms_are_host_plus_accelerator_rows() {
    let catalog = Catalog::embedded();
    // a2-highgpu-1g us-central1-a: host 0.73948 / 0.29576 + A100 x1 2.93391 / 1.1472.
    let a2 = offer(&catalog, "a2-highgpu-1g", "us-central1-a");
    assert_eq!(a2.on_demand_hourly_usd, Some(d("3.67339")));
    assert_eq!(a2.spot_hourly_usd, Some(d("1.44296")));
    assert_eq!((a2.vcpus, a2.memory_gib), (d("12"), d("85")));
    assert_eq!(
        a2.accelerator,
        Some(Accelerator {
            name: "A100".into(),
            count: d("1")
        })
    );
    assert_eq!(
        a2.gcp_parts,
        Some(GcpParts {
            host_on_demand: Some(d("0.73948")),
            host_spot: Some(d("0.29576")),
            accelerator_on_demand: Some(d("2.93391")),
            accelerator_spot: Some(d("1.1472")),
        })
    );
    // g2-standard-24 europe-west4-a: host 0.92571 / 0.37042 + L4 x2 1.17608 / 0.4212.
    let g2 = offer(&catalog, "g2-standard-24", "europe-west4-a");
    assert_eq!(g2.on_demand_hourly_usd, Some(d("2.10179")));
    assert_eq!(g2.spot_hourly_usd, Some(d("0.79162")));
    // Every G2 size SkyPilot puts one L4 on gets it: g2-standard-4, -8, -16, -32 here.
    let mut l4_hosts: Vec<&str> = catalog
        .offers
        .iter()
        .filter(|o| o.zone.as_deref() == Some("us-central1-a"))
        .filter(|o| {
            o.accelerator
                .as_ref()
                .is_some_and(|a| a.name == "L4" && a.count == d("1"))
        })
        .map(|o| o.instance_type.as_str())
        .collect();
    l4_hosts.sort();
    assert_eq!(
        l4_hosts,
        [
            "g2-standard-16",
            "g2-standard-32",
            "g2-standard-4",
            "g2-standard-8"
        ]
    );
    // Host VMs are never CPU offers; a3-edgegpu-8g (no SkyPilot accelerator mapping) and B200
    // (no a4-highgpu-8g host in the extract) make no offer.
    assert!(!catalog
        .offers
        .iter()
        .any(|o| o.instance_type.starts_with("g2-") && o.accelerator.is_none()));
    assert!(!catalog
        .offers
        .iter()
        .any(|o| o.instance_type == "a3-edgegpu-8g"));
    assert!(!catalog
        .offers
        .iter()
        .any(|o| o.accelerator.as_ref().is_some_and(|a| a.name == "B200")));
    // a2-megagpu-16g exists in asia-southeast1-c only, A100 x16 in -b and -c: one offer there.
    assert_eq!(
        catalog
            .offers
            .iter()
            .filter(|o| o.instance_type == "a2-megagpu-16g" && o.region == "asia-southeast1")
            .count(),
        1
    );
    // GCP's 162 GPU host rows (a2: 55, a3: 44 with a3-edgegpu-8g's 7, g2: 63) are no CPU offers.
    let report = &catalog.report;
    assert_eq!(report.rows, 2415);
    assert_eq!(
        report.not_offered["gcp GPU host VM (priced with its accelerator rows)"],
        162
    );
    // B200 (2 rows) and A100 x16 in asia-southeast1-b have no host in their zone.
    assert_eq!(
        report.not_offered["gcp accelerator without a host VM in its zone"],
        3
    );
    // Azure NC*ads_A10_v4 (3 types × 9 regions), NCC40ads_H100_v5 and ND40s_v3 rows.
    assert!(report.not_offered["GPU type whose accelerator the catalog does not name"] > 0);
    assert_eq!(report.offers, catalog.offers.len());
}

#[test]
fn raw_gcp_accelerator_rows_attach_as_skypilot_does() {
    // SkyPilot's raw GCP layout: accelerator-only rows with empty vCPUs and memory.
    let text = "\
InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice
n1-standard-8,8.0,30.0,,,,us-west1,us-west1-a,0.379998,0.08
n1-highmem-64,64.0,416.0,,,,us-west1,us-west1-a,3.7836,0.8
a2-highgpu-1g,12.0,85.0,,,,us-west1,us-west1-a,0.73948,0.29576
,,,T4,1,\"{'Gpus': [{'Name': 'T4', 'Count': 1}]}\",us-west1,us-west1-a,0.35,0.14
,0,0,A100,1,,us-west1,us-west1-a,2.93391,
,,,A100,1,,us-west1,us-west1-b,2.93391,1.1472
,,,tpu-v2-8,1,,us-west1,us-west1-a,4.5,1.35
";
    let rows = parse(text.as_bytes(), "gcp/vms.csv", Some("gcp")).unwrap();
    assert_eq!(rows[3].vcpus, None);
    assert_eq!(
        rows[4].vcpus, None,
        "zero vCPUs on an accelerator row is none"
    );
    let catalog = Catalog::from_rows(&rows);
    let mut offers: Vec<(String, String, Option<Decimal>, Option<Decimal>)> = catalog
        .offers
        .iter()
        .map(|o| {
            (
                o.instance_type.clone(),
                o.accelerator
                    .as_ref()
                    .map(|a| format!("{}:{}", a.name, a.count))
                    .unwrap_or_default(),
                o.on_demand_hourly_usd,
                o.spot_hourly_usd,
            )
        })
        .collect();
    offers.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    assert_eq!(
        offers,
        vec![
            // A100 on its A2 host; no spot: the accelerator row has none (NaN + x).
            (
                "a2-highgpu-1g".into(),
                "A100:1".into(),
                Some(d("3.67339")),
                None
            ),
            // n1 hosts are CPU offers too.
            (
                "n1-highmem-64".into(),
                String::new(),
                Some(d("3.7836")),
                Some(d("0.8"))
            ),
            (
                "n1-standard-8".into(),
                String::new(),
                Some(d("0.379998")),
                Some(d("0.08"))
            ),
            // T4 on N1 hosts within GCP's limit for one T4 (48 vCPUs, 312 GB): not n1-highmem-64.
            (
                "n1-standard-8".into(),
                "T4:1".into(),
                Some(d("0.729998")),
                Some(d("0.22"))
            ),
        ]
    );
    assert_eq!(catalog.report.not_offered["gcp TPU (not a VM)"], 1);
    assert_eq!(
        catalog.report.not_offered["gcp accelerator without a host VM in its zone"],
        1
    );
}
