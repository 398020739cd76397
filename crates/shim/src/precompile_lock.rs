//! One image's precompilation at a time on a node.
//!
//! runwasi (containerd-shim-wasm 1.0.1) stores each precompiled layer
//! under a containerd lease named after our cache key alone, the same
//! name for every image and every start. When two shim processes save at
//! once (replicas of a new image starting together, or two new images),
//! the second lease creation fails with `AlreadyExists`, runwasi drops
//! the image's layers, and the container starts with no app. Until that
//! is fixed upstream, shims on a node take turns: a compile holds an
//! exclusive `flock` from before it compiles until runwasi has had time
//! to store the results, which it does right after our compiler returns.
//! Warm starts never compile, so they never wait.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Duration;

/// The lock file; `/run` is node-local and cleared at boot.
const LOCK_PATH: &str = "/run/containerd-shim-spin-v2.precompile.lock";

/// How long runwasi may take to store what we return: a base for its
/// round trips to containerd plus time to stream the bytes.
fn store_time(bytes: usize) -> Duration {
    Duration::from_millis(500) + Duration::from_secs_f64(bytes as f64 / 50e6)
}

/// A held turn; [`PrecompileTurn::release_after_store`] gives it back.
pub struct PrecompileTurn(Option<File>);

impl PrecompileTurn {
    /// Waits for this node's turn to precompile. Without a lock file (no
    /// permission, odd host) it goes ahead unlocked, as runwasi alone would.
    pub async fn take() -> Self {
        let file = tokio::task::spawn_blocking(|| lock(Path::new(LOCK_PATH)))
            .await
            .ok()
            .flatten();
        Self(file)
    }

    /// Keeps the turn while runwasi stores `bytes` of results, then
    /// releases it in the background.
    pub fn release_after_store(mut self, bytes: usize) {
        if let Some(file) = self.0.take() {
            let hold = store_time(bytes);
            let _ = std::thread::Builder::new()
                .name("precompile-turn".into())
                .spawn(move || {
                    std::thread::sleep(hold);
                    drop(file);
                });
        }
    }
}

fn lock(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|err| {
            log::error!(
                "precompiling without a node lock: {}: {err}",
                path.display()
            )
        })
        .ok()?;
    match file.lock() {
        Ok(()) => Some(file),
        Err(err) => {
            log::error!(
                "precompiling without a node lock: {}: {err}",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_makes_the_next_taker_wait_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = lock(&path).expect("first lock");
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || {
                let start = std::time::Instant::now();
                let second = lock(&path).expect("second lock");
                drop(second);
                start.elapsed()
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
        let waited = waiter.join().unwrap();
        assert!(waited >= Duration::from_millis(250), "waited {waited:?}");
    }

    #[test]
    fn store_time_grows_with_the_bytes() {
        assert_eq!(store_time(0), Duration::from_millis(500));
        assert_eq!(store_time(50_000_000), Duration::from_millis(1500));
    }
}
