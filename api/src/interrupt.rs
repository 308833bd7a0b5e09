//! Ctrl-C and SIGTERM: the first one cancels the running job, which aborts cleanly (staging
//! dropped, nothing swapped; a swap already under way finishes first); a second one exits at once.
use tokio_util::sync::CancellationToken;

pub fn cancel_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    return;
                }
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!("stopping: aborting the running job cleanly (again to exit at once)");
                cancel.cancel();
            } else {
                std::process::exit(130);
            }
        }
    });
    token
}
