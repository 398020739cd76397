//! Assertions and fixtures shared by the integration tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::{repo_root, run_to_exit, Exited, Reply, Up};

/// How long a failing `spinshim up` may take to give up.
pub const EXIT_LIMIT: Duration = Duration::from_secs(120);

/// The built sample wasm `file`, as an absolute path.
pub fn wasm(file: &str) -> PathBuf {
    built("wasm32-wasip2", file)
}

/// A sample built as a WASI preview1 core module
/// (`images/target/wasm32-wasip1/release/<file>`).
pub fn core_module(file: &str) -> PathBuf {
    built("wasm32-wasip1", file)
}

/// `images/target/<target>/release/<file>`, which must exist.
fn built(target: &str, file: &str) -> PathBuf {
    let path = repo_root()
        .join("images/target")
        .join(target)
        .join("release")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-images.sh",
        path.display()
    );
    path
}

/// A spin.toml with one HTTP `route` served by component `component`, whose
/// table holds the single line `body` (e.g. `source = "app.wasm"`).
pub fn one_component_manifest(app: &str, route: &str, component: &str, body: &str) -> String {
    format!(
        "spin_manifest_version = 2\n\n[application]\nname = \"{app}\"\n\n\
         [[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n\n\
         [component.{component}]\n{body}\n"
    )
}

/// Writes `spin.toml` with `manifest` into a fresh temporary directory.
pub fn temp_app(manifest: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("spin.toml"), manifest)?;
    Ok(dir)
}

/// Fails if any response header is named `spin-*`.
pub fn assert_no_spin_response_headers(what: &str, reply: &Reply) {
    let spin: Vec<_> = reply
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("spin-"))
        .collect();
    assert!(
        spin.is_empty(),
        "{what}: response carries spin-* headers {spin:?}"
    );
}

/// Fails unless the response header names are exactly `guest` plus hyper's
/// `date` and one of `content-length` / `transfer-encoding`.
pub fn assert_header_set(what: &str, reply: &Reply, guest: &[&str]) {
    let mut names: Vec<&str> = reply.headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let mut allowed: Vec<&str> = guest.to_vec();
    allowed.push("date");
    let framing = if reply.header("transfer-encoding").is_some() {
        "transfer-encoding"
    } else {
        "content-length"
    };
    allowed.push(framing);
    allowed.sort_unstable();
    assert_eq!(
        names, allowed,
        "{what}: response header names (all headers: {:?})",
        reply.headers
    );
}

/// Runs `spinshim up` that is expected to fail at start-up and checks how:
/// non-zero exit, exactly one `Error:` line on stderr, an error report that
/// contains each of `needles`, and no panic or backtrace.
pub fn assert_start_fails(
    from: &Path,
    addr: SocketAddr,
    args: &[&str],
    needles: &[&str],
) -> Result<Exited> {
    let mut cmd = Up::command(from, addr, args, &[]);
    cmd.env_remove("SPIN_VARIABLE_NAME")
        .env_remove("RUST_BACKTRACE");
    let exited = run_to_exit(cmd, EXIT_LIMIT)?;
    let describe = exited.describe();
    assert!(
        !exited.status.success(),
        "expected a non-zero exit for {}:\n{describe}",
        from.display()
    );
    let error_lines = exited.error_lines();
    assert_eq!(
        error_lines.len(),
        1,
        "expected exactly one `Error:` line on stderr:\n{describe}"
    );
    let report = exited.error_report();
    for needle in needles {
        assert!(
            report.contains(needle),
            "the error report does not mention `{needle}`:\n{describe}"
        );
    }
    let everything = format!("{}\n{}", exited.stdout.join("\n"), exited.stderr.join("\n"));
    assert!(!everything.contains("panicked"), "it panicked:\n{describe}");
    assert!(
        !everything.contains("stack backtrace"),
        "it printed a backtrace:\n{describe}"
    );
    Ok(exited)
}
