//! A machine's cost to what ran on it, shared by the Kubernetes and Slurm paths: the cost is
//! split into CPU, memory and GPU parts by capacity × relative hourly price (OpenCost's method
//! when only a machine total is known), then each part among the consumers by what they used;
//! capacity nobody used is idle. Every split is exact.
use ethnum::I256;

use crate::kubernetes::KubernetesConfig;
use crate::split::{split_exact, units};

/// `(billed, effective)` in Decimal(38, 18) units.
pub type Amounts = (i128, i128);

/// CPU, memory (GiB), GPU — capacities, usages or prices in that order.
pub type PerResource = [i128; 3];

const ONE: i128 = 1_000_000_000_000_000_000;

/// Relative hourly prices of a core, a GiB of memory and a GPU, from `[allocation.kubernetes]`.
pub fn relative_prices(config: &KubernetesConfig) -> PerResource {
    [
        &config.cpu_core_hourly,
        &config.ram_gib_hourly,
        &config.gpu_hourly,
    ]
    .map(|p| units(p).unwrap_or(0))
}

/// A machine's cost into CPU, memory and GPU parts by capacity × relative price.
pub fn by_resource(cost: Amounts, capacity: PerResource, prices: PerResource) -> [Amounts; 3] {
    let weights: Vec<i128> = (0..3)
        .map(|r| (I256::from(capacity[r]) * I256::from(prices[r]) / I256::from(ONE)).as_i128())
        .collect();
    if weights.iter().all(|w| *w == 0) {
        return [cost, (0, 0), (0, 0)];
    }
    let (billed, effective) = (split_exact(cost.0, &weights), split_exact(cost.1, &weights));
    [0, 1, 2].map(|r| (billed[r], effective[r]))
}

/// Each resource's part to the consumers by their use; what capacity no consumer used is idle.
/// Returns the consumers' amounts and the idle amount.
pub fn to_consumers(
    parts: [Amounts; 3],
    capacity: PerResource,
    usage: &[PerResource],
) -> (Vec<Amounts>, Amounts) {
    let mut consumers = vec![(0i128, 0i128); usage.len()];
    let mut idle = (0i128, 0i128);
    for r in 0..3 {
        let mut shares: Vec<i128> = usage.iter().map(|u| u[r].max(0)).collect();
        let used: i128 = shares.iter().sum();
        shares.push((capacity[r] - used).max(0));
        let (billed, effective) = parts[r];
        if shares.iter().all(|s| *s == 0) {
            idle.0 += billed;
            idle.1 += effective;
            continue;
        }
        let (b, e) = (
            split_exact(billed, &shares),
            split_exact(effective, &shares),
        );
        for (i, consumer) in consumers.iter_mut().enumerate() {
            consumer.0 += b[i];
            consumer.1 += e[i];
        }
        idle.0 += b[usage.len()];
        idle.1 += e[usage.len()];
    }
    (consumers, idle)
}
