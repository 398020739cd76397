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

/// Starts hello with `args` and `env`, checks it serves, stops it; its output.
async fn serve_hello_once(args: &[&str], env: &[(&str, &str)]) -> Result<String> {
    let mut up = Up::start(&sample_app("hello"), args, env)?;
    let reply = get(up.addr, "/").await?;
    anyhow::ensure!(
        (reply.status, reply.text().as_str()) == (200, "Hello, Spin!\n"),
        "{reply:?}"
    );
    assert!(up.terminate()?.success());
    Ok(up.output().join("\n"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_start_loads_what_the_first_compiled() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let dir = cache.path().join("compiled");
    let env = [("SPINSHIM_CACHE_DIR", dir.to_str().unwrap())];
    serve_hello_once(&[], &env).await?;
    let first = cached(&dir);
    assert_eq!(first.len(), 1, "one component, one file: {first:?}");
    assert!(first[0].0.extension().is_some_and(|ext| ext == "cwasm"));
    assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);

    // Loaded, not compiled and stored again (which would replace the file).
    serve_hello_once(&[], &env).await?;
    assert_eq!(cached(&dir), first);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_cache_keeps_nothing() -> Result<()> {
    let cache = tempfile::tempdir()?;
    let dir = cache.path().join("compiled");
    let env = [("SPINSHIM_CACHE_DIR", dir.to_str().unwrap())];
    serve_hello_once(&["--disable-cache"], &env).await?;
    assert!(!dir.exists(), "{} was made", dir.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cache_others_may_write_to_is_not_used_and_said_so() -> Result<()> {
    let cache = tempfile::tempdir()?;
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777))?;
    let env = [("SPINSHIM_CACHE_DIR", cache.path().to_str().unwrap())];
    let output = serve_hello_once(&[], &env).await?;
    assert!(
        output.contains("Warning: components compile at every start")
            && output.contains(&cache.path().display().to_string()),
        "{output}"
    );
    assert_eq!(cached(cache.path()), Vec::new());
    Ok(())
}
