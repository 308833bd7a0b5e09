//! `costmill generate kubernetes|slurm`: seeded usage dumps in the shapes `kubectl` and `sacct`
//! print (ingest's `generate_usage`), for `costmill ingest kubernetes|slurm`, demos and tests.
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use ingest::generate_usage::{kubernetes, slurm};
use serde_json::json;

#[derive(Debug, Args)]
pub struct GenerateKubernetesArgs {
    #[arg(long, default_value_t = 36)]
    pub nodes: usize,
    #[arg(long, default_value_t = 480)]
    pub pods: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A directory: cluster.json (`kubectl get nodes,pods -A -o json`), owners.json
    /// (ReplicaSets and Jobs) and podmetrics.json (metrics.k8s.io PodMetrics).
    #[arg(short = 'o', long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SacctFormat {
    /// `sacct --parsable2` with its header, job steps included.
    Parsable,
    /// `sacct --json`.
    Json,
}

#[derive(Debug, Args)]
pub struct GenerateSlurmArgs {
    #[arg(long, default_value_t = 1000)]
    pub jobs: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "parsable")]
    pub format: SacctFormat,
    #[arg(short = 'o', long)]
    pub out: PathBuf,
}

fn write(path: &std::path::Path, bytes: Vec<u8>) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("could not write {}", path.display()))
}

pub fn kubernetes(args: &GenerateKubernetesArgs) -> Result<()> {
    let c = kubernetes::generate(args.seed, args.nodes, args.pods);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create {}", args.out.display()))?;
    let mut objects = c.nodes.clone();
    objects.extend(c.pods.iter().cloned());
    let metrics = json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                         "metadata": {}, "items": c.metrics});
    for (name, value) in [
        ("cluster.json", kubernetes::list(&objects)),
        ("owners.json", kubernetes::list(&c.owners)),
        ("podmetrics.json", metrics),
    ] {
        write(&args.out.join(name), serde_json::to_vec_pretty(&value)?)?;
    }
    println!(
        "wrote {} nodes, {} pods, {} owners and {} pod metrics to {}",
        c.nodes.len(),
        c.pods.len(),
        c.owners.len(),
        c.metrics.len(),
        args.out.display()
    );
    Ok(())
}

pub fn slurm(args: &GenerateSlurmArgs) -> Result<()> {
    let jobs = slurm::jobs(args.seed, args.jobs);
    let bytes = match args.format {
        SacctFormat::Parsable => slurm::parsable(&jobs).into_bytes(),
        SacctFormat::Json => serde_json::to_vec_pretty(&slurm::json_document(&jobs))?,
    };
    write(&args.out, bytes)?;
    println!("wrote {} jobs to {}", jobs.len(), args.out.display());
    Ok(())
}
