//! bench/optimize: place N seeded workloads against the whole embedded catalog, one thread.
//!
//! `placement_bench [--workloads N] [--seed S] [--limit K]` prints one line of figures (in
//! milliseconds): all of the below (`total_ms`, without generating the workloads), parsing and
//! building the catalog, building the index, placing every workload (the K cheapest choices
//! each), and packing every workload's replicas (each shape's total, the K best). Workloads: small web pods (60 %), memory-heavy services (20 %), GPU jobs (15 %),
//! large CPU batch jobs (5 %); a third limited to one or two providers, a fifth of those also to
//! one or two of their regions; spot, on demand or either.
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use optimizer::placement::{GpuRequest, Market, PlacementIndex, Request};
use optimizer::Catalog;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

struct Workload {
    request: Request,
    replicas: u64,
}

fn workloads(n: usize, seed: u64, regions: &BTreeMap<String, Vec<String>>) -> Vec<Workload> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let providers: Vec<&String> = regions.keys().collect();
    let cpu_providers: Vec<&String> = providers
        .iter()
        .copied()
        .filter(|p| !matches!(p.as_str(), "lambda" | "runpod"))
        .collect();
    (0..n)
        .map(|_| {
            let kind: f64 = rng.gen();
            let market = match rng.gen_range(0..10) {
                0..=3 => Market::Spot,
                4..=6 => Market::Either,
                _ => Market::OnDemand,
            };
            let (vcpus, memory, gpu, replicas) = if kind < 0.60 {
                // Small web pods: 0.25 to 2 vCPUs, 1 to 4 GiB per vCPU, 2 to 40 replicas.
                let vcpus = *["0.25", "0.5", "1", "1", "2", "2"]
                    .choose(&mut rng)
                    .unwrap();
                let ratio = *["1", "2", "4"].choose(&mut rng).unwrap();
                (
                    d(vcpus),
                    (d(vcpus) * d(ratio)).max(d("0.5")),
                    None,
                    rng.gen_range(2..=40),
                )
            } else if kind < 0.80 {
                // Memory-heavy (caches, JVMs, databases): 8 or 16 GiB per vCPU.
                let vcpus = *["2", "4", "8", "16"].choose(&mut rng).unwrap();
                let ratio = *["8", "16", "7.5"].choose(&mut rng).unwrap();
                (d(vcpus), d(vcpus) * d(ratio), None, rng.gen_range(1..=6))
            } else if kind < 0.95 {
                // GPU jobs: a model, 1 to 8 of them, some host CPU and memory per GPU.
                let model = *[
                    "L4",
                    "L4",
                    "A100",
                    "A100-80GB",
                    "H100",
                    "T4",
                    "V100",
                    "L40S",
                    "H200",
                ]
                .choose(&mut rng)
                .unwrap();
                let count = *[1u32, 1, 1, 2, 4, 8].choose(&mut rng).unwrap();
                let gpu = GpuRequest {
                    model: model.into(),
                    count: Decimal::from(count),
                };
                let vcpus = Decimal::from(count * rng.gen_range(2..=8));
                let memory = vcpus * d("4");
                (vcpus, memory, Some(gpu), rng.gen_range(1..=4))
            } else {
                // Large CPU batch: 32 to 96 vCPUs.
                let vcpus = *["32", "48", "64", "96"].choose(&mut rng).unwrap();
                (d(vcpus), d(vcpus) * d("4"), None, rng.gen_range(1..=10))
            };
            let mut request = Request {
                vcpus,
                memory_gib: memory,
                gpu,
                market,
                providers: Vec::new(),
                regions: Vec::new(),
            };
            if rng.gen_bool(1.0 / 3.0) {
                let pool = if request.gpu.is_some() {
                    &providers
                } else {
                    &cpu_providers
                };
                let k = rng.gen_range(1..=2);
                let chosen: Vec<&&String> = pool.choose_multiple(&mut rng, k).collect();
                request.providers = chosen.iter().map(|p| p.to_string()).collect();
                if rng.gen_bool(0.2) {
                    let mut all: Vec<&String> = chosen
                        .iter()
                        .flat_map(|p| regions[p.as_str()].iter())
                        .collect();
                    all.sort();
                    let k = rng.gen_range(1..=2);
                    request.regions = all
                        .choose_multiple(&mut rng, k)
                        .map(|r| r.to_string())
                        .collect();
                }
            }
            Workload { request, replicas }
        })
        .collect()
}

fn main() {
    let mut n = 10_000usize;
    let mut seed = 1u64;
    let mut limit = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("a value after each flag");
        match flag.as_str() {
            "--workloads" => n = value.parse().expect("--workloads N"),
            "--seed" => seed = value.parse().expect("--seed S"),
            "--limit" => limit = value.parse().expect("--limit K"),
            other => panic!("unknown flag {other}; use --workloads N --seed S --limit K"),
        }
    }
    let started = Instant::now();
    let catalog = Catalog::embedded();
    let catalog_ms = started.elapsed().as_secs_f64() * 1e3;
    let offers = catalog.offers.len();
    let mut regions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &catalog.offers {
        let list = regions.entry(o.provider.clone()).or_default();
        if !list.contains(&o.region) {
            list.push(o.region.clone());
        }
    }
    let t = Instant::now();
    let index = PlacementIndex::new(catalog.offers);
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let work = workloads(n, seed, &regions);
    let generate = t.elapsed();

    let t = Instant::now();
    let (mut answered, mut choices, mut checksum) = (0usize, 0usize, Decimal::ZERO);
    for w in &work {
        let found = index.place(&w.request, limit).expect("valid request");
        if let Some(best) = found.first() {
            answered += 1;
            checksum += best.hourly_usd;
        }
        choices += found.len();
    }
    let place_ms = t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let (mut packed, mut pack_total) = (0usize, Decimal::ZERO);
    for w in &work {
        let found = index
            .pack(&w.request, w.replicas, limit)
            .expect("valid request");
        if let Some(best) = found.first() {
            packed += 1;
            pack_total += best.total_hourly_usd;
        }
    }
    let pack_ms = t.elapsed().as_secs_f64() * 1e3;
    let total_ms = (started.elapsed() - generate).as_secs_f64() * 1e3;
    println!(
        "workloads={n} offers={offers} total_ms={total_ms:.2} catalog_ms={catalog_ms:.2} \
         index_ms={index_ms:.2} place_ms={place_ms:.2} pack_ms={pack_ms:.2} answered={answered} \
         choices={choices} packed={packed} best_sum_usd={checksum} pack_sum_usd={pack_total}"
    );
}
