//! The threads SQLite work runs on, shared by key-value and SQLite.
//!
//! SQLite calls block (disk I/O, locks), so they never run on the async
//! runtime's threads. tokio's `spawn_blocking` would do, but under load it
//! grows a thread per waiting call, and those threads then queue on the
//! same connection: a request pays for thread wake-ups and lock hand-offs
//! more than for the query. A few long-lived threads taking jobs from one
//! queue keep the hand-off to one wake-up per call, and a busy thread runs
//! the next job without sleeping.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, Result};

type Job = Box<dyn FnOnce() + Send>;

/// At most this many threads, however many cores.
const MAX_THREADS: usize = 4;

/// Jobs queued or running on the SQLite threads.
static PENDING: AtomicUsize = AtomicUsize::new(0);

fn thread_count() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(2, MAX_THREADS)
}

fn queue() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = thread_count();
        for index in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sqlite-{index}"))
                .spawn(move || work(&receiver));
            if let Err(err) = spawned {
                tracing::error!("starting SQLite thread {index}: {err}");
            }
        }
        Mutex::new(sender)
    })
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        // A panic fails that call (its result channel is dropped), not the
        // thread.
        let _ = catch_unwind(AssertUnwindSafe(job));
        PENDING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `work` on an SQLite thread and waits for its result without
/// blocking the caller's thread. When every SQLite thread is taken (long
/// statements, writers waiting for a lock), the call goes to tokio's
/// blocking pool instead, so one slow database does not stall the others.
pub async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    if PENDING.load(Ordering::Relaxed) >= thread_count() {
        return tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| anyhow!("the SQLite call failed inside the host (internal error)"));
    }
    PENDING.fetch_add(1, Ordering::Relaxed);
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(work());
    });
    queue()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| {
            PENDING.fetch_sub(1, Ordering::Relaxed);
            anyhow!("the SQLite threads are gone")
        })?;
    answered
        .await
        .map_err(|_| anyhow!("the SQLite call failed inside the host (internal error)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_and_a_panicking_job_fails_alone() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(run(|| 2 + 2).await.unwrap(), 4);
            assert!(run(|| -> u8 { panic!("boom") }).await.is_err());
            assert_eq!(run(|| "still here").await.unwrap(), "still here");
        });
    }
}
