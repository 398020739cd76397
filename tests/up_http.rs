//! `spinshim up` serving HTTP: the hello apps (wasi:http 0.2 and 0.3), Spin
//! routing and the exact `spin-*` headers, 404/500 behaviour and graceful
//! shutdown, against the real binary over real connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;
use spinshim_tests::assertions::*;
use spinshim_tests::{get, sample_app, send, Req, Up};

#[tokio::test(flavor = "multi_thread")]
async fn hello_answers_with_its_body_and_only_the_guest_and_framing_headers() -> Result<()> {
    let up = Up::start(&sample_app("hello"), &[], &[])?;
    for target in ["/", "/some/path?q=1"] {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 200, "GET {target}: {reply:?}");
        assert_eq!(reply.text(), "Hello, Spin!\n", "GET {target}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain"),
            "GET {target}"
        );
        assert_header_set(&format!("GET {target}"), &reply, &["content-type"]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_p3_serves_concurrent_requests() -> Result<()> {
    let up = Up::start(&sample_app("hello-p3"), &[], &[])?;
    let addr = up.addr;
    let tasks: Vec<_> = (0..24)
        .map(|i| tokio::spawn(async move { get(addr, &format!("/req/{i}")).await }))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let reply = task.await?.with_context(|| format!("request {i}"))?;
        assert_eq!(
            reply.status,
            200,
            "request {i}: {reply:?}\noutput:\n{}",
            up.output().join("\n")
        );
        assert_eq!(reply.text(), "Hello, Spin!\n", "request {i}");
        assert_header_set(&format!("request {i}"), &reply, &["content-type"]);
    }
    // And sequentially afterwards (instance reuse must not break anything).
    for i in 0..5 {
        let reply = get(addr, "/").await?;
        assert_eq!(reply.status, 200, "sequential request {i}: {reply:?}");
        assert_eq!(reply.text(), "Hello, Spin!\n", "sequential request {i}");
    }
    Ok(())
}

/// One row of the routing table.
struct RouteCase {
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    component: &'static str,
    /// Every spin-* header the guest must see except spin-full-url and
    /// spin-client-addr (checked separately), with the value it must have.
    spin: &'static [(&'static str, &'static str)],
    /// The Host the full URL must use; `None` means the server address.
    host: Option<&'static str>,
}

const fn row(
    target: &'static str,
    component: &'static str,
    spin: &'static [(&'static str, &'static str)],
) -> RouteCase {
    RouteCase {
        method: "GET",
        target,
        headers: &[],
        component,
        spin,
        host: None,
    }
}

const BASE: &[(&str, &str)] = &[("spin-base-path", "/")];

#[tokio::test(flavor = "multi_thread")]
async fn routes_pick_the_right_component_and_set_exactly_the_spin_headers() -> Result<()> {
    let up = Up::start(&sample_app("routes"), &[], &[])?;
    let cases = [
        row(
            "/exact",
            "exact",
            &[
                ("spin-path-info", ""),
                ("spin-matched-route", "/exact"),
                ("spin-raw-component-route", "/exact"),
                ("spin-component-route", "/exact"),
            ],
        ),
        // An exact route does not match sub-paths.
        row(
            "/exact/x",
            "catch-all",
            &[
                ("spin-path-info", "/exact/x"),
                ("spin-matched-route", "/..."),
                ("spin-raw-component-route", "/..."),
                ("spin-component-route", ""),
            ],
        ),
        row(
            "/wild",
            "wild",
            &[
                ("spin-path-info", ""),
                ("spin-matched-route", "/wild/..."),
                ("spin-raw-component-route", "/wild/..."),
                ("spin-component-route", "/wild"),
            ],
        ),
        row(
            "/wild/",
            "wild",
            &[
                ("spin-path-info", "/"),
                ("spin-matched-route", "/wild/..."),
                ("spin-raw-component-route", "/wild/..."),
                ("spin-component-route", "/wild"),
            ],
        ),
        row(
            "/wild/a/b/",
            "wild",
            &[
                ("spin-path-info", "/a/b/"),
                ("spin-matched-route", "/wild/..."),
                ("spin-raw-component-route", "/wild/..."),
                ("spin-component-route", "/wild"),
            ],
        ),
        // The worked example of the spec, §3.2.
        RouteCase {
            method: "GET",
            target: "/base/path/end/rest?key=value",
            headers: &[("Host", "example.com")],
            component: "base",
            spin: &[
                ("spin-path-info", "/rest"),
                ("spin-matched-route", "/base/:path_segment/:path_end/..."),
                (
                    "spin-raw-component-route",
                    "/base/:path_segment/:path_end/...",
                ),
                ("spin-component-route", "/base/:path_segment/:path_end"),
                ("spin-path-match-path-segment", "path"),
                ("spin-path-match-path-end", "end"),
            ],
            host: Some("example.com"),
        },
        row(
            "/users/42",
            "users",
            &[
                ("spin-path-info", ""),
                ("spin-matched-route", "/users/:id"),
                ("spin-raw-component-route", "/users/:id"),
                ("spin-component-route", "/users/:id"),
                ("spin-path-match-id", "42"),
            ],
        ),
        row(
            "/inline",
            "inline",
            &[
                ("spin-path-info", ""),
                ("spin-matched-route", "/inline"),
                ("spin-raw-component-route", "/inline"),
                ("spin-component-route", "/inline"),
            ],
        ),
        row(
            "/anything/else",
            "catch-all",
            &[
                ("spin-path-info", "/anything/else"),
                ("spin-matched-route", "/..."),
                ("spin-raw-component-route", "/..."),
                ("spin-component-route", ""),
            ],
        ),
        // The private component is not in the router.
        row(
            "/private",
            "catch-all",
            &[
                ("spin-path-info", "/private"),
                ("spin-matched-route", "/..."),
                ("spin-raw-component-route", "/..."),
                ("spin-component-route", ""),
            ],
        ),
        // Client-sent spin-* headers are replaced by the host's, never
        // passed on or duplicated.
        RouteCase {
            method: "POST",
            target: "/wild/forged?x=1",
            headers: &[
                ("spin-client-addr", "1.2.3.4:5"),
                ("spin-path-info", "/forged-info"),
                ("spin-full-url", "http://evil.example/"),
                ("spin-matched-route", "/evil"),
            ],
            component: "wild",
            spin: &[
                ("spin-path-info", "/forged"),
                ("spin-matched-route", "/wild/..."),
                ("spin-raw-component-route", "/wild/..."),
                ("spin-component-route", "/wild"),
            ],
            host: None,
        },
    ];

    let server_host = up.addr.to_string();
    let mut failures = Vec::new();
    for case in &cases {
        let what = format!("{} {} {:?}", case.method, case.target, case.headers);
        let reply = send(
            up.addr,
            Req {
                method: case.method,
                target: case.target,
                headers: case.headers,
                body: b"",
            },
        )
        .await?;
        assert_no_spin_response_headers(&what, &reply);
        if reply.status != 200 {
            failures.push(format!(
                "{what}: status {} body {:?}",
                reply.status,
                reply.text()
            ));
            continue;
        }
        let json = reply.json();
        let mut problems = Vec::new();
        if json["component"] != case.component {
            problems.push(format!(
                "component {} (expected {})",
                json["component"], case.component
            ));
        }
        if json["component"] == "private" {
            problems.push("the private component was reached".to_owned());
        }
        if json["method"] != case.method {
            problems.push(format!(
                "method {} (expected {})",
                json["method"], case.method
            ));
        }
        if json["path"] != case.target {
            problems.push(format!(
                "path {} (expected {:?})",
                json["path"], case.target
            ));
        }

        let got: BTreeMap<String, Value> = json["headers"]
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        let host = case.host.unwrap_or(&server_host);
        let mut expected: BTreeMap<String, Value> = case
            .spin
            .iter()
            .chain(BASE)
            .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
            .collect();
        expected.insert(
            "spin-full-url".into(),
            Value::String(format!("http://{host}{}", case.target)),
        );
        // spin-client-addr: any port, so compare it apart.
        let mut got_without_addr = got.clone();
        match got_without_addr.remove("spin-client-addr") {
            Some(Value::String(addr)) => match addr.parse::<SocketAddr>() {
                Ok(sa) if sa.ip().to_string() == "127.0.0.1" && sa.port() != 0 => {}
                _ => problems.push(format!("spin-client-addr {addr:?} is not 127.0.0.1:<port>")),
            },
            other => problems.push(format!("spin-client-addr is {other:?}")),
        }
        if got_without_addr != expected {
            problems.push(format!(
                "spin-* headers differ\n      expected (+ spin-client-addr): {}\n      got: {}",
                serde_json::to_string(&expected)?,
                serde_json::to_string(&got)?
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("{what}:\n    {}", problems.join("\n    ")));
        }
    }

    // Host-answered routes.
    let reply = get(up.addr, "/static-resp").await?;
    assert_no_spin_response_headers("GET /static-resp", &reply);
    if reply.status != 201
        || reply.text() != "static body"
        || reply.header("x-static") != Some("yes")
    {
        failures.push(format!(
            "GET /static-resp: expected 201 `static body` with x-static: yes, got {} {:?} {:?}",
            reply.status,
            reply.text(),
            reply.headers
        ));
    }

    let reply = get(up.addr, "/.well-known/spin/health").await?;
    assert_no_spin_response_headers("health", &reply);
    if reply.status != 200 || reply.text() != "OK" {
        failures.push(format!(
            "health: expected 200 `OK`, got {} {:?}",
            reply.status,
            reply.text()
        ));
    }

    let reply = get(up.addr, "/.well-known/spin/info").await?;
    assert_no_spin_response_headers("info", &reply);
    let info: Option<Value> = serde_json::from_slice(&reply.body).ok();
    let ok = reply.status == 200
        && reply
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json"))
        && info
            .as_ref()
            .is_some_and(|i| i["name"] == "routes" && i["version"] == "0.1.0");
    if !ok {
        failures.push(format!(
            "info: expected 200 application/json {{name: routes, version: 0.1.0}}, got {} {:?} {:?}",
            reply.status,
            reply.headers,
            reply.text()
        ));
    }

    let reply = get(up.addr, "/.well-known/spin/other").await?;
    assert_no_spin_response_headers("other", &reply);
    if reply.status != 404 {
        failures.push(format!(
            "/.well-known/spin/other: expected 404, got {} {:?}",
            reply.status,
            reply.text()
        ));
    }

    assert!(
        failures.is_empty(),
        "{} routing case(s) failed:\n  {}\nserver output:\n{}",
        failures.len(),
        failures.join("\n  "),
        up.output().join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_no_route_matches_gets_404_with_an_empty_body() -> Result<()> {
    let source = format!("source = '{}'", wasm("hello.wasm").display());
    let manifest = one_component_manifest("only", "/only", "hello", &source);
    let dir = temp_app(&manifest)?;
    let up = Up::start(dir.path(), &[], &[])?;

    for target in ["/nope", "/", "/only/sub"] {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 404, "GET {target}: {reply:?}");
        assert!(
            reply.body.is_empty(),
            "GET {target}: body {:?}",
            reply.text()
        );
    }
    let reply = get(up.addr, "/only").await?;
    assert_eq!(reply.status, 200, "GET /only: {reply:?}");
    assert_eq!(reply.text(), "Hello, Spin!\n");
    Ok(())
}

/// Spin's guarantee for `wasi:http@0.2`: each request runs in a fresh instance.
/// Pool slots are reset in place (dirty pages copied back, not unmapped), so
/// this checks what the guest sees: its statics and its heap start over, also
/// after a request that trapped, with requests running side by side.
#[tokio::test(flavor = "multi_thread")]
async fn every_wasi_http_0_2_request_sees_a_fresh_instance() -> Result<()> {
    let up = Up::start(&sample_app("routes"), &[], &[])?;
    let addr = up.addr;
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..25 {
                    if i % 10 == 9 {
                        let reply = get(addr, "/trap?panic").await?;
                        anyhow::ensure!(reply.status == 500, "GET /trap?panic: {reply:?}");
                    }
                    let target = format!("/fresh/{task}/{i}");
                    let reply = get(addr, &target).await?;
                    anyhow::ensure!(reply.status == 200, "GET {target}: {reply:?}");
                    let body = reply.json();
                    seen.push((
                        target,
                        body["instance_requests"].clone(),
                        body["instance_history"].clone(),
                    ));
                }
                anyhow::Ok(seen)
            })
        })
        .collect();
    for task in tasks {
        for (target, requests, history) in task.await?? {
            assert_eq!(
                requests, 1,
                "GET {target}: the instance served earlier requests"
            );
            assert_eq!(
                history, 1,
                "GET {target}: the heap kept an earlier request's data"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_panic_gives_500_with_an_empty_body_and_is_logged_with_the_component() -> Result<()>
{
    let up = Up::start(&sample_app("routes"), &[], &[])?;

    let reply = get(up.addr, "/boom?panic").await?;
    assert_eq!(
        reply.status,
        500,
        "GET /boom?panic: {reply:?}\noutput:\n{}",
        up.output().join("\n")
    );
    assert!(
        reply.body.is_empty(),
        "GET /boom?panic: body {:?}",
        reply.text()
    );
    assert_no_spin_response_headers("GET /boom?panic", &reply);

    let logged = up.wait_for_line(Duration::from_secs(10), |l| l.contains("catch-all"));
    assert!(
        logged.is_some(),
        "no output line names the component `catch-all`; output:\n{}",
        up.output().join("\n")
    );

    // The server is still up, and the next instance is fresh.
    for target in ["/after", "/exact"] {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 200, "GET {target} after the panic: {reply:?}");
        assert_eq!(reply.json()["path"], target);
    }
    // A second panic, this time in another component, behaves the same.
    let reply = get(up.addr, "/users/1?panic").await?;
    assert_eq!(reply.status, 500, "GET /users/1?panic: {reply:?}");
    assert!(
        reply.body.is_empty(),
        "GET /users/1?panic: body {:?}",
        reply.text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_request_finish_and_exits_zero() -> Result<()> {
    let mut up = Up::start(&sample_app("routes"), &[], &[])?;
    let addr = up.addr;

    // Sanity: the sleep parameter works and is echoed.
    let reply = get(addr, "/warm?sleep=10").await?;
    assert_eq!(reply.status, 200, "GET /warm?sleep=10: {reply:?}");

    let in_flight = tokio::spawn(async move { get(addr, "/slow?sleep=1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (up, status) = tokio::task::spawn_blocking(move || {
        let status = up.terminate();
        (up, status)
    })
    .await?;
    let status = status?;

    let reply = tokio::time::timeout(Duration::from_secs(60), in_flight)
        .await
        .context("the in-flight request did not finish")??
        .with_context(|| {
            format!(
                "the in-flight request failed; output:\n{}",
                up.output().join("\n")
            )
        })?;
    assert_eq!(reply.status, 200, "in-flight request: {reply:?}");
    assert_eq!(reply.json()["path"], "/slow?sleep=1500");
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; output:\n{}",
        up.output().join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_running_past_the_timeout_gets_500_and_the_server_keeps_serving() -> Result<()> {
    let up = Up::start(&sample_app("routes"), &["--request-timeout", "0.5"], &[])?;
    let slow = get(up.addr, "/slow?sleep=5000").await?;
    assert_eq!(slow.status, 500, "slow request: {slow:?}");
    assert!(slow.body.is_empty(), "500 body must be empty: {slow:?}");
    let quick = get(up.addr, "/exact").await?;
    assert_eq!(quick.status, 200, "request after the timeout: {quick:?}");
    Ok(())
}
