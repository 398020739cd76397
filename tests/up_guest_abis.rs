//! `spinshim up` running guests in other shapes than one current
//! component: WASI release candidates (Spin 4.0's WASIp3 one, Spin 2.1's
//! wasi:http 2023-11-10, Spin 2.0's 2023-10-18), Spin 1.x core modules, and components composed
//! with their dependencies at load.

use anyhow::Result;
use spinshim_tests::assertions::*;
use spinshim_tests::servers::http_echo;
use spinshim_tests::{free_port, get, sample_app, send, Req, Up};

/// Fails unless the built fixture at `path` names each of `names`, so a
/// fixture that stopped using the ABI cannot pass for testing it.
fn assert_fixture_names(path: &std::path::Path, names: &[&str]) -> Result<()> {
    let code = std::fs::read(path)?;
    for name in names {
        assert!(
            code.windows(name.len()).any(|w| w == name.as_bytes()),
            "{} no longer names {name}: it tests nothing",
            path.display()
        );
    }
    Ok(())
}

/// A spin-sdk 2.2 guest, built for WASI preview1 as Spin 2.0's were, on
/// wasi:http 0.2.0-rc-2023-10-18: its handler, a body read and written
/// through that candidate's streams, outgoing requests (a self request and
/// a denied one, with the candidate's error) and a variable.
#[tokio::test(flavor = "multi_thread")]
async fn a_spin_2_0_guest_on_wasi_http_2023_10_18_serves_sends_and_reads_variables() -> Result<()> {
    assert_fixture_names(
        &core_module("http_rc_2023_10_18.wasm"),
        &[
            "wasi:http/incoming-handler@0.2.0-rc-2023-10-18",
            "wasi:http/outgoing-handler@0.2.0-rc-2023-10-18",
            "wasi:io/streams@0.2.0-rc-2023-10-18",
            "wasi:io/poll@0.2.0-rc-2023-10-18",
        ],
    )?;
    let up = Up::start(&sample_app("http-rc-2023-10-18"), &[], &[])?;
    let cases = [
        ("/hello", 200, "hello from spin-sdk 2.2"),
        ("/http?url=/hello", 200, "200\nhello from spin-sdk 2.2"),
        (
            "/http?url=http://127.0.0.1:1/",
            502,
            "ERR Error::UnexpectedError(\"ErrorCode::HttpRequestDenied\")",
        ),
        ("/variable?name=greeting", 200, "hi from a variable"),
    ];
    for (target, status, body) in cases {
        let reply = get(up.addr, target).await?;
        assert_eq!(
            (reply.status, reply.text()),
            (status, body.to_string()),
            "GET {target}\n{}",
            up.output().join("\n")
        );
    }
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let echo = send(
        up.addr,
        Req {
            method: "POST",
            target: "/echo",
            headers: &[],
            body: &body,
        },
    )
    .await?;
    assert_eq!(echo.status, 200);
    assert_eq!(echo.header("x-echo-length"), Some("200000"));
    assert!(echo.body[..] == body[..], "the echoed body differs");
    Ok(())
}

/// A Spin 1.x module (wit-bindgen 0.2 names and calls, a constructor
/// reading the environment as wasi-libc's did then) serves through the
/// unversioned interfaces: variables, a store that counts across requests,
/// a SQLite query with a parameter, and the error values of an undefined
/// variable, an unlisted store or database and a missing key.
#[tokio::test(flavor = "multi_thread")]
async fn a_spin_1_core_module_serves_with_its_variables_and_store() -> Result<()> {
    let module = core_module("spin1.wasm");
    assert!(
        std::fs::read(&module)?.starts_with(b"\0asm\x01\0\0\0"),
        "not a core module"
    );
    assert_fixture_names(
        &module,
        &[
            "handle-http-request",
            "canonical_abi_realloc",
            "spin-config",
            "get-config",
        ],
    )?;
    // In memory: a fresh store, so the first `get` finds no key.
    let up = Up::start(&sample_app("spin1"), &["--state-dir", ""], &[])?;
    let first = get(up.addr, "/spin1/a/b?x=1").await?;
    assert_eq!(
        (first.status, first.header("x-spin1"), first.text()),
        (
            201,
            Some("wit-bindgen 0.2"),
            "hello from Spin 1.x\n\
             method=GET uri=/spin1/a/b?x=1 path-info=/a/b\n\
             visits before=0 first get=no-such-key\n\
             undefined variable=provider(no variable for \"no_such_variable\")\n\
             unlisted store=access-denied\n\
             sqlite=42 unlisted database=access-denied\n\
             body bytes=-1\n"
                .to_string()
        ),
        "{}",
        up.output().join("\n")
    );
    let second = send(
        up.addr,
        Req {
            method: "POST",
            target: "/spin1/again",
            headers: &[],
            body: b"abc",
        },
    )
    .await?;
    let text = second.text();
    assert!(
        text.contains("method=POST uri=/spin1/again path-info=/again\n")
            && text.contains("visits before=1 first get=\n")
            && text.ends_with("body bytes=3\n"),
        "{text}"
    );
    Ok(())
}

/// spin-sdk 6 guests name every WASIp3 interface at
/// `0.3.0-rc-2026-03-15`: the handler they export, the client and clocks
/// they import. All of it must work, not just the export.
#[tokio::test(flavor = "multi_thread")]
async fn a_spin_4_guest_on_the_wasip3_release_candidate_serves_with_outbound_clocks_and_variables(
) -> Result<()> {
    assert_fixture_names(
        &wasm("http_p3_rc.wasm"),
        &[
            "wasi:http/handler@0.3.0-rc-2026-03-15",
            "wasi:http/client@0.3.0-rc-2026-03-15",
            "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15",
        ],
    )?;
    let up = Up::start(&sample_app("http-p3-rc"), &[], &[])?;
    let cases = [
        ("/hello", 200, "hello from spin-sdk 6".to_string()),
        (
            "/http?url=/hello",
            200,
            "200\nhello from spin-sdk 6".to_string(),
        ),
        (
            "/http?url=http://127.0.0.1:1/",
            502,
            "ERR HttpRequestDenied".to_string(),
        ),
        ("/sleep?ms=30", 200, "slept 30 ms".to_string()),
        (
            "/variable?name=greeting",
            200,
            "hi from a variable".to_string(),
        ),
    ];
    for (target, status, body) in cases {
        let reply = get(up.addr, target).await?;
        assert_eq!(
            (reply.status, reply.text()),
            (status, body),
            "GET {target}\n{}",
            up.output().join("\n")
        );
    }
    Ok(())
}

/// A guest bound from wasi:http 0.2.0-rc-2023-11-10's WIT: its handler,
/// body streams and trailers (`future-trailers.get` has that candidate's
/// shape), and outgoing requests with the candidate's `-ms` options.
#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_http_2023_11_10_guest_serves_reads_bodies_and_sends_requests() -> Result<()> {
    assert_fixture_names(
        &wasm("http_rc_2023_11_10.wasm"),
        &[
            "wasi:http/incoming-handler@0.2.0-rc-2023-11-10",
            "wasi:http/outgoing-handler@0.2.0-rc-2023-11-10",
            "wasi:io/streams@0.2.0-rc-2023-11-10",
            "[method]future-trailers.get",
            "[method]request-options.set-connect-timeout-ms",
        ],
    )?;
    let echo = http_echo()?;
    let port = echo.addr.port();
    let manifest = one_component_manifest(
        "rc",
        "/...",
        "rc",
        &format!(
            "source = {:?}\nallowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]",
            wasm("http_rc_2023_11_10.wasm")
        ),
    );
    let dir = temp_app(&manifest)?;
    let up = Up::start(dir.path(), &[], &[])?;
    let log = || up.output().join("\n");

    let hello = get(up.addr, "/hello").await?;
    assert_eq!(
        (hello.status, hello.text()),
        (200, "hello from wasi:http 0.2.0-rc-2023-11-10".to_string()),
        "{}",
        log()
    );
    let echoed = send(
        up.addr,
        Req {
            method: "POST",
            target: "/echo",
            headers: &[],
            body: b"ping from the test",
        },
    )
    .await?;
    assert_eq!(
        (echoed.status, echoed.text(), echoed.header("x-trailers")),
        (200, "ping from the test".to_string(), Some("none")),
        "{}",
        log()
    );
    let outbound = get(up.addr, &format!("/http?url=http://127.0.0.1:{port}/a")).await?;
    assert!(
        outbound.status == 200 && outbound.text().starts_with("200\necho GET /a HTTP/1.1"),
        "allowed outbound: {outbound:?}\n{}",
        log()
    );
    let denied = get(up.addr, "/http?url=http://127.0.0.1:1/").await?;
    assert_eq!(
        (denied.status, denied.text()),
        (502, "ERR HttpRequestDenied".to_string()),
        "{}",
        log()
    );
    Ok(())
}

/// `images/composed` imports `spinshim:demo/greeter`; its manifest plugs
/// it with `images/greeter`, which reads GREETING from the environment it
/// inherits from the component.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_composed_with_its_dependency_serves_through_it() -> Result<()> {
    let up = Up::start(&sample_app("composed"), &[], &[])?;
    let reply = get(up.addr, "/world").await?;
    assert_eq!(
        (reply.status, reply.text()),
        (200, "hi there, world (greeted by a dependency)".to_string()),
        "{}",
        up.output().join("\n")
    );
    Ok(())
}

/// Without `inherit_configuration` the dependency gets what Spin's deny
/// adapter gives: no environment, no preopened directories, no variables
/// (`undefined`), no stores (`access-denied`), while the component itself
/// keeps all of them; inheriting a group gives the dependency the
/// component's.
#[tokio::test(flavor = "multi_thread")]
async fn a_dependency_reaches_only_the_configuration_it_inherits() -> Result<()> {
    let granted = "environment = { GREETING = \"hi there\" }\n\
                   files = [\"data.txt\"]\n\
                   key_value_stores = [\"default\"]\n\
                   variables = { greeting = \"from the component\" }\n\
                   [component.composed.dependencies]";
    let manifest = composed_manifest(
        "spinshim:demo/greeter",
        &format!("{{ path = {:?} }}", wasm("greeter.wasm")),
    )
    .replace("[component.composed.dependencies]", granted);
    let dir = temp_app(&manifest)?;
    std::fs::write(dir.path().join("data.txt"), "data")?;
    let up = Up::start(dir.path(), &["--state-dir", ""], &[])?;
    for (target, body) in [
        ("/world", "hello, world (greeted by a dependency)"),
        ("/ls", "no files (greeted by a dependency)"),
        (
            "/var",
            "variable error: Error::Undefined(\"fermyon:spin/variables@2.0.0 get: denied to a \
             dependency that does not inherit the configuration\") (greeted by a dependency)",
        ),
        (
            "/kv",
            "store error: Error::AccessDenied (greeted by a dependency)",
        ),
    ] {
        let reply = get(up.addr, target).await?;
        assert_eq!(
            (reply.status, reply.text()),
            (200, body.to_string()),
            "GET {target}\n{}",
            up.output().join("\n")
        );
    }
    let inherited = composed_manifest(
        "spinshim:demo/greeter",
        &format!(
            "{{ path = {:?}, inherit_configuration = [\"files\", \"variables\", \
             \"key_value_stores\"] }}",
            wasm("greeter.wasm")
        ),
    )
    .replace("[component.composed.dependencies]", granted);
    let dir = temp_app(&inherited)?;
    std::fs::write(dir.path().join("data.txt"), "data")?;
    let up = Up::start(dir.path(), &["--state-dir", ""], &[])?;
    for (target, body) in [
        ("/world", "hello, world (greeted by a dependency)"),
        ("/ls", "files: data.txt (greeted by a dependency)"),
        (
            "/var",
            "variable: from the component (greeted by a dependency)",
        ),
        ("/kv", "store opened (greeted by a dependency)"),
    ] {
        let reply = get(up.addr, target).await?;
        assert_eq!(
            (reply.status, reply.text()),
            (200, body.to_string()),
            "inherited: GET {target}\n{}",
            up.output().join("\n")
        );
    }
    Ok(())
}

fn composed_manifest(key: &str, dependency: &str) -> String {
    one_component_manifest(
        "composed",
        "/...",
        "composed",
        &format!(
            "source = {:?}\n[component.composed.dependencies]\n\"{key}\" = {dependency}",
            wasm("composed.wasm")
        ),
    )
}

#[test]
fn dependencies_that_cannot_be_composed_stop_start_up_naming_the_dependency() -> Result<()> {
    let greeter = format!("{:?}", wasm("greeter.wasm"));
    let cases = [
        (
            composed_manifest(
                "spinshim:demo/greeter",
                &format!("{{ path = {:?} }}", wasm("outbound.wasm")),
            ),
            vec![
                "component \"composed\": dependency \"spinshim:demo/greeter\" does not export \
                 spinshim:demo/greeter@0.1.0, which its import spinshim:demo/greeter@0.1.0 needs",
            ],
        ),
        (
            composed_manifest(
                "spinshim:other",
                &format!("{{ path = {greeter}, inherit_configuration = true }}"),
            ),
            vec!["dependency \"spinshim:other\" matches none of its imports"],
        ),
        (
            composed_manifest(
                "spinshim:demo",
                &format!(
                    "{{ path = {greeter}, export = \"spinshim:demo/nope@0.1.0\", \
                     inherit_configuration = true }}"
                ),
            ),
            vec![
                "dependency \"spinshim:demo\" does not export spinshim:demo/nope@0.1.0, which \
                 its import spinshim:demo/greeter@0.1.0 needs",
            ],
        ),
        (
            composed_manifest("spinshim:demo/greeter", "{ path = \"missing.wasm\" }"),
            vec![
                "dependency \"spinshim:demo/greeter\" wasm file",
                "missing.wasm does not exist",
            ],
        ),
    ];
    for (manifest, needles) in cases {
        let dir = temp_app(&manifest)?;
        let addr = format!("127.0.0.1:{}", free_port()).parse()?;
        assert_start_fails(dir.path(), addr, &[], &needles)?;
    }
    Ok(())
}
