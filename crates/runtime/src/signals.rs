//! The signals that ask a host process to stop.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The exit status after a second stop signal: the shells' code for a
/// process ended by SIGINT (128 + 2) or SIGTERM (128 + 15).
fn status_for(kind: SignalKind) -> i32 {
    128 + kind.as_raw_value()
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (`ctr task kill`, kubelet).
///
/// From then on a second SIGINT or SIGTERM ends the process at once,
/// without waiting for the drain: the way out when an operator will not
/// wait.
///
/// If a handler cannot be installed, that signal is simply never seen,
/// and the process keeps its default reaction to it.
pub async fn shutdown_requested() {
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        () = recv(&mut terminate) => {}
        () = recv(&mut interrupt) => {}
    }
    tokio::spawn(async move {
        let second = tokio::select! {
            () = recv(&mut terminate) => SignalKind::terminate(),
            () = recv(&mut interrupt) => SignalKind::interrupt(),
        };
        eprintln!("second stop signal: exiting without waiting for in-flight work");
        std::process::exit(status_for(second));
    });
}

async fn recv(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_signal_exits_with_the_shells_status() {
        assert_eq!(status_for(SignalKind::interrupt()), 130);
        assert_eq!(status_for(SignalKind::terminate()), 143);
    }
}
