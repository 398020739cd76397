//! `spinshim up`'s compile cache: a second start loads what the first
//! compiled, `--disable-cache` keeps nothing, and a directory others may
//! write to is never loaded from.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Result;
use spinshim_tests::{get, sample_app, Up};

/// The compiled files in `dir`, with their inode and modification time.
fn cached(dir: &Path) -> Vec<(PathBuf, u64, i64, i64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|entry| {
            let meta = entry.metadata().unwrap();
            (entry.path(), meta.ino(), meta.mtime(), meta.mtime_nsec())
        })
        .collect();
    files.sort();
    files
}

async fn serves_hello(up: &Up) -> Result<()> {
    let reply = get(up.addr, "/").await?;
    anyhow::ensure!(
        (reply.status, reply.text().as_str()) == (200, "Hello, Spin!\n"),
        "{reply:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_start_loads_what_the_first_compiled() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let dir = cache.path().join("compiled");
    let env = [("SPINSHIM_CACHE_DIR", dir.to_str().unwrap())];
    let mut up = Up::start(&sample_app("hello"), &[], &env)?;
    serves_hello(&up).await?;
    assert!(up.terminate()?.success());
    let first = cached(&dir);
    assert_eq!(first.len(), 1, "one component, one file: {first:?}");
    assert!(first[0].0.extension().is_some_and(|ext| ext == "cwasm"));
    assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);

    // Loaded, not compiled and stored again (which would replace the file).
    let mut up = Up::start(&sample_app("hello"), &[], &env)?;
    serves_hello(&up).await?;
    assert!(up.terminate()?.success());
    assert_eq!(cached(&dir), first);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_cache_keeps_nothing() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let dir = cache.path().join("compiled");
    let env = [("SPINSHIM_CACHE_DIR", dir.to_str().unwrap())];
    let mut up = Up::start(&sample_app("hello"), &["--disable-cache"], &env)?;
    serves_hello(&up).await?;
    assert!(up.terminate()?.success());
    assert!(!dir.exists(), "{} was made", dir.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_others_may_write_to_is_not_used_and_said_so() -> Result<()> {
    let cache = tempfile::tempdir()?;
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777))?;
    let env = [("SPINSHIM_CACHE_DIR", cache.path().to_str().unwrap())];
    let mut up = Up::start(&sample_app("hello"), &[], &env)?;
    serves_hello(&up).await?;
    assert!(up.terminate()?.success());
    let output = up.output().join("\n");
    assert!(
        output.contains("Warning: components compile at every start")
            && output.contains(&cache.path().display().to_string()),
        "{output}"
    );
    assert_eq!(cached(cache.path()), Vec::new());
    Ok(())
}
