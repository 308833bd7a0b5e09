use super::*;
use crate::catalog::Offer;

fn offer(instance_type: &str, vcpus: u32, memory_gib: u32, on_demand: &str, spot: &str) -> Offer {
    Offer {
        provider: "aws".into(),
        instance_type: instance_type.into(),
        vcpus: vcpus.into(),
        memory_gib: memory_gib.into(),
        accelerator: None,
        region: "us-east-1".into(),
        zone: Some("us-east-1a".into()),
        on_demand_hourly_usd: Some(on_demand.parse().unwrap()),
        spot_hourly_usd: Some(spot.parse().unwrap()),
        gcp_parts: None,
    }
}

fn workload(spot_label: &str) -> WorkloadRow {
    WorkloadRow {
        cluster: "prod".into(),
        namespace: "payments".into(),
        workload_kind: "Deployment".into(),
        workload: "ledger".into(),
        // 3 pods all along a 240-hour window, less a little: still 3 replicas.
        pod_seconds: 3 * 240 * 3600 - 600,
        cpu_request: Dec18::from_decimal_exact(Decimal::ONE).unwrap(),
        memory_request: Dec18::from_decimal_exact(Decimal::from(2u64 << 30)).unwrap(),
        gpus: Dec18(0),
        cpu_p95: 0.3,
        memory_p95: 1_073_741_824.0,
        node: "m5.xlarge|aws:///us-east-1a/i-0abc".into(),
        spot_label: spot_label.into(),
    }
}

fn cost(currency: &str) -> CostRow {
    CostRow {
        input_ref: "k8s://prod/payments/ledger".into(),
        currency: currency.into(),
        team: "payments".into(),
        service: "ledger".into(),
        effective: Dec18::from_decimal_exact(Decimal::from(30)).unwrap(),
        days: 10,
    }
}

fn index() -> PlacementIndex {
    PlacementIndex::new(vec![
        // 2 replicas a node (CPU binds): 2 nodes, 0.08/h.
        offer("m5.large", 2, 8, "0.096", "0.04"),
        // 4 replicas a node: 1 node, 0.06/h: the cheapest total.
        offer("m6a.xlarge", 4, 16, "0.1728", "0.06"),
        // Cheaper per node but too small for one replica's memory.
        offer("t3.small", 2, 1, "0.0208", "0.006"),
    ])
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn node_places_come_from_provider_ids() {
    assert_eq!(
        node_place("m5.xlarge|aws:///us-east-1a/i-0abc"),
        Some(NodePlace {
            instance_type: "m5.xlarge".into(),
            provider: "aws".into(),
            region: "us-east-1".into(),
            zone: "us-east-1a".into(),
        })
    );
    let gce = node_place("n2-standard-4|gce://acme-prod/us-central1-b/gke-pool-1").unwrap();
    assert_eq!(
        (gce.provider.as_str(), gce.region.as_str()),
        ("gcp", "us-central1")
    );
    assert_eq!(node_place(""), None);
    assert_eq!(node_place("m5.large|kind://docker/x"), None);
}

#[test]
fn a_family_rate_wins_over_its_providers() {
    let mut assumptions = Assumptions::default();
    assert_eq!(assumptions.interruption_rate("aws", "m5.large"), d("0.10"));
    assumptions
        .interruptions_per_node_month
        .insert("m5".into(), d("0.03"));
    assert_eq!(assumptions.interruption_rate("aws", "m5.large"), d("0.03"));
    assert_eq!(assumptions.interruption_rate("aws", "c6i.large"), d("0.10"));
    assert_eq!(assumptions.interruption_rate("oracle", "x"), d("0.15"));
}

#[test]
fn spot_and_rightsize_figures_are_the_hand_computed_ones() {
    let recs = recommend(
        &workload(""),
        &cost("USD"),
        d("240"),
        &index(),
        &Assumptions::default(),
    )
    .unwrap();
    assert_eq!(recs.len(), 2, "{recs:#?}");
    // Current: 30 USD over 240 hours is 91.25 a month of 730 hours.
    assert!(recs.iter().all(|r| r.current_monthly == d("91.25")));
    let spot = recs.iter().find(|r| r.kind == "spot").unwrap();
    // 3 replicas on one m6a.xlarge spot node: 0.06 × 730 = 43.8, plus 1 node × 0.10
    // interruptions × 0.5 h × 0.06 = 0.003.
    assert_eq!(spot.proposed_monthly, d("43.803"));
    assert_eq!(spot.saving_monthly, d("47.447"));
    assert_eq!(spot.evidence["candidate"]["instance_type"], "m6a.xlarge");
    assert_eq!(spot.evidence["candidate"]["nodes"], 1);
    assert_eq!(spot.evidence["replicas"], 3);
    // What the executor needs to find the object it patches.
    assert_eq!(spot.evidence["workload"]["kind"], "Deployment");
    assert_eq!(spot.evidence["workload"]["namespace"], "payments");
    let rightsize = recs.iter().find(|r| r.kind == "rightsize").unwrap();
    // CPU 0.3 × 1.2 = 0.36 of 1; memory 1 GiB × 1.2 = 1228.8 MiB → 1229 MiB of 2048: the larger
    // ratio, 1229 / 2048 = 0.60009765625, bills 91.25 × that = 54.7589111328125.
    assert_eq!(rightsize.proposed_monthly, d("54.758911"));
    assert_eq!(rightsize.evidence["proposed_requests"]["cpu"], "0.36");
    assert_eq!(
        rightsize.evidence["proposed_requests"]["memory_bytes"],
        (1229u64 << 20).to_string()
    );
    // Best saving first.
    assert_eq!(recs[0].kind, "spot");
}

#[test]
fn no_spot_for_a_workload_that_refuses_it_or_costs_in_another_currency() {
    let never = recommend(
        &workload("never"),
        &cost("USD"),
        d("240"),
        &index(),
        &Assumptions::default(),
    )
    .unwrap();
    assert_eq!(
        never.iter().map(|r| r.kind).collect::<Vec<_>>(),
        ["rightsize"]
    );
    let eur = recommend(
        &workload(""),
        &cost("EUR"),
        d("240"),
        &index(),
        &Assumptions::default(),
    )
    .unwrap();
    assert_eq!(
        eur.iter().map(|r| r.kind).collect::<Vec<_>>(),
        ["rightsize"]
    );
    // Used as requested: nothing to right-size, and spot stays.
    let mut busy = workload("");
    busy.cpu_p95 = 0.95;
    busy.memory_p95 = 2_000_000_000.0;
    let recs = recommend(
        &busy,
        &cost("USD"),
        d("240"),
        &index(),
        &Assumptions::default(),
    )
    .unwrap();
    assert_eq!(recs.iter().map(|r| r.kind).collect::<Vec<_>>(), ["spot"]);
    // Spot costing more than today's share: no recommendation.
    let mut cheap = cost("USD");
    cheap.effective = Dec18::from_decimal_exact(d("10")).unwrap();
    let recs = recommend(&busy, &cheap, d("240"), &index(), &Assumptions::default()).unwrap();
    assert!(recs.is_empty(), "{recs:#?}");
}
