//! The `costmill` binary.
mod alerts_cmd;
mod cli;
mod config;
mod demo;
mod export;
mod generate_usage;
mod http;
mod ingest_cmd;
mod interrupt;
mod jobs;
mod metrics;
mod migrations_cmd;
mod migrations_exec;
mod optimize_cmd;
mod progress;
mod recommend_cmd;
mod report;
mod serve;
mod showback;
mod status;
mod tokens;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // `costmill … | head` ends quietly, as command-line tools do, instead of panicking on EPIPE.
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("COSTMILL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if cli.verbose { "info" } else { "warn" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
