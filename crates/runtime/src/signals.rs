//! The signals that ask a host process to stop.

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (`ctr task kill`, kubelet).
///
/// If a handler cannot be installed, that signal is simply never seen,
/// and the process keeps its default reaction to it.
pub async fn shutdown_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = recv(&mut terminate) => {}
        _ = recv(&mut interrupt) => {}
    }
}

async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
