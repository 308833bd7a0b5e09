//! From catalog rows to [`Offer`]s: what can be rented where, at which hourly prices.
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::Serialize;

use super::*;

/// Something that can be rented, at one place, with its hourly prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offer {
    pub provider: String,
    pub instance_type: String,
    pub vcpus: Decimal,
    pub memory_gib: Decimal,
    pub accelerator: Option<Accelerator>,
    pub region: String,
    /// None where the provider's catalog has no zones (Azure, Lambda).
    pub zone: Option<String>,
    /// USD per hour on demand; None: not offered on demand.
    pub on_demand_hourly_usd: Option<Decimal>,
    /// USD per hour as spot, as the catalog says even when above on demand (RunPod's L40S
    /// rows); None: not offered as spot.
    pub spot_hourly_usd: Option<Decimal>,
    /// GCP GPU VMs: the host's and the accelerator row's prices that make up the figures above.
    pub gcp_parts: Option<GcpParts>,
}

impl Offer {
    /// The hourly price in a market, if offered there.
    pub fn price(&self, spot: bool) -> Option<Decimal> {
        if spot {
            self.spot_hourly_usd
        } else {
            self.on_demand_hourly_usd
        }
    }
}

/// A GCP GPU VM is priced as its host VM row plus its accelerator row (as SkyPilot prices it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcpParts {
    pub host_on_demand: Option<Decimal>,
    pub host_spot: Option<Decimal>,
    pub accelerator_on_demand: Option<Decimal>,
    pub accelerator_spot: Option<Decimal>,
}

/// GCP host VM types of each accelerator model and count, from SkyPilot's
/// `sky/catalog/gcp_catalog.py` (`_ACC_INSTANCE_TYPE_DICTS`): A100 needs A2, L4 needs G2, …
const GCP_ACCELERATOR_HOSTS: &[(&str, u32, &[&str])] = &[
    ("A100", 1, &["a2-highgpu-1g"]),
    ("A100", 2, &["a2-highgpu-2g"]),
    ("A100", 4, &["a2-highgpu-4g"]),
    ("A100", 8, &["a2-highgpu-8g"]),
    ("A100", 16, &["a2-megagpu-16g"]),
    ("A100-80GB", 1, &["a2-ultragpu-1g"]),
    ("A100-80GB", 2, &["a2-ultragpu-2g"]),
    ("A100-80GB", 4, &["a2-ultragpu-4g"]),
    ("A100-80GB", 8, &["a2-ultragpu-8g"]),
    (
        "L4",
        1,
        &[
            "g2-standard-4",
            "g2-standard-8",
            "g2-standard-12",
            "g2-standard-16",
            "g2-standard-32",
        ],
    ),
    ("L4", 2, &["g2-standard-24"]),
    ("L4", 4, &["g2-standard-48"]),
    ("L4", 8, &["g2-standard-96"]),
    ("H100", 1, &["a3-highgpu-1g"]),
    ("H100", 2, &["a3-highgpu-2g"]),
    ("H100", 4, &["a3-highgpu-4g"]),
    ("H100", 8, &["a3-highgpu-8g"]),
    ("H100-MEGA", 8, &["a3-megagpu-8g"]),
    ("H200", 8, &["a3-ultragpu-8g"]),
    ("B200", 8, &["a4-highgpu-8g"]),
];

/// Other GPUs attach to N1 hosts up to a number of vCPUs and GiB of memory per count
/// (SkyPilot's `_NUM_ACC_TO_MAX_CPU_AND_MEMORY`).
const GCP_N1_LIMITS: &[(&str, u32, u32, u32)] = &[
    ("K80", 1, 8, 52),
    ("K80", 2, 16, 104),
    ("K80", 4, 32, 208),
    ("K80", 8, 64, 208),
    ("V100", 1, 12, 78),
    ("V100", 2, 24, 156),
    ("V100", 4, 48, 312),
    ("V100", 8, 96, 624),
    ("T4", 1, 48, 312),
    ("T4", 2, 48, 312),
    ("T4", 4, 96, 624),
    ("P4", 1, 24, 156),
    ("P4", 2, 48, 312),
    ("P4", 4, 96, 624),
    ("P100", 1, 16, 104),
    ("P100", 2, 32, 208),
    ("P100", 4, 96, 624),
];

/// GCP families whose VMs come with GPUs: never offered without their accelerator.
const GCP_GPU_FAMILIES: &[&str] = &["a2-", "a3-", "a4-", "g2-"];

/// How a set of rows became offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BuildReport {
    pub rows: usize,
    pub offers: usize,
    /// GCP GPU offers made of a host row and an accelerator row.
    pub gcp_combined: usize,
    /// Rows that make no offer of their own, by reason.
    pub not_offered: BTreeMap<&'static str, usize>,
}

/// Every offer of a set of catalog rows, and how they were made.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub offers: Vec<Offer>,
    pub report: BuildReport,
}

fn add(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    Some(a? + b?)
}

fn whole(count: Decimal) -> Option<u32> {
    use rust_decimal::prelude::ToPrimitive;
    count.fract().is_zero().then(|| count.to_u32()).flatten()
}

impl Catalog {
    /// The embedded extract's offers.
    pub fn embedded() -> Catalog {
        let (rows, _) = merge_duplicates(embedded_rows()).expect("embedded catalog merges");
        Catalog::from_rows(&rows)
    }

    /// Offers from rows (already merged: see [`merge_duplicates`]).
    ///
    /// - A row with an instance type and at least one price is an offer, except GCP's GPU host
    ///   VMs (families a2, a3, a4, g2), priced with their accelerator rows, and GPU types whose
    ///   accelerator the catalog does not name (Azure `Standard_N*` with an empty
    ///   AcceleratorName): neither can be placed as a CPU machine, nor matched to a GPU model.
    /// - A GCP accelerator-only row is combined with each host VM type SkyPilot attaches that
    ///   model and count to, in the same region and zone: vCPUs and memory of the host; price =
    ///   host + accelerator, on demand and spot each, absent when either part is (as pandas'
    ///   NaN + x). A100/A100-80GB/L4/H100/H100-MEGA/H200/B200 go on their A2/G2/A3/A4 types
    ///   (every L4:1 G2 size: g2-standard-4 to -32), K80/V100/T4/P4/P100 on N1 VMs within
    ///   GCP's vCPU and memory limits. TPU rows (`tpu-*`) are not VMs: no offer.
    pub fn from_rows(rows: &[CatalogRow]) -> Catalog {
        let mut report = BuildReport {
            rows: rows.len(),
            ..BuildReport::default()
        };
        let mut skip = |reason: &'static str| *report.not_offered.entry(reason).or_default() += 1;
        let mut offers = Vec::with_capacity(rows.len());
        // GCP host rows by (region, zone), for the accelerator rows.
        let mut gcp_hosts: HashMap<(&str, Option<&str>), Vec<&CatalogRow>> = HashMap::new();
        for row in rows {
            if row.provider == "gcp" && !row.instance_type.is_empty() {
                gcp_hosts
                    .entry((row.region.as_str(), row.zone.as_deref()))
                    .or_default()
                    .push(row);
            }
        }
        let mut gcp_combined = 0;
        for row in rows {
            if row.instance_type.is_empty() {
                if row.provider != "gcp" {
                    skip("accelerator-only row of a provider other than gcp");
                    continue;
                }
                let accelerator = row.accelerator.as_ref().expect("parser checked");
                if accelerator.name.to_ascii_lowercase().starts_with("tpu-") {
                    skip("gcp TPU (not a VM)");
                    continue;
                }
                let hosts = gcp_hosts_for(accelerator, &gcp_hosts, row);
                if hosts.is_empty() {
                    skip("gcp accelerator without a host VM in its zone");
                    continue;
                }
                for host in hosts {
                    let offer = Offer {
                        provider: row.provider.clone(),
                        instance_type: host.instance_type.clone(),
                        vcpus: host.vcpus.unwrap_or_default(),
                        memory_gib: host.memory_gib.unwrap_or_default(),
                        accelerator: Some(accelerator.clone()),
                        region: row.region.clone(),
                        zone: row.zone.clone(),
                        on_demand_hourly_usd: add(host.price_hourly_usd, row.price_hourly_usd),
                        spot_hourly_usd: add(host.spot_price_hourly_usd, row.spot_price_hourly_usd),
                        gcp_parts: Some(GcpParts {
                            host_on_demand: host.price_hourly_usd,
                            host_spot: host.spot_price_hourly_usd,
                            accelerator_on_demand: row.price_hourly_usd,
                            accelerator_spot: row.spot_price_hourly_usd,
                        }),
                    };
                    if offer.on_demand_hourly_usd.is_none() && offer.spot_hourly_usd.is_none() {
                        continue;
                    }
                    gcp_combined += 1;
                    offers.push(offer);
                }
                continue;
            }
            if row.provider == "gcp"
                && row.accelerator.is_none()
                && GCP_GPU_FAMILIES
                    .iter()
                    .any(|f| row.instance_type.starts_with(f))
            {
                skip("gcp GPU host VM (priced with its accelerator rows)");
                continue;
            }
            if row.provider == "azure"
                && row.accelerator.is_none()
                && row.instance_type.starts_with("Standard_N")
            {
                skip("GPU type whose accelerator the catalog does not name");
                continue;
            }
            if row.price_hourly_usd.is_none() && row.spot_price_hourly_usd.is_none() {
                skip("no price");
                continue;
            }
            offers.push(Offer {
                provider: row.provider.clone(),
                instance_type: row.instance_type.clone(),
                vcpus: row.vcpus.unwrap_or_default(),
                memory_gib: row.memory_gib.unwrap_or_default(),
                accelerator: row.accelerator.clone(),
                region: row.region.clone(),
                zone: row.zone.clone(),
                on_demand_hourly_usd: row.price_hourly_usd,
                spot_hourly_usd: row.spot_price_hourly_usd,
                gcp_parts: None,
            });
        }
        report.offers = offers.len();
        report.gcp_combined = gcp_combined;
        Catalog { offers, report }
    }
}

fn gcp_hosts_for<'a>(
    accelerator: &Accelerator,
    hosts: &HashMap<(&str, Option<&str>), Vec<&'a CatalogRow>>,
    row: &CatalogRow,
) -> Vec<&'a CatalogRow> {
    let Some(in_zone) = hosts.get(&(row.region.as_str(), row.zone.as_deref())) else {
        return Vec::new();
    };
    let Some(count) = whole(accelerator.count) else {
        return Vec::new();
    };
    let name = accelerator.name.as_str();
    let dedicated: Vec<&str> = GCP_ACCELERATOR_HOSTS
        .iter()
        .filter(|(model, _, _)| model.eq_ignore_ascii_case(name))
        .filter(|(_, n, _)| *n == count)
        .flat_map(|(_, _, types)| types.iter().copied())
        .collect();
    if GCP_ACCELERATOR_HOSTS
        .iter()
        .any(|(model, _, _)| model.eq_ignore_ascii_case(name))
    {
        return in_zone
            .iter()
            .filter(|h| dedicated.contains(&h.instance_type.as_str()))
            .copied()
            .collect();
    }
    let Some(&(_, _, max_cpus, max_memory)) = GCP_N1_LIMITS
        .iter()
        .find(|(model, n, _, _)| model.eq_ignore_ascii_case(name) && *n == count)
    else {
        return Vec::new();
    };
    in_zone
        .iter()
        .filter(|h| h.instance_type.starts_with("n1-") && h.accelerator.is_none())
        .filter(|h| {
            h.vcpus.is_some_and(|v| v <= Decimal::from(max_cpus))
                && h.memory_gib.is_some_and(|m| m <= Decimal::from(max_memory))
        })
        .copied()
        .collect()
}
