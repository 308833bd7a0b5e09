//! Seeded usage data in the shapes real tools print, for `costmill generate kubernetes|slurm`,
//! the demo, the benchmarks and the tests: each generator also says, without costmill's
//! parsers, what every object truly is, so tests compare the ingested rows with it.
pub mod kubernetes;
pub mod slurm;
