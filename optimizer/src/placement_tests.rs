//! Placement and packing against rows worked out by hand from the embedded CSVs (each expected
//! figure names the rows it comes from).
use std::str::FromStr;
use std::sync::OnceLock;

use rust_decimal::Decimal;

use super::*;
use crate::catalog::Catalog;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn index() -> &'static PlacementIndex {
    static INDEX: OnceLock<PlacementIndex> = OnceLock::new();
    INDEX.get_or_init(|| PlacementIndex::new(Catalog::embedded().offers))
}

fn request(vcpus: &str, memory: &str, market: Market) -> Request {
    Request {
        market,
        ..Request::cpu(d(vcpus), d(memory))
    }
}

/// (provider, instance type, region, zone or "-", price, spot) of each choice.
fn rows(choices: &[Choice]) -> Vec<(String, String, String, String, Decimal, bool)> {
    choices
        .iter()
        .map(|c| {
            (
                c.offer.provider.clone(),
                c.offer.instance_type.clone(),
                c.offer.region.clone(),
                c.offer.zone.clone().unwrap_or_else(|| "-".into()),
                c.hourly_usd,
                c.spot,
            )
        })
        .collect()
}

fn row(
    provider: &str,
    instance_type: &str,
    region: &str,
    zone: &str,
    price: &str,
    spot: bool,
) -> (String, String, String, String, Decimal, bool) {
    (
        provider.into(),
        instance_type.into(),
        region.into(),
        zone.into(),
        d(price),
        spot,
    )
}

#[test]
fn four_vcpus_sixteen_gib_spot_compares_every_azure_d4_family_across_regions() {
    // azure.csv: Standard_D4as_v5 eastus and westus3 0.01892; Standard_D4_v5 and
    // Standard_D4s_v5 eastus and westus3 0.02112; Standard_D4as_v5 centralus 0.02134. The
    // cheapest spot 4 vCPU / 16 GiB anywhere (AWS, GCP spot are all dearer).
    let choices = index().place(&request("4", "16", Market::Spot), 7).unwrap();
    assert_eq!(
        rows(&choices),
        vec![
            row("azure", "Standard_D4as_v5", "eastus", "-", "0.01892", true),
            row("azure", "Standard_D4as_v5", "westus3", "-", "0.01892", true),
            row("azure", "Standard_D4_v5", "eastus", "-", "0.02112", true),
            row("azure", "Standard_D4s_v5", "eastus", "-", "0.02112", true),
            row("azure", "Standard_D4_v5", "westus3", "-", "0.02112", true),
            row("azure", "Standard_D4s_v5", "westus3", "-", "0.02112", true),
            row(
                "azure",
                "Standard_D4as_v5",
                "centralus",
                "-",
                "0.02134",
                true
            ),
        ]
    );
    // Azure has no zones: one choice per region.
    assert!(choices.iter().all(|c| c.offer.zone.is_none()));
    // `Either` puts the same spot choices first: spot is cheaper than every on-demand price.
    let either = index()
        .place(&request("4", "16", Market::Either), 7)
        .unwrap();
    assert_eq!(rows(&either), rows(&choices));
}

#[test]
fn on_demand_ties_break_by_zone_and_gpu_hosts_are_not_cpu_machines() {
    // gcp.csv: e2-standard-4 us-central1 a/b/c/f 0.13402 on demand. g2-standard-4 us-central1
    // (0.14679, a GPU host without its L4) must not follow it; e2-standard-4 europe-west4-a at
    // 0.14754 does.
    let choices = index()
        .place(&request("4", "16", Market::OnDemand), 5)
        .unwrap();
    assert_eq!(
        rows(&choices),
        vec![
            row(
                "gcp",
                "e2-standard-4",
                "us-central1",
                "us-central1-a",
                "0.13402",
                false
            ),
            row(
                "gcp",
                "e2-standard-4",
                "us-central1",
                "us-central1-b",
                "0.13402",
                false
            ),
            row(
                "gcp",
                "e2-standard-4",
                "us-central1",
                "us-central1-c",
                "0.13402",
                false
            ),
            row(
                "gcp",
                "e2-standard-4",
                "us-central1",
                "us-central1-f",
                "0.13402",
                false
            ),
            row(
                "gcp",
                "e2-standard-4",
                "europe-west4",
                "europe-west4-a",
                "0.14754",
                false
            ),
        ]
    );
    // The same request twice: the same list.
    assert_eq!(
        rows(
            &index()
                .place(&request("4", "16", Market::OnDemand), 5)
                .unwrap()
        ),
        rows(&choices)
    );
}

#[test]
fn memory_just_over_a_shape_moves_to_the_next_one() {
    // 16.5 GiB is over every 16 GiB shape: azure.csv Standard_E4as_v5 (4 vCPUs, 32 GiB) eastus
    // and westus3 0.02486, then Standard_E4_v5 eastus 0.02772.
    let choices = index()
        .place(&request("4", "16.5", Market::Spot), 3)
        .unwrap();
    assert_eq!(
        rows(&choices),
        vec![
            row("azure", "Standard_E4as_v5", "eastus", "-", "0.02486", true),
            row("azure", "Standard_E4as_v5", "westus3", "-", "0.02486", true),
            row("azure", "Standard_E4_v5", "eastus", "-", "0.02772", true),
        ]
    );
    let all = index()
        .place(&request("4", "16.5", Market::Either), 10_000)
        .unwrap();
    assert!(all.len() > 100);
    assert!(all
        .iter()
        .all(|c| c.offer.memory_gib >= d("16.5") && c.offer.vcpus >= d("4")));
    assert!(all.windows(2).all(|w| w[0].hourly_usd <= w[1].hourly_usd));
}

#[test]
fn gpu_model_and_count() {
    let gpu = |model: &str, count: &str, market: Market, providers: &[&str]| Request {
        vcpus: Decimal::ZERO,
        memory_gib: Decimal::ZERO,
        gpu: Some(GpuRequest {
            model: model.into(),
            count: d(count),
        }),
        market,
        providers: providers.iter().map(|p| p.to_string()).collect(),
        regions: Vec::new(),
    };
    // L4 x1 spot: gcp.csv g2-standard-4 europe-west4 (a, b, c) 0.06174 + L4 x1 0.2106 = 0.27234,
    // then us-central1 0.05874 + 0.2231 = 0.28184. AWS g6 and RunPod L4 are dearer or have no
    // spot price.
    let choices = index()
        .place(&gpu("l4", "1", Market::Spot, &[]), 4)
        .unwrap();
    assert_eq!(
        rows(&choices),
        vec![
            row(
                "gcp",
                "g2-standard-4",
                "europe-west4",
                "europe-west4-a",
                "0.27234",
                true
            ),
            row(
                "gcp",
                "g2-standard-4",
                "europe-west4",
                "europe-west4-b",
                "0.27234",
                true
            ),
            row(
                "gcp",
                "g2-standard-4",
                "europe-west4",
                "europe-west4-c",
                "0.27234",
                true
            ),
            row(
                "gcp",
                "g2-standard-4",
                "us-central1",
                "us-central1-a",
                "0.28184",
                true
            ),
        ]
    );
    // At least the count: A100 x3 fits 4-GPU types first; lambda.csv gpu_4x_a100 5.16 on demand
    // in every Lambda region (asia-northeast-1 first by name).
    let choices = index()
        .place(&gpu("A100", "3", Market::OnDemand, &[]), 1)
        .unwrap();
    assert_eq!(
        rows(&choices),
        vec![row(
            "lambda",
            "gpu_4x_a100",
            "asia-northeast-1",
            "-",
            "5.16",
            false
        )]
    );
    assert_eq!(choices[0].offer.accelerator.as_ref().unwrap().count, d("4"));
    // A100 x16 exists only as gcp a2-megagpu-16g: spot us-central1 3.51864 + 18.3552 = 21.87384.
    let choices = index()
        .place(&gpu("A100", "16", Market::Either, &[]), 1)
        .unwrap();
    assert_eq!(
        rows(&choices),
        vec![row(
            "gcp",
            "a2-megagpu-16g",
            "us-central1",
            "us-central1-a",
            "21.87384",
            true
        )]
    );
    // A100 is not A100-80GB: no A100-80GB offer answers an A100 request.
    let all = index()
        .place(&gpu("A100", "1", Market::Either, &[]), 100_000)
        .unwrap();
    assert!(all.iter().all(|c| c
        .offer
        .accelerator
        .as_ref()
        .unwrap()
        .name
        .eq_ignore_ascii_case("A100")));
    // Nothing has 32 A100s; an unknown model is an error naming the known ones.
    assert!(index()
        .place(&gpu("A100", "32", Market::Either, &[]), 5)
        .unwrap()
        .is_empty());
    let error = index()
        .place(&gpu("Z9000", "1", Market::Either, &[]), 5)
        .unwrap_err();
    assert!(matches!(error, PlacementError::UnknownGpu { .. }));
    assert!(error.to_string().contains("A100-80GB"), "{error}");
}

#[test]
fn missing_spot_prices_are_not_spot_offers() {
    // Lambda has no spot price at all.
    let lambda = Request {
        providers: vec!["lambda".into()],
        gpu: Some(GpuRequest::parse("A100:8").unwrap()),
        ..request("0", "0", Market::Spot)
    };
    assert!(index().place(&lambda, 10).unwrap().is_empty());
    // aws.csv: m6i.large us-west-2 usw2-az4 has no spot price (0.096 on demand); the other
    // m6i.large zones of us-west-2 have one.
    let aws = |market| Request {
        providers: vec!["aws".into()],
        regions: vec!["us-west-2".into()],
        ..request("2", "8", market)
    };
    let spot = index().place(&aws(Market::Spot), 10_000).unwrap();
    assert!(spot.iter().any(
        |c| c.offer.instance_type == "m6i.large" && c.offer.zone.as_deref() == Some("usw2-az1")
    ));
    assert!(!spot.iter().any(
        |c| c.offer.instance_type == "m6i.large" && c.offer.zone.as_deref() == Some("usw2-az4")
    ));
    let on_demand = index().place(&aws(Market::OnDemand), 10_000).unwrap();
    let az4 = on_demand
        .iter()
        .find(|c| {
            c.offer.instance_type == "m6i.large" && c.offer.zone.as_deref() == Some("usw2-az4")
        })
        .unwrap();
    assert_eq!(az4.hourly_usd, d("0.096"));
    // p5e.48xlarge has a spot price (15.7656) and no on-demand one: spot only. It is the
    // cheapest H200 x8 spot in us-west-2 (p5en.48xlarge spot is 25.2326 and up there).
    let h200 = |market| Request {
        regions: vec!["us-west-2".into()],
        gpu: Some(GpuRequest::parse("H200:8").unwrap()),
        ..request("0", "0", market)
    };
    let spot = index().place(&h200(Market::Spot), 1).unwrap();
    assert_eq!(
        rows(&spot),
        vec![row(
            "aws",
            "p5e.48xlarge",
            "us-west-2",
            "usw2-az3",
            "15.7656",
            true
        )]
    );
    assert!(!index()
        .place(&h200(Market::OnDemand), 100)
        .unwrap()
        .iter()
        .any(|c| c.offer.instance_type == "p5e.48xlarge"));
}

#[test]
fn spot_above_on_demand_is_still_the_spot_price() {
    // runpod.csv: 1x_L40S_SECURE has SpotPrice 0.86 and Price 0.43 (swapped in the source, kept).
    let l40s = |market| Request {
        gpu: Some(GpuRequest::parse("L40S:1").unwrap()),
        regions: vec!["CA".into()],
        ..request("0", "0", market)
    };
    let spot = index().place(&l40s(Market::Spot), 1).unwrap();
    assert_eq!(
        rows(&spot),
        vec![row(
            "runpod",
            "1x_L40S_SECURE",
            "CA",
            "CA-MTL-1",
            "0.86",
            true
        )]
    );
    // Either: every on-demand choice (0.43) ranks before the first spot one (0.86).
    let either = index().place(&l40s(Market::Either), 100).unwrap();
    let first_spot = either.iter().position(|c| c.spot).unwrap();
    assert_eq!(first_spot, 3, "CA-MTL-1, -2, -3 on demand first");
    assert!(either[..3].iter().all(|c| c.hourly_usd == d("0.43")));
    assert_eq!(either[3].hourly_usd, d("0.86"));
}

#[test]
fn allow_lists_and_their_errors() {
    let r = Request {
        providers: vec!["AWS".into(), "gcp".into()],
        regions: vec!["eu-west-1".into(), "europe-west4".into()],
        ..request("2", "4", Market::Either)
    };
    let choices = index().place(&r, 1000).unwrap();
    assert!(!choices.is_empty());
    assert!(choices.iter().all(|c| matches!(
        (c.offer.provider.as_str(), c.offer.region.as_str()),
        ("aws", "eu-west-1") | ("gcp", "europe-west4")
    )));
    // gcp.csv: e2-medium (2 vCPUs, 4 GiB) europe-west4-a spot 0.02434 is the first GCP choice.
    let first_gcp = choices.iter().find(|c| c.offer.provider == "gcp").unwrap();
    assert_eq!(
        (
            first_gcp.offer.instance_type.as_str(),
            first_gcp.hourly_usd,
            first_gcp.spot
        ),
        ("e2-medium", d("0.02434"), true)
    );
    let bad = Request {
        providers: vec!["awz".into()],
        ..request("1", "1", Market::Either)
    };
    assert_eq!(
        index().place(&bad, 1).unwrap_err().to_string(),
        "provider \"awz\" is not in the catalog (it has aws, azure, gcp, lambda, runpod)"
    );
    let bad = Request {
        regions: vec!["mars-1".into()],
        ..request("1", "1", Market::Either)
    };
    assert_eq!(
        index().place(&bad, 1).unwrap_err(),
        PlacementError::UnknownRegion {
            name: "mars-1".into()
        }
    );
    assert_eq!(
        GpuRequest::parse("A100:0").unwrap_err(),
        PlacementError::BadGpus("A100:0".into())
    );
    assert_eq!(GpuRequest::parse("H100").unwrap().count, d("1"));
}

#[test]
fn packing_n_replicas_takes_the_cheapest_total_by_the_binding_dimension() {
    // 10 replicas of 1.5 vCPU / 3 GiB, spot. gcp.csv t2d-standard-8 (8 vCPUs, 32 GiB) us-central1
    // spot 0.03653: floor(8 / 1.5) = 5 by vCPUs (memory would allow 10), 2 nodes, 0.07306. The
    // cheapest single machine, azure Standard_D4as_v5 eastus 0.01892, holds 2 (vCPUs): 5 nodes,
    // 0.0946. azure Standard_D8as_v5 eastus 0.03784: 5 a node, 2 nodes, 0.07568.
    let r = request("1.5", "3", Market::Spot);
    let packings = index().pack(&r, 10, 5).unwrap();
    let summary: Vec<(String, String, u64, u64, Dimension, Decimal)> = packings
        .iter()
        .map(|p| {
            (
                p.choice.offer.instance_type.clone(),
                p.choice.offer.zone.clone().unwrap_or_default(),
                p.replicas_per_node,
                p.nodes,
                p.binding,
                p.total_hourly_usd,
            )
        })
        .collect();
    let t2d = |zone: &str| {
        (
            "t2d-standard-8".to_string(),
            zone.to_string(),
            5,
            2,
            Dimension::Vcpus,
            d("0.07306"),
        )
    };
    assert_eq!(
        summary,
        vec![
            t2d("us-central1-a"),
            t2d("us-central1-b"),
            t2d("us-central1-c"),
            t2d("us-central1-f"),
            (
                "Standard_D8as_v5".into(),
                String::new(),
                5,
                2,
                Dimension::Vcpus,
                d("0.07568")
            ),
        ]
    );
    let all = index().pack(&r, 10, usize::MAX).unwrap();
    let d4as = all
        .iter()
        .find(|p| {
            p.choice.offer.instance_type == "Standard_D4as_v5" && p.choice.offer.region == "eastus"
        })
        .unwrap();
    assert_eq!((d4as.replicas_per_node, d4as.nodes), (2, 5));
    assert_eq!(d4as.total_hourly_usd, d("0.0946"));

    // GPUs: 6 replicas of L4 x1, 4 vCPUs, 40 GiB, spot on GCP. g2-standard-24 (24 vCPUs,
    // 96 GiB, 2 L4) europe-west4 0.37042 + 0.4212 = 0.79162: 2 a node (memory: 96 / 40 = 2, as
    // the GPUs), 3 nodes, 2.37486. One L4 per g2-standard-8 (32 GiB) is too little memory;
    // g2-standard-16 (64 GiB) would take 6 nodes.
    let gpu = Request {
        gpu: Some(GpuRequest::parse("L4:1").unwrap()),
        providers: vec!["gcp".into()],
        ..request("4", "40", Market::Spot)
    };
    let best = &index().pack(&gpu, 6, 1).unwrap()[0];
    assert_eq!(best.choice.offer.instance_type, "g2-standard-24");
    assert_eq!(best.choice.offer.zone.as_deref(), Some("europe-west4-a"));
    assert_eq!(
        (best.replicas_per_node, best.nodes, best.binding),
        (2, 3, Dimension::Memory)
    );
    assert_eq!(best.total_hourly_usd, d("2.37486"));
}

fn shape(vcpus: &str, memory: &str, gpus: &str) -> Shape {
    Shape {
        vcpus: d(vcpus),
        memory_gib: d(memory),
        gpus: d(gpus),
    }
}

#[test]
fn first_fit_decreasing_by_hand() {
    // Node 4 vCPUs / 16 GiB. Largest shares: A (3, 2) 3/4, E (1, 12) 12/16, B and C (2, 8) 1/2,
    // D (1, 1) 1/4. A opens node 0 (1, 14 left); E fits there (0, 2 left); B opens node 1, C
    // fills it; D fits neither: node 2. Three nodes, as 9 vCPUs need.
    let node = shape("4", "16", "0");
    let items = [
        shape("3", "2", "0"),
        shape("2", "8", "0"),
        shape("2", "8", "0"),
        shape("1", "1", "0"),
        shape("1", "12", "0"),
    ];
    assert_eq!(
        first_fit_decreasing(&node, &items).unwrap(),
        vec![vec![0, 4], vec![1, 2], vec![3]]
    );
    // Equal replicas: ceil(N / k). 10 × (1.5, 3) on (8, 32): 5 a node, 2 nodes; on (4, 16): 2 a
    // node, 5 nodes; 7 × 1 GPU on a 2-GPU node with room for 8 by CPU: 4 nodes.
    let ten = vec![shape("1.5", "3", "0"); 10];
    assert_eq!(
        first_fit_decreasing(&shape("8", "32", "0"), &ten)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        first_fit_decreasing(&shape("4", "16", "0"), &ten)
            .unwrap()
            .len(),
        5
    );
    let seven = vec![shape("1", "4", "1"); 7];
    let nodes = first_fit_decreasing(&shape("8", "32", "2"), &seven).unwrap();
    assert_eq!(nodes.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
    // An item larger than the node.
    assert_eq!(
        first_fit_decreasing(&node, &[shape("1", "1", "0"), shape("1", "17", "0")]),
        Err(1)
    );
    // A GPU item on a node without GPUs.
    assert_eq!(first_fit_decreasing(&node, &[shape("1", "1", "1")]), Err(0));
}

/// (price, provider, region, zone, instance type, spot): the order of choices.
type Key<'a> = (Decimal, &'a str, &'a str, Option<&'a str>, &'a str, bool);

#[test]
fn the_index_answers_like_a_full_scan() {
    // Every request shape of the tests above and more, against a plain filter-and-sort of every
    // offer: the pruned index must give the same list.
    let offers = &index().offers;
    let cases = [
        ("1", "1", None, Market::Either),
        ("2", "8", None, Market::Spot),
        ("8", "64", None, Market::OnDemand),
        ("96", "700", None, Market::Either),
        ("500", "1", None, Market::Either),
        ("4", "16", Some("L4:1"), Market::Either),
        ("0", "0", Some("H100:8"), Market::Spot),
        ("0", "0", Some("A100-80GB:2"), Market::OnDemand),
    ];
    for (vcpus, memory, gpu, market) in cases {
        let r = Request {
            gpu: gpu.map(|g| GpuRequest::parse(g).unwrap()),
            ..request(vcpus, memory, market)
        };
        let got = index().place(&r, 25).unwrap();
        let mut expected: Vec<Key> = Vec::new();
        for o in offers {
            let fits = o.vcpus >= d(vcpus)
                && o.memory_gib >= d(memory)
                && match (&r.gpu, &o.accelerator) {
                    (None, None) => true,
                    (Some(g), Some(a)) => {
                        a.name.eq_ignore_ascii_case(&g.model) && a.count >= g.count
                    }
                    _ => false,
                };
            if !fits {
                continue;
            }
            for spot in [false, true] {
                let wanted = match market {
                    Market::Either => true,
                    Market::Spot => spot,
                    Market::OnDemand => !spot,
                };
                if let (true, Some(price)) = (wanted, o.price(spot)) {
                    expected.push((
                        price,
                        o.provider.as_str(),
                        o.region.as_str(),
                        o.zone.as_deref(),
                        o.instance_type.as_str(),
                        spot,
                    ));
                }
            }
        }
        expected.sort();
        expected.truncate(25);
        let got: Vec<_> = got
            .iter()
            .map(|c| {
                (
                    c.hourly_usd,
                    c.offer.provider.as_str(),
                    c.offer.region.as_str(),
                    c.offer.zone.as_deref(),
                    c.offer.instance_type.as_str(),
                    c.spot,
                )
            })
            .collect();
        assert_eq!(got, expected, "{vcpus} {memory} {gpu:?} {market:?}");
    }
}

#[test]
fn pruned_packing_keeps_the_best_of_the_full_list() {
    // The early stop of `pack` must not change its answer: the first 5 of a limited walk are the
    // first 5 of every shape's total, ties in the same order.
    let cases = [
        ("1.5", "3", None, Market::Spot, 10),
        ("0.25", "0.5", None, Market::Either, 40),
        ("2", "64", None, Market::OnDemand, 3),
        ("16", "128", None, Market::Either, 7),
        ("4", "40", Some("L4:1"), Market::Spot, 6),
        ("8", "32", Some("A100:1"), Market::Either, 5),
        ("1", "1", None, Market::Either, 1),
    ];
    for (vcpus, memory, gpu, market, replicas) in cases {
        let r = Request {
            gpu: gpu.map(|g| GpuRequest::parse(g).unwrap()),
            ..request(vcpus, memory, market)
        };
        let all = index().pack(&r, replicas, usize::MAX).unwrap();
        assert!(all.len() > 5, "{vcpus} {memory} {gpu:?}");
        assert!(all
            .windows(2)
            .all(|w| w[0].total_hourly_usd <= w[1].total_hourly_usd));
        for limit in [1, 5] {
            assert_eq!(
                index().pack(&r, replicas, limit).unwrap(),
                all[..limit].to_vec(),
                "{vcpus} {memory} {gpu:?} {market:?} x{replicas} limit {limit}"
            );
        }
    }
    assert!(index()
        .pack(&request("1", "1", Market::Either), 3, 0)
        .unwrap()
        .is_empty());
}
