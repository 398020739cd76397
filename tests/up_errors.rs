//! `spinshim up` refusing bad input: each failure is one `Error:` line
//! naming the culprit, a non-zero exit, no panic and no backtrace.

use std::net::{SocketAddr, TcpListener};

use anyhow::Result;
use spinshim_tests::assertions::*;
use spinshim_tests::{free_port, sample_app, Exited};

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_variable_stops_start_up_with_one_error_line() -> Result<()> {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let exited = assert_start_fails(&sample_app("variables"), addr, &[], &["name"])?;
    assert!(
        exited.error_lines()[0].contains("name"),
        "the Error: line does not mention `name`:\n{}",
        exited.describe()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_stops_start_up_with_one_error_line_naming_the_culprit() -> Result<()> {
    let mut failures = Vec::new();
    let mut check = |label: &str, result: std::thread::Result<Result<Exited>>| match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => failures.push(format!("{label}: {e:#}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{label}: {msg}"));
        }
    };
    let new_addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };

    // An unknown field in a component.
    let bad_field = temp_app(&one_component_manifest(
        "bad-field",
        "/...",
        "broken-component",
        r#"sorce = "whatever.wasm""#,
    ))?;
    check(
        "unknown field `sorce`",
        std::panic::catch_unwind(|| {
            assert_start_fails(
                bad_field.path(),
                new_addr(),
                &[],
                &["sorce", "broken-component"],
            )
        }),
    );

    // A source that does not exist.
    let missing = temp_app(&one_component_manifest(
        "missing-wasm",
        "/...",
        "lost",
        r#"source = "does-not-exist.wasm""#,
    ))?;
    check(
        "missing wasm",
        std::panic::catch_unwind(|| {
            assert_start_fails(
                missing.path(),
                new_addr(),
                &[],
                &["lost", "does-not-exist.wasm"],
            )
        }),
    );

    // An empty component: no handler at all.
    let empty = temp_app(&one_component_manifest(
        "empty",
        "/...",
        "hollow",
        r#"source = "empty.wasm""#,
    ))?;
    std::fs::write(empty.path().join("empty.wasm"), b"\0asm\x0d\x00\x01\x00")?;
    check(
        "no handler",
        std::panic::catch_unwind(|| {
            assert_start_fails(
                empty.path(),
                new_addr(),
                &[],
                &["exports no supported HTTP handler"],
            )
        }),
    );

    // The port is taken.
    let taken = TcpListener::bind("127.0.0.1:0")?;
    let taken_addr = taken.local_addr()?;
    let needle = format!("cannot listen on {taken_addr}");
    check(
        "port in use",
        std::panic::catch_unwind(|| {
            assert_start_fails(&sample_app("hello"), taken_addr, &[], &[&needle])
        }),
    );
    drop(taken);

    // A lock file that is not JSON.
    let lock_dir = tempfile::tempdir()?;
    let lock = lock_dir.path().join("spin.lock");
    std::fs::write(&lock, "{ this is not json")?;
    check(
        "malformed lock",
        std::panic::catch_unwind(|| assert_start_fails(&lock, new_addr(), &[], &["spin.lock"])),
    );

    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    Ok(())
}
