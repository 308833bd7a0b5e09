//! `costmill ingest …`: sources run once, with a progress bar, stopped cleanly by Ctrl-C.
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ingest::{RunOptions, RunReport};
use queries::Store;

use crate::cli::IngestCommand;
use crate::config::Config;
use crate::interrupt::cancel_on_signals;
use crate::progress::Bar;
use crate::report;

/// Run `job` with a progress bar and Ctrl-C/SIGTERM wired to its cancel token.
pub async fn with_progress<F, Fut>(
    options: RunOptions,
    job: F,
) -> Result<RunReport, ingest::IngestError>
where
    F: FnOnce(RunOptions) -> Fut,
    Fut: std::future::Future<Output = Result<RunReport, ingest::IngestError>>,
{
    let bar = Arc::new(Bar::rows());
    let options = RunOptions {
        progress: bar.clone(),
        cancel: cancel_on_signals(),
        ..options
    };
    let result = job(options).await;
    bar.finish();
    result
}

pub async fn run(store: &Store, config: &Config, command: IngestCommand) -> Result<()> {
    match command {
        IngestCommand::Focus(args) => {
            let options = RunOptions {
                strict: args.strict,
                max_errors: args.max_errors,
                ..RunOptions::default()
            };
            let report = with_progress(options, |o| async move {
                ingest::ingest_focus(store, &args.paths, &args.source, &o).await
            })
            .await?;
            report::print_ingest(&report);
            print_next_step(&report);
        }
        IngestCommand::Metrics {
            paths,
            source,
            max_errors,
        } => {
            let options = RunOptions {
                max_errors,
                ..RunOptions::default()
            };
            let report = with_progress(options, |o| async move {
                ingest::ingest_metrics(store, &paths, &source, &o).await
            })
            .await?;
            report::print_ingest(&report);
        }
        IngestCommand::Slurm {
            paths,
            cluster,
            max_errors,
        } => {
            let options = RunOptions {
                max_errors,
                ..RunOptions::default()
            };
            let report = with_progress(options, |o| async move {
                ingest::ingest_slurm(store, &paths, &cluster, &o).await
            })
            .await?;
            report::print_ingest(&report);
            print_next_step(&report);
        }
        IngestCommand::Kubernetes { paths, cluster, at } => {
            let at = at
                .map(|text| {
                    chrono::DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.timestamp() as u32)
                        .with_context(|| {
                            format!("--at {text:?}: expected a time like 2026-11-20T10:00:00Z")
                        })
                })
                .transpose()?;
            let report = with_progress(RunOptions::default(), |o| async move {
                ingest::ingest_kubernetes(store, &paths, &cluster, at, &o).await
            })
            .await?;
            report::print_ingest(&report);
            print_next_step(&report);
        }
        IngestCommand::Run { source } => {
            let selected: Vec<_> = config
                .sources
                .iter()
                .filter(|s| source.as_deref().is_none_or(|n| n == s.name()))
                .collect();
            if selected.is_empty() {
                bail!(
                    "no [[sources]] in the configuration{}",
                    source.map(|s| format!(" named `{s}`")).unwrap_or_default()
                );
            }
            for source in selected {
                let built = source.build();
                let report = with_progress(source.run_options(), |o| async move {
                    ingest::run_source(store, built.as_ref(), &o).await
                })
                .await
                .with_context(|| format!("source `{}`", source.name()))?;
                report::print_ingest(&report);
                print_next_step(&report);
            }
        }
    }
    Ok(())
}

fn print_next_step(report: &RunReport) {
    if let Some((from, to)) = report.days {
        println!(
            "next: `costmill allocate --from {} --to {}` gives the changed days their owners",
            allocator::run::day_string(from),
            allocator::run::day_string(to)
        );
    }
}
