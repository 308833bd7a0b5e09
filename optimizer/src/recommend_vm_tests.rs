use queries::Dec18;

use super::*;
use crate::catalog::Offer;

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn dec18(text: &str) -> Dec18 {
    Dec18::from_decimal_exact(d(text)).unwrap()
}

fn offer(
    provider: &str,
    region: &str,
    ty: &str,
    cpu: u32,
    gib: u32,
    od: &str,
    spot: &str,
) -> Offer {
    Offer {
        provider: provider.into(),
        instance_type: ty.into(),
        vcpus: cpu.into(),
        memory_gib: gib.into(),
        accelerator: None,
        region: region.into(),
        zone: (provider == "aws").then(|| "use1-az1".to_string()),
        on_demand_hourly_usd: (!od.is_empty()).then(|| d(od)),
        spot_hourly_usd: (!spot.is_empty()).then(|| d(spot)),
        gcp_parts: None,
    }
}

/// Prices of the embedded catalog (us-east-1, eastus), with a few small shapes that must not fit.
fn index() -> PlacementIndex {
    let aws = |ty, cpu, gib, od, spot| offer("aws", "us-east-1", ty, cpu, gib, od, spot);
    let azure = |ty, cpu, gib, od, spot| offer("azure", "eastus", ty, cpu, gib, od, spot);
    PlacementIndex::new(vec![
        aws("m7i.xlarge", 4, 16, "0.2016", "0.0967"),
        aws("m5.xlarge", 4, 16, "0.192", "0.0624"),
        aws("m6i.xlarge", 4, 16, "0.192", "0.0886"),
        aws("r5.xlarge", 4, 32, "0.252", "0.0661"),
        aws("c6i.xlarge", 4, 8, "0.17", "0.0735"),
        aws("m5.large", 2, 8, "0.096", "0.0322"),
        azure("Standard_D4s_v5", 4, 16, "0.192", "0.02112"),
        azure("Standard_D4as_v5", 4, 16, "0.172", "0.01892"),
        azure("Standard_E4s_v5", 4, 32, "0.252", "0.02772"),
        azure("Standard_E4as_v5", 4, 32, "0.226", "0.02486"),
    ])
}

/// Daily usage rows of one resource summed over the window, as sql/recommend_vm_usage.sql gives.
fn row(
    provider: &str,
    resource: &str,
    region: &str,
    description: &str,
    hours: &str,
    effective: &str,
) -> UsageRow {
    UsageRow {
        provider: provider.into(),
        resource_id: resource.into(),
        region_id: region.into(),
        region_name: String::new(),
        zone: String::new(),
        service_name: String::new(),
        description: description.into(),
        currency: "USD".into(),
        pricing_category: "Standard".into(),
        commitment_type: String::new(),
        pricing_unit: "Hours".into(),
        consumed_unit: "Hours".into(),
        pricing_quantity: dec18(hours),
        consumed_quantity: dec18(hours),
        effective: dec18(effective),
        list: dec18(effective),
        rows: 10,
        spot_tag: String::new(),
    }
}

fn cost(resource: &str, effective: &str) -> CostRow {
    CostRow {
        input_ref: resource.into(),
        currency: "USD".into(),
        team: "payments".into(),
        service: "ledger".into(),
        effective: dec18(effective),
        days: 10,
    }
}

const M7I: &str = "$0.2016 per On Demand Linux m7i.xlarge Instance Hour";
const M5: &str = "$0.192 per On Demand Linux m5.xlarge Instance Hour";

fn run(rows: &[UsageRow], costs: &[CostRow], nodes: &[&str]) -> (Vec<Recommendation>, Scan) {
    let nodes: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    recommend_all(
        rows,
        costs,
        &nodes,
        d("240"),
        &index(),
        &Assumptions::default(),
    )
    .unwrap()
}

fn kinds(recs: &[Recommendation]) -> Vec<(&str, &str)> {
    let mut kinds: Vec<(&str, &str)> = recs.iter().map(|r| (r.kind, r.workload.as_str())).collect();
    kinds.sort();
    kinds
}

/// A VM on m7i.xlarge on demand, tagged for spot, with data transfer billed to it; another on
/// m5.xlarge under a Savings Plan (72 % of on demand), 240 hours each over a 240-hour window.
fn discounted_pair() -> (Vec<UsageRow>, Vec<CostRow>) {
    let mut on_demand = row("AWS", "i-0aaa", "us-east-1", M7I, "240", "48.384");
    on_demand.spot_tag = "allowed".into();
    let mut covered = row("AWS", "i-0bbb", "us-east-1", M5, "240", "33.1776");
    covered.pricing_category = "Committed".into();
    covered.commitment_type = "Savings Plan".into();
    // 2.4 of data transfer on the first: allocated 48.384 + 2.4.
    (
        vec![on_demand, covered],
        vec![cost("i-0aaa", "50.784"), cost("i-0bbb", "33.1776")],
    )
}

#[test]
fn the_cheapest_family_at_the_billed_effective_rate_and_spot_with_interruptions() {
    let (rows, costs) = discounted_pair();
    let (recs, scan) = run(&rows, &costs, &[]);
    assert_eq!(
        kinds(&recs),
        [("vm-family", "i-0aaa"), ("vm-spot", "i-0aaa")],
        "{recs:#?}"
    );
    assert_eq!(scan.weighed, 2);
    let family = recs.iter().find(|r| r.kind == KIND_FAMILY).unwrap();
    // 50.784 over 240 h is 154.468 a month of 730 h.
    assert_eq!(family.current_monthly, d("154.468"));
    // m5.xlarge at the billed 0.13824 (33.1776 / 240) beats m6i.xlarge at 0.192 × the observed
    // discount 0.863415 (81.5616 / 94.464) = 0.16577568: 0.13824 × 730 + the data transfer's
    // 2.4 / 240 × 730 = 7.3.
    assert_eq!(family.proposed_monthly, d("108.2152"));
    assert_eq!(family.saving_monthly, d("46.2528"));
    let candidate = &family.evidence["candidate"];
    assert_eq!(candidate["instance_type"], "m5.xlarge");
    assert_eq!(candidate["rate_source"], "billed effective rate");
    assert_eq!(candidate["hourly_rate"], "0.13824");
    assert_eq!(family.evidence["observed_discount"], "0.863415");
    assert_eq!(family.evidence["today"]["instance_type"], "m7i.xlarge");
    assert_eq!(family.evidence["today"]["effective_vs_catalog"], "1");
    assert_eq!(family.evidence["current"]["other_charges_monthly"], "7.3");
    assert_eq!(family.team, "payments");
    // Spot: m5.xlarge at 0.0624 × 730, the 7.3, and 1 instance × 0.10 × 0.5 h × 0.0624.
    let spot = recs.iter().find(|r| r.kind == KIND_SPOT).unwrap();
    assert_eq!(spot.proposed_monthly, d("52.85512"));
    assert_eq!(spot.evidence["candidate"]["instance_type"], "m5.xlarge");
    assert_eq!(
        spot.evidence["assumptions"]["interruption_cost_monthly"],
        "0.00312"
    );
    assert_eq!(
        spot.evidence["assumptions"]["spot_allowed_by"],
        "tag costmill.io/spot=allowed"
    );
}

#[test]
fn without_billed_hours_of_a_type_the_catalog_price_times_the_observed_discount() {
    // An EA discount of 10 %: 0.1728 an hour for D4s v5 (0.192 in the catalog).
    let rows = [row(
        "Microsoft",
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/web-1",
        "eastus",
        "Virtual Machines Dsv5 Series - D4s v5 - US East",
        "240",
        "41.472",
    )];
    let costs = [cost(&rows[0].resource_id, "41.472")];
    let (recs, _) = run(&rows, &costs, &[]);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let family = &recs[0];
    // D4as_v5: 0.172 × 0.9 = 0.1548 an hour, × 730 = 113.004; today 41.472 / 240 × 730.
    assert_eq!(
        family.evidence["candidate"]["instance_type"],
        "Standard_D4as_v5"
    );
    assert_eq!(
        family.evidence["candidate"]["rate_source"],
        "catalog on-demand × observed discount 0.9"
    );
    assert_eq!(
        (family.current_monthly, family.proposed_monthly),
        (d("126.144"), d("113.004"))
    );
    assert_eq!(family.evidence["today"]["effective_vs_catalog"], "0.9");
    // No billing at all for a provider: the catalog's price as it is.
    let rates = BilledRates::default();
    assert_eq!(
        rates.on_demand("aws", "us-east-1", "m5.xlarge", d("0.192")),
        (d("0.192"), RateSource::Catalog)
    );
    // Spot rows say nothing of discounts on demand.
    let spot_only = [row(
        "AWS",
        "i-0s",
        "us-east-1",
        "c4.large Linux/UNIX Spot Instance-hour in US East (Virginia) in VPC Zone #1",
        "10",
        "0.3",
    )];
    let view_index = index();
    let view = CatalogView::new(view_index.offers());
    assert_eq!(
        BilledRates::new(&spot_only, &view).unwrap().discount("aws"),
        None
    );
}

#[test]
fn a_shape_just_over_a_smaller_family_goes_to_the_next_that_fits() {
    // E4s_v5 (4 vCPU, 32 GiB): D4as_v5 is cheaper but has 16 GiB; E4as_v5 fits.
    let rows = [row(
        "Microsoft",
        "/subscriptions/s/providers/microsoft.compute/virtualmachines/db-1",
        "eastus",
        "Virtual Machines Esv5 Series - E4s v5 - US East",
        "240",
        "60.48",
    )];
    let costs = [cost(&rows[0].resource_id, "60.48")];
    let (recs, _) = run(&rows, &costs, &[]);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(
        recs[0].evidence["candidate"]["instance_type"],
        "Standard_E4as_v5"
    );
    // Billed at list (discount 1): 0.226 × 730 = 164.98 against 0.252 × 730 = 183.96.
    assert_eq!(
        (recs[0].current_monthly, recs[0].proposed_monthly),
        (d("183.96"), d("164.98"))
    );
    assert_eq!(
        recs[0].evidence["candidate"]["rate_source"],
        "catalog on-demand × observed discount 1"
    );
}

#[test]
fn spot_takes_the_cheapest_shape_with_a_spot_price_and_none_without() {
    let aws = |ty, cpu, gib, od, spot| offer("aws", "us-east-1", ty, cpu, gib, od, spot);
    let mut vm = row("AWS", "i-0ccc", "us-east-1", M5, "120", "23.04");
    vm.spot_tag = "Allowed".into();
    let costs = [cost("i-0ccc", "23.04")];
    // m5.xlarge has no spot price here: m6i.xlarge is the cheapest spot shape that fits.
    let index = PlacementIndex::new(vec![
        aws("m5.xlarge", 4, 16, "0.192", ""),
        aws("m6i.xlarge", 4, 16, "0.192", "0.0886"),
        aws("m5.large", 2, 8, "0.096", "0.0322"),
    ]);
    let (recs, _) = recommend_all(
        &[vm.clone()],
        &costs,
        &[],
        d("240"),
        &index,
        &Assumptions::default(),
    )
    .unwrap();
    assert_eq!(kinds(&recs), [("vm-spot", "i-0ccc")]);
    // Half the window: 0.5 instances, 365 hours a month. 0.0886 × 365 + 0.5 × 0.10 × 0.5 × 0.0886.
    assert_eq!(recs[0].proposed_monthly, d("32.341215"));
    assert_eq!(recs[0].current_monthly, d("70.08"));
    assert_eq!(recs[0].evidence["candidate"]["instance_type"], "m6i.xlarge");
    // No fitting shape with a spot price: no spot recommendation.
    let index = PlacementIndex::new(vec![
        aws("m5.xlarge", 4, 16, "0.192", ""),
        aws("m5.large", 2, 8, "0.096", "0.0322"),
    ]);
    let (recs, _) = recommend_all(
        &[vm],
        &costs,
        &[],
        d("240"),
        &index,
        &Assumptions::default(),
    )
    .unwrap();
    assert!(recs.is_empty(), "{recs:#?}");
}

#[test]
fn nodes_other_systems_currencies_and_untyped_rows_are_counted_not_recommended() {
    let (mut rows, mut costs) = discounted_pair();
    // A Kubernetes node: its instance id ends a providerID.
    rows.push(row(
        "AWS",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0node",
        "us-east-1",
        M7I,
        "240",
        "48.384",
    ));
    costs.push(cost(
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0node",
        "48.384",
    ));
    rows.push(row(
        "AWS",
        "i-0win",
        "us-east-1",
        "$0.384 per On Demand Windows m5.xlarge Instance Hour",
        "240",
        "92.16",
    ));
    costs.push(cost("i-0win", "92.16"));
    let mut eur = row("AWS", "i-0eur", "us-east-1", M7I, "240", "45");
    eur.currency = "EUR".into();
    rows.push(eur);
    rows.push(row(
        "AWS",
        "i-0unknown",
        "us-east-1",
        "$0.0416 per On Demand Linux t3.medium Instance Hour",
        "240",
        "9.984",
    ));
    rows.push(row("AWS", "i-0nocost", "us-east-1", M7I, "240", "48.384"));
    rows.push(row(
        "Google Cloud",
        "//compute.googleapis.com/projects/p/zones/us-central1-a/instances/vm-1",
        "us-central1",
        "N2 Instance Core running in Americas",
        "240",
        "7.5",
    ));
    // An AKS scale set: billed as the scale set, its nodes' providerIDs name its instances.
    let aks = "/subscriptions/s/resourceGroups/MC_rg_aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss";
    rows.push(row(
        "Microsoft",
        aks,
        "eastus",
        "Virtual Machines Dsv5 Series - D4s v5 - US East",
        "480",
        "92.16",
    ));
    costs.push(cost(aks, "92.16"));
    let (recs, scan) = run(
        &rows,
        &costs,
        &[
            "aws:///us-east-1a/i-0node",
            "azure:///subscriptions/s/resourceGroups/mc_rg_aks_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/0",
        ],
    );
    assert_eq!(
        kinds(&recs),
        [("vm-family", "i-0aaa"), ("vm-spot", "i-0aaa")]
    );
    assert_eq!(
        scan,
        Scan {
            resources: 9,
            without_instance_type: 1,
            kubernetes_nodes: 2,
            not_linux: 1,
            not_usd: 1,
            not_in_catalog: 1,
            without_allocated_cost: 1,
            weighed: 2,
        }
    );
    assert_eq!(recs[0].evidence["billing_scan"]["kubernetes_nodes"], 2);
    // The node's hours are still what billing says m7i.xlarge costs.
    let view_index = index();
    let view = CatalogView::new(view_index.offers());
    let rates = BilledRates::new(&rows, &view).unwrap();
    assert_eq!(
        rates.billed("aws", "us-east-1", "m7i.xlarge"),
        Some((d("720"), d("145.152")))
    );
}

#[test]
fn never_keeps_a_vm_off_spot_and_a_spot_vm_is_not_sent_back_on_demand() {
    let (mut rows, costs) = discounted_pair();
    rows[0].spot_tag = "never".into();
    let (recs, _) = run(&rows, &costs, &[]);
    assert_eq!(kinds(&recs), [("vm-family", "i-0aaa")]);
    // Billed as spot on m7i.xlarge at 0.07 an hour: m5.xlarge spot (0.0624) is cheaper; nothing
    // on demand is.
    let spot_vm = row(
        "AWS",
        "i-0spot",
        "us-east-1",
        "$0.07 per Linux/UNIX (Amazon VPC), m7i.xlarge Spot Instance-hour",
        "240",
        "16.8",
    );
    let (recs, _) = run(&[spot_vm], &[cost("i-0spot", "16.8")], &[]);
    assert_eq!(kinds(&recs), [("vm-spot", "i-0spot")], "{recs:#?}");
    assert_eq!(
        recs[0].evidence["assumptions"]["spot_allowed_by"],
        "billed as spot already"
    );
    // 0.0624 × 730 + 0.10 × 0.5 × 0.0624 = 45.55512 against 16.8 / 240 × 730 = 51.1.
    assert_eq!(
        (recs[0].current_monthly, recs[0].proposed_monthly),
        (d("51.1"), d("45.55512"))
    );
}

#[test]
fn a_resource_resized_in_the_window_is_its_type_of_most_hours() {
    let rows = [
        row("AWS", "i-0r", "us-east-1", M5, "100", "19.2"),
        row("AWS", "i-0r", "us-east-1", M7I, "140", "28.224"),
    ];
    let (vms, scan) = find_vms(&rows).unwrap();
    assert_eq!(
        (vms.len(), scan.resources, scan.without_instance_type),
        (1, 1, 0)
    );
    assert_eq!(vms[0].instance.types, ["m7i.xlarge"]);
    assert_eq!((vms[0].hours, vms[0].effective), (d("240"), d("47.424")));
}
