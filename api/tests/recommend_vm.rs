//! `costmill recommend` for cloud VMs seen in billing, through the binary on a real ClickHouse:
//! two weeks of daily FOCUS rows shaped as AWS's and Microsoft's exports write them (an EC2
//! instance on demand with data transfer billed to it and tagged for spot, one under a Savings
//! Plan, a Windows one, a Kubernetes node's instance, two Azure VMs at an enterprise discount, a
//! GCP core SKU and an RDS instance that name no VM type) with their allocated cost. The expected
//! figures are computed here from the catalog CSVs with plain code: the cheapest on-demand shape of
//! every family at the rate billing shows (billed effective rate, else the catalog price × the
//! provider's observed discount), and the cheapest spot shape plus interruptions.
use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

mod common;
use common::{costmill, dec, Db};

const START: &str = "2026-10-01 00:00:00";
const DAYS: u64 = 14;

/// One billed resource, 24 hours a day for the 14 days.
struct BilledVm {
    provider: &'static str,
    /// The catalog's provider name.
    catalog: &'static str,
    resource: &'static str,
    service_name: &'static str,
    region: &'static str,
    region_name: &'static str,
    zone: &'static str,
    description: &'static str,
    unit: &'static str,
    /// The instance type as the catalog names it; "" where the text names none.
    instance_type: &'static str,
    linux: bool,
    list_hourly: &'static str,
    billed_hourly: &'static str,
    effective_hourly: &'static str,
    pricing_category: &'static str,
    /// CommitmentDiscountType and CommitmentDiscountId.
    commitment: (&'static str, &'static str),
    spot_tag: &'static str,
    /// Data transfer billed to the same resource, USD a day.
    transfer_per_day: &'static str,
    team: &'static str,
    app: &'static str,
}

const NODE: &str = "arn:aws:ec2:us-east-1:123456789012:instance/i-0d4e5f60718293a4b";
const SAVINGS_PLAN: &str =
    "arn:aws:savingsplans::412345678901:savingsplan/3f1c2a7e-5b9d-4e8a-a1c6-0d2f4b6e8a9c";

const VMS: [BilledVm; 8] = [
    BilledVm {
        provider: "AWS",
        catalog: "aws",
        resource: "arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60718",
        service_name: "Amazon Elastic Compute Cloud",
        region: "us-east-1",
        region_name: "US East (N. Virginia)",
        zone: "us-east-1a",
        description: "$0.2016 per On Demand Linux m7i.xlarge Instance Hour",
        unit: "Hrs",
        instance_type: "m7i.xlarge",
        linux: true,
        list_hourly: "0.2016",
        billed_hourly: "0.2016",
        effective_hourly: "0.2016",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "allowed",
        transfer_per_day: "0.2",
        team: "payments",
        app: "ledger",
    },
    BilledVm {
        provider: "AWS",
        catalog: "aws",
        resource: "i-0b2c3d4e5f6071829",
        service_name: "Amazon Elastic Compute Cloud",
        region: "us-east-1",
        region_name: "US East (N. Virginia)",
        zone: "us-east-1b",
        description: "$0.192 per On Demand Linux m5.xlarge Instance Hour",
        unit: "Hours",
        instance_type: "m5.xlarge",
        linux: true,
        list_hourly: "0.192",
        billed_hourly: "0",
        effective_hourly: "0.13824",
        pricing_category: "Committed",
        commitment: ("Savings Plan", SAVINGS_PLAN),
        spot_tag: "",
        transfer_per_day: "0",
        team: "search",
        app: "indexer",
    },
    BilledVm {
        provider: "AWS",
        catalog: "aws",
        resource: "i-0c3d4e5f607182930",
        service_name: "Amazon Elastic Compute Cloud",
        region: "us-east-1",
        region_name: "US East (N. Virginia)",
        zone: "us-east-1c",
        description: "$0.384 per On Demand Windows m5.xlarge Instance Hour",
        unit: "Hours",
        instance_type: "m5.xlarge",
        linux: false,
        list_hourly: "0.384",
        billed_hourly: "0.384",
        effective_hourly: "0.384",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "allowed",
        transfer_per_day: "0",
        team: "growth",
        app: "reports",
    },
    BilledVm {
        provider: "AWS",
        catalog: "aws",
        resource: NODE,
        service_name: "Amazon Elastic Compute Cloud",
        region: "us-east-1",
        region_name: "US East (N. Virginia)",
        zone: "us-east-1b",
        description: "$0.768 per On Demand Linux m5.4xlarge Instance Hour",
        unit: "Hours",
        instance_type: "m5.4xlarge",
        linux: true,
        list_hourly: "0.768",
        billed_hourly: "0.768",
        effective_hourly: "0.768",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "allowed",
        transfer_per_day: "0",
        team: "platform",
        app: "k8s-core",
    },
    BilledVm {
        provider: "Microsoft",
        catalog: "azure",
        resource: "/subscriptions/5c9f7b3e-1a2d-4e8f-9b6c-7d1e2f3a4b5c/resourcegroups/rg-web/providers/microsoft.compute/virtualmachines/web-1",
        service_name: "Virtual Machines",
        region: "eastus",
        region_name: "East US",
        zone: "",
        description: "Virtual Machines Dsv5 Series - D4s v5 - US East",
        unit: "Hours",
        instance_type: "Standard_D4s_v5",
        linux: true,
        list_hourly: "0.192",
        billed_hourly: "0.1728",
        effective_hourly: "0.1728",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "",
        transfer_per_day: "0",
        team: "checkout",
        app: "checkout-web",
    },
    BilledVm {
        provider: "Microsoft",
        catalog: "azure",
        resource: "/subscriptions/5c9f7b3e-1a2d-4e8f-9b6c-7d1e2f3a4b5c/resourcegroups/rg-data/providers/microsoft.compute/virtualmachines/etl-1",
        service_name: "Virtual Machines",
        region: "eastus",
        region_name: "East US",
        zone: "",
        description: "Virtual Machines Esv5 Series - E4s v5 - US East",
        unit: "Hours",
        instance_type: "Standard_E4s_v5",
        linux: true,
        list_hourly: "0.252",
        billed_hourly: "0.2268",
        effective_hourly: "0.2268",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "allowed",
        transfer_per_day: "0",
        team: "data",
        app: "etl",
    },
    BilledVm {
        provider: "Google Cloud",
        catalog: "gcp",
        resource: "//compute.googleapis.com/projects/acme-prod-4821/zones/us-central1-a/instances/vm-1",
        service_name: "Compute Engine",
        region: "us-central1",
        region_name: "Iowa",
        zone: "us-central1-a",
        description: "N2 Instance Core running in Americas",
        unit: "Hours",
        instance_type: "",
        linux: true,
        list_hourly: "0.031611",
        billed_hourly: "0.031611",
        effective_hourly: "0.031611",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "",
        transfer_per_day: "0",
        team: "ml",
        app: "training",
    },
    BilledVm {
        provider: "AWS",
        catalog: "aws",
        resource: "arn:aws:rds:us-east-1:123456789012:db:orders",
        service_name: "Amazon Relational Database Service",
        region: "us-east-1",
        region_name: "US East (N. Virginia)",
        zone: "us-east-1a",
        description: "$0.171 per RDS db.m5.large instance hour (or partial hour) running MySQL",
        unit: "Hrs",
        instance_type: "",
        linux: true,
        list_hourly: "0.171",
        billed_hourly: "0.171",
        effective_hourly: "0.171",
        pricing_category: "Standard",
        commitment: ("", ""),
        spot_tag: "",
        transfer_per_day: "0",
        team: "payments",
        app: "orders-db",
    },
];

fn per_day(hourly: &str) -> Decimal {
    dec(hourly) * Decimal::from(24)
}

fn setup(db: &Db) {
    for vm in &VMS {
        let (keys, values) = if vm.spot_tag.is_empty() {
            (
                "['team', 'service']".to_string(),
                format!("['{}', '{}']", vm.team, vm.app),
            )
        } else {
            (
                "['team', 'service', 'costmill.io/spot']".to_string(),
                format!("['{}', '{}', '{}']", vm.team, vm.app, vm.spot_tag),
            )
        };
        let (commitment_type, commitment_id) = vm.commitment;
        let status = if commitment_id.is_empty() { "" } else { "Used" };
        let row = |description: &str,
                   unit: &str,
                   quantity: Decimal,
                   list: Decimal,
                   billed: Decimal,
                   effective: Decimal,
                   unit_price: Decimal| {
            format!(
                "INSERT INTO focus_costs (BillingAccountId, BillingCurrency, BillingPeriodStart, BillingPeriodEnd, \
                 ChargePeriodStart, ChargePeriodEnd, ChargeCategory, ChargeDescription, ChargeFrequency, \
                 BilledCost, EffectiveCost, ListCost, ContractedCost, ListUnitPrice, PricingQuantity, PricingUnit, \
                 ConsumedQuantity, ConsumedUnit, PricingCategory, Provider, Publisher, InvoiceIssuer, ServiceName, \
                 ServiceCategory, ResourceId, RegionId, RegionName, AvailabilityZone, CommitmentDiscountId, \
                 CommitmentDiscountType, CommitmentDiscountStatus, x_TagKeys, x_TagValues, x_Source) \
                 SELECT '412345678901', 'USD', toDateTime('2026-10-01 00:00:00', 'UTC'), toDateTime('2026-11-01 00:00:00', 'UTC'), \
                 toDateTime('{START}', 'UTC') + number * 86400, toDateTime('{START}', 'UTC') + (number + 1) * 86400, \
                 'Usage', '{description}', 'Usage-Based', toDecimal128('{billed}', 18), toDecimal128('{effective}', 18), \
                 toDecimal128('{list}', 18), toDecimal128('{effective}', 18), toDecimal128('{unit_price}', 18), \
                 toDecimal128('{quantity}', 18), '{unit}', toDecimal128('{quantity}', 18), '{unit}', '{category}', \
                 '{provider}', '{provider}', '{provider}', '{service}', 'Compute', '{resource}', '{region}', \
                 '{region_name}', '{zone}', '{commitment_id}', '{commitment_type}', '{status}', {keys}, {values}, 'bill' \
                 FROM numbers({DAYS})",
                category = vm.pricing_category,
                provider = vm.provider,
                service = vm.service_name,
                resource = vm.resource,
                region = vm.region,
                region_name = vm.region_name,
                zone = vm.zone,
            )
        };
        db.query(&row(
            vm.description,
            vm.unit,
            Decimal::from(24),
            per_day(vm.list_hourly),
            per_day(vm.billed_hourly),
            per_day(vm.effective_hourly),
            dec(vm.list_hourly),
        ));
        let transfer = dec(vm.transfer_per_day);
        if !transfer.is_zero() {
            // At 0.02 a GB, billed to the instance.
            db.query(&row(
                "$0.02 per GB - US East (Northern Virginia) data transfer to US East (Ohio)",
                "GB",
                transfer / dec("0.02"),
                transfer,
                transfer,
                transfer,
                dec("0.02"),
            ));
        }
        // What `costmill allocate` makes of resource-level rows: input_ref is the ResourceId. The
        // node's rows too, so that only the node rule keeps it out.
        let billed = per_day(vm.billed_hourly) + transfer;
        let effective = per_day(vm.effective_hourly) + transfer;
        db.query(&format!(
            "INSERT INTO allocations (day, service, team, env, currency, kind, method, cost_source, input_ref, share, billed, effective, input_rows, computed_at) \
             SELECT toDate('{START}') + number, '{app}', '{team}', 'prod', 'USD', 'direct', 'rule:tagged', \
             '{provider} / {service}', '{resource}', 1, toDecimal128('{billed}', 18), toDecimal128('{effective}', 18), 1, now() \
             FROM numbers({DAYS})",
            app = vm.app,
            team = vm.team,
            provider = vm.provider,
            service = vm.service_name,
            resource = vm.resource,
        ));
    }
    // The node's instance runs a Kubernetes node (no pods: no Kubernetes recommendation).
    db.query(&format!(
        "INSERT INTO k8s_nodes SELECT 'prod', 'node-0', 'aws:///us-east-1b/i-0d4e5f60718293a4b', 'm5.4xlarge', 16, \
         68719476736, 0, toDateTime('{START}', 'UTC') + number * 3600, \
         toDateTime('{START}', 'UTC') + number * 3600 + 3600, now() FROM numbers({})",
        DAYS * 24
    ));
}

/// A catalog CSV row: provider, type, vCPUs, GiB, with GPU, region, on-demand and spot prices.
struct Row {
    provider: String,
    instance_type: String,
    vcpus: Decimal,
    memory: Decimal,
    gpu: bool,
    region: String,
    on_demand: Option<Decimal>,
    spot: Option<Decimal>,
}

fn catalog() -> Vec<Row> {
    let mut rows = Vec::new();
    for file in ["aws.csv", "azure.csv"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../optimizer/data/catalog")
            .join(file);
        let mut reader = csv::Reader::from_path(path).unwrap();
        for record in reader.records() {
            let r = record.unwrap();
            // provider,instance_type,vcpus,memory_gib,accelerator_name,accelerator_count,region,zone,price,spot
            let price = |i: usize| (!r[i].is_empty()).then(|| dec(&r[i]));
            rows.push(Row {
                provider: r[0].to_string(),
                instance_type: r[1].to_string(),
                vcpus: dec(&r[2]),
                memory: dec(&r[3]),
                gpu: !r[4].is_empty(),
                region: r[6].to_string(),
                on_demand: price(8),
                spot: price(9),
            });
        }
    }
    rows
}

/// The lowest price of a type in a region (over its zones).
fn lowest(rows: &[Row], provider: &str, region: &str, ty: &str, spot: bool) -> Option<Decimal> {
    rows.iter()
        .filter(|r| r.provider == provider && r.region == region && r.instance_type == ty)
        .filter_map(|r| if spot { r.spot } else { r.on_demand })
        .min()
}

/// The expected recommendations: (kind, resource) → (proposed, candidate, rate source).
fn expected(rows: &[Row]) -> BTreeMap<(String, String), (Decimal, String, String)> {
    let hours = Decimal::from(DAYS * 24);
    let month = Decimal::from(730);
    let days = Decimal::from(DAYS);
    // What billing shows per type, and each provider's discount, over non-spot Linux VMs.
    let mut billed: BTreeMap<(&str, &str, &str), Decimal> = BTreeMap::new();
    let mut by_provider: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for vm in VMS
        .iter()
        .filter(|v| v.linux && !v.instance_type.is_empty())
    {
        let effective = per_day(vm.effective_hourly) * days;
        billed.insert((vm.catalog, vm.region, vm.instance_type), effective / hours);
        let list = lowest(rows, vm.catalog, vm.region, vm.instance_type, false).unwrap();
        let slot = by_provider.entry(vm.catalog).or_default();
        slot.0 += effective;
        slot.1 += list * hours;
    }
    let discount = |provider: &str| {
        let (effective, list) = by_provider[provider];
        (effective / list).round_dp(6)
    };
    let mut out = BTreeMap::new();
    for vm in VMS
        .iter()
        .filter(|v| v.linux && !v.instance_type.is_empty() && v.resource != NODE)
    {
        let shape = rows
            .iter()
            .find(|r| r.provider == vm.catalog && r.instance_type == vm.instance_type)
            .unwrap();
        let fits: Vec<&Row> = rows
            .iter()
            .filter(|r| r.provider == vm.catalog && r.region == vm.region && !r.gpu)
            .filter(|r| r.vcpus >= shape.vcpus && r.memory >= shape.memory)
            .collect();
        let effective = per_day(vm.effective_hourly) * days;
        let allocated = effective + dec(vm.transfer_per_day) * days;
        let current = (allocated / hours * month).round_dp(6);
        let other = (allocated - effective) / hours * month;
        // Family: every fitting type at its lowest on-demand price, cheapest catalog price first.
        let mut types: Vec<(Decimal, &str)> = fits
            .iter()
            .filter_map(|r| {
                Some((
                    lowest(rows, vm.catalog, vm.region, &r.instance_type, false)?,
                    r.instance_type.as_str(),
                ))
            })
            .collect();
        types.sort();
        types.dedup();
        let mut best: Option<(Decimal, &str, String)> = None;
        for (price, ty) in types {
            let (rate, source) = match billed.get(&(vm.catalog, vm.region, ty)) {
                Some(rate) => (*rate, "billed effective rate".to_string()),
                None => (
                    price * discount(vm.catalog),
                    format!(
                        "catalog on-demand × observed discount {}",
                        discount(vm.catalog).normalize()
                    ),
                ),
            };
            if best.as_ref().is_none_or(|b| rate < b.0) {
                best = Some((rate, ty, source));
            }
        }
        let (rate, ty, source) = best.unwrap();
        let proposed = (rate * month + other).round_dp(6);
        if ty != vm.instance_type && current - proposed >= dec("0.01") {
            out.insert(
                ("vm-family".to_string(), vm.resource.to_string()),
                (proposed, ty.to_string(), source),
            );
        }
        // Spot: the lowest spot price of a fitting shape, plus 1 instance × 0.10 × 0.5 h × it.
        if vm.spot_tag == "allowed" {
            let (price, ty) = fits
                .iter()
                .filter_map(|r| Some((r.spot?, r.instance_type.as_str())))
                .min()
                .unwrap();
            let interruptions = (dec("0.10") * dec("0.5") * price).round_dp(6);
            let proposed = (price * month + other + interruptions).round_dp(6);
            if current - proposed >= dec("0.01") {
                out.insert(
                    ("vm-spot".to_string(), vm.resource.to_string()),
                    (proposed, ty.to_string(), "catalog spot".to_string()),
                );
            }
        }
    }
    out
}

fn figure(rec: &Value, key: &str) -> Decimal {
    dec(rec[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {rec}")))
}

#[test]
fn vm_recommendations_take_the_rate_billing_shows_and_the_cheapest_family() {
    let (db, dir, config) = common::project("recommend_vm", "");
    setup(&db);

    let out = costmill(dir.path(), &config, &["recommend", "--format", "json"]);
    let recs: Vec<Value> = serde_json::from_str(&out).unwrap();
    let expected = expected(&catalog());
    let got: BTreeMap<(String, String), &Value> = recs
        .iter()
        .map(|r| {
            (
                (
                    r["kind"].as_str().unwrap().to_string(),
                    r["workload"].as_str().unwrap().to_string(),
                ),
                r,
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{out}"
    );
    // What the catalog gives for these VMs (the computation above must not be empty or trivial):
    // the Savings Plan VM is on the cheapest rate already; the Windows one, the node, the GCP
    // core SKU and the RDS instance are not weighed.
    let ledger = VMS[0].resource;
    let (web, etl) = (VMS[4].resource, VMS[5].resource);
    assert_eq!(
        expected
            .keys()
            .map(|(k, r)| (k.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [
            ("vm-family", etl),
            ("vm-family", web),
            ("vm-family", ledger),
            ("vm-spot", etl),
            ("vm-spot", ledger),
        ]
    );
    let hours = Decimal::from(DAYS * 24);
    for ((kind, resource), (proposed, candidate, source)) in &expected {
        let rec = got[&(kind.clone(), resource.clone())];
        let vm = VMS.iter().find(|v| v.resource == resource).unwrap();
        let allocated =
            (per_day(vm.effective_hourly) + dec(vm.transfer_per_day)) * Decimal::from(DAYS);
        let current = (allocated / hours * Decimal::from(730)).round_dp(6);
        assert_eq!(figure(rec, "current_monthly"), current, "{rec}");
        assert_eq!(figure(rec, "proposed_monthly"), *proposed, "{rec}");
        assert_eq!(figure(rec, "saving_monthly"), current - proposed, "{rec}");
        assert_eq!(
            rec["evidence"]["candidate"]["instance_type"],
            candidate.as_str(),
            "{rec}"
        );
        assert_eq!(
            rec["evidence"]["candidate"]["rate_source"],
            source.as_str(),
            "{rec}"
        );
        assert_eq!(rec["evidence"]["today"]["instance_type"], vm.instance_type);
        assert_eq!(rec["team"], vm.team);
        assert_eq!(rec["service"], vm.app);
        assert_eq!(rec["currency"], "USD");
        let scan = &rec["evidence"]["billing_scan"];
        assert_eq!(
            (
                &scan["resources"],
                &scan["without_instance_type"],
                &scan["kubernetes_nodes"],
                &scan["not_linux"],
                &scan["weighed"],
            ),
            (
                &Value::from(8),
                &Value::from(2),
                &Value::from(1),
                &Value::from(1),
                &Value::from(4)
            ),
            "{rec}"
        );
    }
    // The evidence of the rate the user pays: the on-demand VM pays list; Azure's 10 % off.
    let ledger_family = got[&("vm-family".to_string(), ledger.to_string())];
    assert_eq!(
        ledger_family["evidence"]["candidate"]["instance_type"],
        "m5.xlarge"
    );
    assert_eq!(
        ledger_family["evidence"]["candidate"]["rate_source"],
        "billed effective rate"
    );
    assert_eq!(
        ledger_family["evidence"]["candidate"]["billed"]["hours"],
        "336"
    );
    assert_eq!(
        ledger_family["evidence"]["today"]["effective_vs_catalog"],
        "1"
    );
    // 14 days of 24 hours at 0.2016, as billing lists them.
    assert_eq!(ledger_family["evidence"]["billing"]["list_cost"], "67.7376");
    assert_eq!(ledger_family["evidence"]["billing"]["usage_hours"], "336");
    assert_eq!(
        ledger_family["evidence"]["current"]["other_charges_monthly"],
        "6.083333"
    );
    let web_family = got[&("vm-family".to_string(), web.to_string())];
    assert_eq!(web_family["evidence"]["observed_discount"], "0.9");
    assert_eq!(
        web_family["evidence"]["today"]["effective_vs_catalog"],
        "0.9"
    );

    // Stored with the rest; one kind at a time; the planner proposes Kubernetes moves only.
    let stored = db.query(
        "SELECT countIf(kind = 'vm-family'), countIf(kind = 'vm-spot'), uniqExact(computed_at) \
         FROM recommendations FORMAT TSV",
    );
    assert_eq!(stored.trim(), "3\t2\t1");
    let only: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["recommend", "--kind", "vm-spot", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(only.len(), 2);
    assert!(only.iter().all(|r| r["kind"] == "vm-spot"));
    let vm: Vec<Value> = serde_json::from_str(&costmill(
        dir.path(),
        &config,
        &["recommend", "--kind", "vm", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(vm.len(), 5);
    let out = costmill(dir.path(), &config, &["migrations", "plan"]);
    assert!(out.starts_with("nothing new to propose"), "{out}");
}
