use super::*;
use crate::catalog::Offer;

fn offer(
    provider: &str,
    region: &str,
    instance_type: &str,
    shape: (u32, u32),
    od: &str,
    spot: &str,
) -> Offer {
    Offer {
        provider: provider.into(),
        instance_type: instance_type.into(),
        vcpus: shape.0.into(),
        memory_gib: shape.1.into(),
        accelerator: None,
        region: region.into(),
        zone: None,
        on_demand_hourly_usd: Some(od.parse().unwrap()),
        spot_hourly_usd: Some(spot.parse().unwrap()),
        gcp_parts: None,
    }
}

fn index() -> PlacementIndex {
    PlacementIndex::new(vec![
        // Too small for 4 CPUs.
        offer("aws", "us-east-1", "m5.large", (2, 8), "0.096", "0.04"),
        offer("aws", "us-east-1", "c5.xlarge", (4, 8), "0.17", "0.07"),
        offer(
            "gcp",
            "us-central1",
            "n2-standard-4",
            (4, 16),
            "0.19",
            "0.05",
        ),
    ])
}

fn shape(gpus: u32) -> ShapeRow {
    ShapeRow {
        cluster: "hpc".into(),
        partition: "cpu".into(),
        account: "genomics".into(),
        cpus: 4,
        memory_mb: 8192,
        gpus,
        jobs: 10,
        // 100 job-hours.
        seconds: 360_000,
    }
}

fn cost(currency: &str, effective: i64) -> SlurmCostRow {
    SlurmCostRow {
        cluster: "hpc".into(),
        partition: "cpu".into(),
        account: "genomics".into(),
        currency: currency.into(),
        team: "research".into(),
        service: "pipeline".into(),
        effective: Dec18::from_decimal_exact(Decimal::from(effective)).unwrap(),
    }
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn the_cheapest_offer_counts_interruptions_and_egress() {
    let index = index();
    let s = shape(0);
    let window = d("240");
    let mut assumptions = Assumptions {
        egress_gb_per_job: d("2"),
        ..Assumptions::default()
    };
    let rec = recommend(&[&s], &cost("USD", 60), window, &index, &assumptions)
        .unwrap()
        .unwrap();
    // n2-standard-4 spot: 100 h × 0.05 = 5, interruptions 0.15 × 100/730 × 0.5 × 0.05,
    // egress 10 jobs × 2 GB × 0.12 = 2.4. c5.xlarge spot: 7 + 0.10 × 100/730 × 0.5 × 0.07 + 1.8.
    let n2 = d("5") + d("0.15") * d("100") / d("730") * d("0.5") * d("0.05") + d("2.4");
    let month = d("730") / window;
    assert_eq!(rec.kind, "cloud");
    assert_eq!(rec.workload, "slurm://hpc/cpu/genomics");
    assert_eq!(rec.current_monthly, d("182.5"), "60 over 240 h, × 730 h");
    assert_eq!(rec.proposed_monthly, (n2 * month).round_dp(6));
    assert_eq!(
        rec.saving_monthly,
        rec.current_monthly - rec.proposed_monthly
    );
    let c = &rec.evidence["shapes"][0]["candidate"];
    assert_eq!(c["instance_type"], "n2-standard-4");
    assert_eq!(c["spot"], true);
    assert_eq!(rec.evidence["shapes"][0]["egress_usd"], "2.4");
    let task: serde_yaml::Value =
        serde_yaml::from_str(rec.evidence["skypilot_task"].as_str().unwrap()).unwrap();
    assert_eq!(
        task["resources"]["any_of"][0]["instance_type"],
        "n2-standard-4"
    );
    assert_eq!(task["resources"]["any_of"][0]["use_spot"], true);

    // Twenty GB a job back home: AWS's cheaper egress (0.09 vs 0.12) now wins.
    assumptions.egress_gb_per_job = d("20");
    let rec = recommend(&[&s], &cost("USD", 60), window, &index, &assumptions)
        .unwrap()
        .unwrap();
    let c5 = d("7") + d("0.10") * d("100") / d("730") * d("0.5") * d("0.07") + d("18");
    assert_eq!(
        rec.evidence["shapes"][0]["candidate"]["instance_type"],
        "c5.xlarge"
    );
    assert_eq!(rec.proposed_monthly, (c5 * month).round_dp(6));

    // Only the providers allowed.
    assumptions.egress_gb_per_job = Decimal::ZERO;
    assumptions.cloud_providers = vec!["aws".into()];
    let rec = recommend(&[&s], &cost("USD", 60), window, &index, &assumptions)
        .unwrap()
        .unwrap();
    assert_eq!(rec.evidence["shapes"][0]["candidate"]["provider"], "aws");
}

#[test]
fn no_recommendation_for_gpu_jobs_other_currencies_or_no_saving() {
    let index = index();
    let a = Assumptions::default();
    let w = d("240");
    assert!(recommend(&[&shape(1)], &cost("USD", 60), w, &index, &a)
        .unwrap()
        .is_none());
    assert!(recommend(&[&shape(0)], &cost("EUR", 60), w, &index, &a)
        .unwrap()
        .is_none());
    // 1 USD over 240 h is 3.04 a month: less than the cloud's 5 × 730/240.
    assert!(recommend(&[&shape(0)], &cost("USD", 1), w, &index, &a)
        .unwrap()
        .is_none());
    // A shape no offer fits: the workload cannot move as a whole.
    let huge = ShapeRow {
        cpus: 512,
        ..shape(0)
    };
    assert!(
        recommend(&[&shape(0), &huge], &cost("USD", 60), w, &index, &a)
            .unwrap()
            .is_none()
    );
}
