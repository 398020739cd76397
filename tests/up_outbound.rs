//! Outbound networking from `spinshim up`: HTTP in every guest ABI
//! (`images/outbound`: wasi:http 0.2 and wasi:sockets, spin-sdk 5;
//! `images/outbound-p3`: wasi:http 0.3, spin-sdk 7; `images/legacy-http`:
//! Spin 1.x `fermyon:spin/http`), against real peers on 127.0.0.1: an HTTP
//! echo, a TLS echo with a CA made here, a TCP echo and a UDP echo.
//!
//! The guests answer `200 "<upstream status>\n<upstream body>"`, or
//! `502 "ERR <error>"` with the interface's own error value.

use std::net::SocketAddr;

use anyhow::Result;
use spinshim_tests::assertions::{assert_start_fails, temp_app, wasm};
use spinshim_tests::servers::{http_echo, https_echo, tcp_echo, udp_echo, TestCa};
use spinshim_tests::{free_port, get, Up};

/// One component of a test app.
struct Component<'a> {
    id: &'a str,
    wasm: &'a str,
    /// A route, or `None` for a private (chaining-only) component.
    route: Option<&'a str>,
    allowed: &'a [&'a str],
}

fn outbound<'a>(allowed: &'a [&'a str]) -> Component<'a> {
    Component {
        id: "outbound",
        wasm: "outbound.wasm",
        route: Some("/..."),
        allowed,
    }
}

/// A manifest with `components` and the `[variables]` lines `variables`.
fn manifest(components: &[Component<'_>], variables: &str) -> String {
    let mut text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"outbound-test\"\n[variables]\n{variables}\n"
    );
    for c in components {
        let route = match c.route {
            Some(route) => format!("\"{route}\""),
            None => "{ private = true }".to_string(),
        };
        let allowed: Vec<String> = c.allowed.iter().map(|a| format!("\"{a}\"")).collect();
        text.push_str(&format!(
            "[[trigger.http]]\nroute = {route}\ncomponent = \"{}\"\n[component.{}]\nsource = \"{}\"\nallowed_outbound_hosts = [{}]\n",
            c.id,
            c.id,
            wasm(c.wasm).display(),
            allowed.join(", ")
        ));
    }
    text
}

/// Starts `components` with `args`; the temp dir lives as long as the app.
fn start(
    components: &[Component<'_>],
    variables: &str,
    runtime_config: Option<&str>,
    args: &[&str],
) -> Result<(Up, tempfile::TempDir)> {
    let dir = temp_app(&manifest(components, variables))?;
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if let Some(text) = runtime_config {
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, text)?;
        all.extend(["--runtime-config-file".into(), path.display().to_string()]);
    }
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Ok((Up::start(dir.path(), &all, &[])?, dir))
}

/// Percent-encodes a query value.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the guest answered for `path` (`/http?url=...` and so on).
async fn ask(addr: SocketAddr, target: &str) -> (u16, String) {
    let reply = get(addr, target)
        .await
        .unwrap_or_else(|e| panic!("GET {target}: {e:#}"));
    (reply.status, reply.text())
}

async fn fetch(addr: SocketAddr, route: &str, url: &str, extra: &str) -> (u16, String) {
    ask(addr, &format!("{route}?url={}{extra}", enc(url))).await
}

fn assert_echoed(got: &(u16, String), want_start: &str, what: &str) {
    assert_eq!(got.0, 200, "{what}: {}", got.1);
    assert!(
        got.1.starts_with(&format!("200\n{want_start}")),
        "{what}: expected the echo \"{want_start}\", got {:?}",
        got.1
    );
}

fn assert_error(got: &(u16, String), want: &str, what: &str) {
    assert_eq!(
        (got.0, got.1.as_str()),
        (502, format!("ERR {want}").as_str()),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_http_p2_reaches_allowed_hosts_only_with_templates_resolved() -> Result<()> {
    let echo = http_echo()?;
    let port = echo.addr.port();
    let other = http_echo()?;
    let variables = format!("echo_port = {{ default = \"{port}\" }}");
    let (up, _dir) = start(
        &[outbound(&["http://127.0.0.1:{{ echo_port }}"])],
        &variables,
        None,
        &[],
    )?;

    let allowed = fetch(
        up.addr,
        "/http",
        &format!("http://127.0.0.1:{port}/a?b=1"),
        "",
    )
    .await;
    assert_echoed(
        &allowed,
        "echo GET /a?b=1 HTTP/1.1",
        "templated allowed host",
    );
    let post = fetch(
        up.addr,
        "/http",
        &format!("http://127.0.0.1:{port}/p"),
        "&method=POST&body=payload&header=x-test:yes",
    )
    .await;
    assert_echoed(
        &post,
        "echo POST /p HTTP/1.1\nx-test: yes\npayload",
        "POST with a body and a header",
    );

    let denied = fetch(
        up.addr,
        "/http",
        &format!("http://127.0.0.1:{}/", other.addr.port()),
        "",
    )
    .await;
    assert_error(&denied, "HttpRequestDenied", "another port");
    let by_name = fetch(up.addr, "/http", &format!("http://localhost:{port}/"), "").await;
    assert_error(
        &by_name,
        "HttpRequestDenied",
        "the same server by another name",
    );
    let https = fetch(up.addr, "/http", &format!("https://127.0.0.1:{port}/"), "").await;
    assert_error(&https, "HttpRequestDenied", "another scheme");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_http_p3_and_legacy_http_follow_the_same_rules() -> Result<()> {
    let echo = http_echo()?;
    let port = echo.addr.port();
    let other = http_echo()?;
    let allowed = format!("http://127.0.0.1:{port}");
    let variables = "";
    let p3 = Component {
        id: "p3",
        wasm: "outbound_p3.wasm",
        route: Some("/..."),
        allowed: &[&allowed, "http://self"],
    };
    let (up_p3, _d1) = start(&[p3], variables, None, &[])?;
    let legacy = Component {
        id: "legacy",
        wasm: "legacy_http.wasm",
        route: Some("/..."),
        allowed: &[&allowed],
    };
    let (up_legacy, _d2) = start(&[legacy], variables, None, &[])?;

    let url = format!("http://127.0.0.1:{port}/x");
    let denied_url = format!("http://127.0.0.1:{}/x", other.addr.port());
    assert_echoed(
        &fetch(up_p3.addr, "/http", &url, "").await,
        "echo GET /x",
        "p3 allowed",
    );
    assert_error(
        &fetch(up_p3.addr, "/http", &denied_url, "").await,
        "HttpRequestDenied",
        "p3 denied",
    );
    assert_echoed(
        &fetch(up_legacy.addr, "/outbound", &url, "").await,
        "echo GET /x",
        "legacy allowed",
    );
    assert_error(
        &fetch(up_legacy.addr, "/outbound", &denied_url, "").await,
        "DestinationNotAllowed",
        "legacy denied",
    );
    for url in ["/echo?from=p3", "http://self.alt/echo?from=p3"] {
        let selfreq = fetch(up_p3.addr, "/http", url, "").await;
        assert!(
            selfreq.1.starts_with("200\nGET /echo?from=p3"),
            "p3 self request {url}: {selfreq:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn self_requests_are_served_in_process_when_allowed() -> Result<()> {
    let (up, _dir) = start(&[outbound(&["http://self"])], "", None, &[])?;
    let got = fetch(up.addr, "/http", "/echo?n=1", "&method=POST&body=hi").await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1, format!("200\nPOST /echo?n=1\nhost={}\nhi", up.addr));

    let (closed, _dir2) = start(&[outbound(&["http://127.0.0.1:1"])], "", None, &[])?;
    assert_error(
        &fetch(closed.addr, "/http", "/echo", "").await,
        "HttpRequestDenied",
        "no self entry",
    );

    let legacy = Component {
        id: "legacy",
        wasm: "legacy_http.wasm",
        route: Some("/..."),
        allowed: &["http://self"],
    };
    let echo = Component {
        id: "echo",
        wasm: "outbound.wasm",
        route: Some("/echo"),
        allowed: &[],
    };
    let (up_legacy, _d3) = start(&[legacy, echo], "", None, &[])?;
    let got = fetch(up_legacy.addr, "/outbound", "/echo", "").await;
    assert!(
        got.1.starts_with("200\nGET /echo\n"),
        "legacy self request: {got:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn service_chaining_reaches_private_components_in_process() -> Result<()> {
    let back = Component {
        id: "back",
        wasm: "outbound.wasm",
        route: None,
        allowed: &[],
    };
    let side = Component {
        id: "side",
        wasm: "outbound.wasm",
        route: None,
        allowed: &[],
    };
    let front = outbound(&["http://back.spin.internal"]);
    let (up, _dir) = start(&[front, back, side], "", None, &[])?;
    let got = fetch(
        up.addr,
        "/http",
        "http://back.spin.internal/echo?q=1",
        "&method=PUT&body=b",
    )
    .await;
    assert_eq!(
        got.1, "200\nPUT /echo?q=1\nhost=back.spin.internal\nb",
        "chained call"
    );
    assert_error(
        &fetch(up.addr, "/http", "http://side.spin.internal/echo", "").await,
        "HttpRequestDenied",
        "a component the entry does not name",
    );
    // The private component is not routable from outside.
    assert_eq!(
        ask(up.addr, "/echo").await.0,
        200,
        "front answers /echo itself"
    );

    let front = outbound(&["http://*.spin.internal"]);
    let back = Component {
        id: "back",
        wasm: "outbound.wasm",
        route: None,
        allowed: &[],
    };
    let side = Component {
        id: "side",
        wasm: "outbound.wasm",
        route: None,
        allowed: &[],
    };
    let (wild, _dir2) = start(&[front, back, side], "", None, &[])?;
    let got = fetch(wild.addr, "/http", "http://side.spin.internal/echo", "").await;
    assert!(
        got.1.starts_with("200\nGET /echo\nhost=side.spin.internal"),
        "wildcard: {got:?}"
    );

    // A component dropped by --component-id (SPIN_COMPONENTS_TO_RETAIN in the
    // shim) is not served in this process.
    let front = outbound(&["http://*.spin.internal"]);
    let back = Component {
        id: "back",
        wasm: "outbound.wasm",
        route: None,
        allowed: &[],
    };
    let (retained, _dir3) = start(&[front, back], "", None, &["--component-id", "outbound"])?;
    assert_error(
        &fetch(retained.addr, "/http", "http://back.spin.internal/echo", "").await,
        "DestinationNotFound",
        "chaining to a component that was not retained",
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_networks_apply_after_dns_in_every_abi() -> Result<()> {
    let echo = http_echo()?;
    let port = echo.addr.port();
    let by_name = format!("http://localhost:{port}");
    let by_ip = format!("http://127.0.0.1:{port}");
    let tcp = tcp_echo()?;
    let tcp_entry = format!("tcp://127.0.0.1:{}", tcp.addr.port());
    for blocked in ["\"127.0.0.0/8\"", "\"private\""] {
        let config = format!("[outbound_networking]\nblock_networks = [{blocked}, \"::1/128\"]\n");
        let allowed = [by_name.as_str(), by_ip.as_str(), tcp_entry.as_str()];
        let (up, _d) = start(&[outbound(&allowed)], "", Some(&config), &[])?;
        let got = fetch(up.addr, "/http", &format!("{by_name}/"), "").await;
        assert_error(
            &got,
            "DestinationIpProhibited",
            &format!("{blocked}: a name resolving into it"),
        );
        let got = fetch(up.addr, "/http", &format!("{by_ip}/"), "").await;
        assert_error(
            &got,
            "DestinationIpProhibited",
            &format!("{blocked}: an address in it"),
        );
        let got = ask(up.addr, &format!("/tcp?addr={}&msg=x", tcp.addr)).await;
        assert_eq!(got.0, 502, "{blocked}: a socket into it: {}", got.1);
        assert!(got.1.contains("PermissionDenied"), "{blocked}: {}", got.1);
    }
    let (p3, _d) = start(
        &[Component {
            id: "p3",
            wasm: "outbound_p3.wasm",
            route: Some("/..."),
            allowed: &[&by_name],
        }],
        "",
        Some("[outbound_networking]\nblock_networks = [\"private\"]\n"),
        &[],
    )?;
    let got = fetch(p3.addr, "/http", &format!("{by_name}/"), "").await;
    assert_error(&got, "DestinationIpProhibited", "p3");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_and_bad_peers_give_the_guest_error_codes() -> Result<()> {
    let echo = http_echo()?;
    let base = format!("http://127.0.0.1:{}", echo.addr.port());
    let (up, _dir) = start(&[outbound(&[&base])], "", None, &[])?;
    let got = fetch(
        up.addr,
        "/http",
        &format!("{base}/hang"),
        "&first_byte_ms=300",
    )
    .await;
    assert_error(&got, "ConnectionReadTimeout", "first-byte timeout");
    let got = fetch(
        up.addr,
        "/http",
        &format!("{base}/stall-body"),
        "&between_bytes_ms=300",
    )
    .await;
    assert_eq!(got.0, 502, "between-bytes timeout: {}", got.1);
    assert!(
        got.1.starts_with("ERR "),
        "between-bytes timeout: {}",
        got.1
    );
    let got = fetch(up.addr, "/http", &format!("{base}/reset"), "").await;
    assert_eq!(got.0, 502, "reset: {}", got.1);
    assert!(got.1.starts_with("ERR "), "reset: {}", got.1);
    let closed = free_port();
    let (up2, _dir2) = start(
        &[outbound(&[&format!("http://127.0.0.1:{closed}")])],
        "",
        None,
        &[],
    )?;
    let got = fetch(
        up2.addr,
        "/http",
        &format!("http://127.0.0.1:{closed}/"),
        "",
    )
    .await;
    assert_error(&got, "ConnectionRefused", "nothing listens");
    // The host stays healthy.
    assert_echoed(
        &fetch(up.addr, "/http", &format!("{base}/after"), "").await,
        "echo GET /after",
        "after the faults",
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn https_needs_a_trusted_ca_and_client_tls_supplies_one() -> Result<()> {
    let certs = tempfile::tempdir()?;
    let ca = TestCa::new(certs.path())?;
    let server = https_echo(&ca)?;
    let url = format!("https://localhost:{}/secure", server.addr.port());
    let entry = format!("https://localhost:{}", server.addr.port());
    let (up, _dir) = start(&[outbound(&[&entry])], "", None, &[])?;
    let got = fetch(up.addr, "/http", &url, "").await;
    assert_error(
        &got,
        "TlsCertificateError",
        "the built-in roots do not know the test CA",
    );

    let config = format!(
        "[[client_tls]]\ncomponent_ids = [\"outbound\"]\nhosts = [\"localhost:{}\"]\nca_roots_file = \"{}\"\n",
        server.addr.port(),
        ca.ca_file.display()
    );
    let (trusted, _dir2) = start(&[outbound(&[&entry])], "", Some(&config), &[])?;
    let got = fetch(trusted.addr, "/http", &url, "").await;
    assert_echoed(&got, "echo GET /secure HTTP/2.0", "trusted CA (h2 by ALPN)");

    let other = format!(
        "[[client_tls]]\ncomponent_ids = [\"someone-else\"]\nhosts = [\"localhost:{}\"]\nca_roots_file = \"{}\"\n",
        server.addr.port(),
        ca.ca_file.display()
    );
    let (untrusted, _dir3) = start(&[outbound(&[&entry])], "", Some(&other), &[])?;
    let got = fetch(untrusted.addr, "/http", &url, "").await;
    assert_error(
        &got,
        "TlsCertificateError",
        "an entry for another component",
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_connect_only_where_allowed() -> Result<()> {
    let tcp = tcp_echo()?;
    let udp = udp_echo()?;
    let other = tcp_echo()?;
    let variables = format!("tcp_port = {{ default = \"{}\" }}", tcp.addr.port());
    let udp_entry = format!("udp://127.0.0.0/8:{}", udp.addr.port());
    let (up, _dir) = start(
        &[outbound(&["tcp://127.0.0.1:{{ tcp_port }}", &udp_entry])],
        &variables,
        None,
        &[],
    )?;
    let got = ask(up.addr, &format!("/tcp?addr={}&msg=hello", tcp.addr)).await;
    assert_eq!(
        got,
        (200, "echo:hello".to_string()),
        "TCP to the templated entry"
    );
    let got = ask(up.addr, &format!("/tcp?addr={}&msg=hello", other.addr)).await;
    assert_eq!(got.0, 502, "TCP elsewhere: {}", got.1);
    assert!(
        got.1.starts_with("ERR PermissionDenied"),
        "TCP elsewhere: {}",
        got.1
    );
    let got = ask(up.addr, &format!("/udp?addr={}&msg=ping", udp.addr)).await;
    assert_eq!(got, (200, "echo:ping".to_string()), "UDP to a CIDR entry");
    let got = ask(
        up.addr,
        &format!("/udp?addr=127.0.0.1:{}&msg=ping", other.addr.port()),
    )
    .await;
    assert_eq!(got.0, 502, "UDP elsewhere: {}", got.1);
    assert!(
        got.1.starts_with("ERR PermissionDenied"),
        "UDP elsewhere: {}",
        got.1
    );
    let got = ask(up.addr, "/tcp-listen").await;
    assert!(
        got.1.starts_with("ERR PermissionDenied"),
        "TCP listen: {got:?}"
    );
    let got = ask(up.addr, "/dns?name=localhost").await;
    assert_eq!(
        got.0, 502,
        "no name lookup without a named entry: {}",
        got.1
    );

    // A named entry admits what the name resolves to, and enables lookups.
    let named = format!("tcp://localhost:{}", tcp.addr.port());
    let (up2, _dir2) = start(&[outbound(&[&named])], "", None, &[])?;
    let got = ask(up2.addr, &format!("/tcp?addr={}&msg=n", tcp.addr)).await;
    assert_eq!(
        got,
        (200, "echo:n".to_string()),
        "TCP to an address of the named host"
    );
    let got = ask(up2.addr, "/dns?name=localhost").await;
    assert_eq!(got.0, 200, "lookup with a named entry: {}", got.1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rules_and_tls_files_stop_start_up_naming_them() -> Result<()> {
    let dir = temp_app(&manifest(&[outbound(&["http://exa mple.com:80"])], ""))?;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    assert_start_fails(
        dir.path(),
        addr,
        &[],
        &["outbound", "allowed_outbound_hosts", "exa mple.com"],
    )?;

    let dir = temp_app(&manifest(&[outbound(&[])], ""))?;
    let config = dir.path().join("runtime-config.toml");
    let config_arg = config.display().to_string();
    std::fs::write(
        &config,
        "[[client_tls]]\ncomponent_ids = [\"outbound\"]\nhosts = [\"h\"]\nca_roots_file = \"missing-ca.pem\"\n",
    )?;
    assert_start_fails(
        dir.path(),
        addr,
        &["--runtime-config-file", &config_arg],
        &["missing-ca.pem"],
    )?;
    std::fs::write(dir.path().join("bad.pem"), "not a certificate")?;
    std::fs::write(
        &config,
        "[[client_tls]]\ncomponent_ids = [\"outbound\"]\nhosts = [\"h\"]\nca_roots_file = \"bad.pem\"\n",
    )?;
    assert_start_fails(
        dir.path(),
        addr,
        &["--runtime-config-file", &config_arg],
        &["bad.pem", "PEM"],
    )?;
    std::fs::write(
        &config,
        "[outbound_networking]\nblock_networks = [\"10.0.0.0/40\"]\n",
    )?;
    assert_start_fails(
        dir.path(),
        addr,
        &["--runtime-config-file", &config_arg],
        &["block_networks", "10.0.0.0/40"],
    )?;
    std::fs::write(&config, "[outbound_http]\nmax_connections = 0\n")?;
    assert_start_fails(
        dir.path(),
        addr,
        &["--runtime-config-file", &config_arg],
        &["[outbound_http] max_connections", "0"],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_caps_count_requests_in_flight_not_idle_pooled_connections() -> Result<()> {
    let peers = [http_echo()?, http_echo()?, http_echo()?];
    let entries: Vec<String> = peers
        .iter()
        .map(|p| format!("http://127.0.0.1:{}", p.addr.port()))
        .collect();
    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
    let config = "[outbound_http]\nconnection_pooling = true\nmax_connections = 1\n\
                  [outbound_networking]\nmax_total_connections = 1\n";
    let (up, _dir) = start(&[outbound(&entries)], "", Some(config), &[])?;
    // Each call leaves an idle pooled connection behind; the next one, to
    // another host, must not wait for it.
    for round in 0..2 {
        for entry in &entries {
            let got = fetch(
                up.addr,
                "/http",
                &format!("{entry}/r{round}"),
                "&connect_ms=3000",
            )
            .await;
            assert_echoed(
                &got,
                &format!("echo GET /r{round}"),
                &format!("{entry} round {round}"),
            );
        }
    }
    Ok(())
}
