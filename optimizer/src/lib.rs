//! The optimizer (issue #9): the multi-cloud instance price catalog and placement.
//!
//! - [`catalog`]: SkyPilot-format price catalogs read by column name, the embedded extract in
//!   `data/catalog/`, and the [`Offer`]s they make (GCP GPU VMs priced as host + accelerator).
//! - [`placement`]: the cheapest offers for a request (vCPUs, memory, GPUs, market, providers,
//!   regions) across every family, and packing N replicas onto node shapes. Pure Rust: no
//!   database.
//! - [`store`]: the catalog's versions in ClickHouse (`price_catalog`).
//!
//! Recommendations (rightsizing, moves to spot) are meant to build on [`PlacementIndex`]: build
//! it once from the current catalog and ask it for each workload.
pub mod catalog;
pub mod execute;
pub mod migration;
pub mod placement;
pub mod plan;
pub mod policy;
pub mod recommend;
pub mod recommend_slurm;
pub mod recommend_vm;
pub mod report;
pub mod skypilot;
pub mod store;

pub use catalog::{Accelerator, Catalog, CatalogError, CatalogRow, Offer};
pub use placement::{Choice, GpuRequest, Market, Packing, PlacementError, PlacementIndex, Request};
