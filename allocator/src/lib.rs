//! Allocation: every cost row to a service, team and env by ordered ownership rules; shared pools
//! split among services (even, proportional to a metric, weighted by direct cost, fixed shares);
//! money conserved exactly: allocated + unallocated = input, per day, in integer units of 10^-18.
pub mod capacity;
pub mod config;
pub mod engine;
pub mod kubernetes;
pub mod matcher;
pub mod run;
pub mod slurm;
pub mod split;
pub mod spread;

pub use config::{AllocationConfig, OwnerValue, Pool, PoolMethod, Rule};
pub use engine::{allocate, Allocation, AllocationKind, CostGroup, MetricValue};
pub use matcher::Matcher;
