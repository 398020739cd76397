//! `spinshim up` end to end: the real binary serving the sample apps under
//! `images/`, spoken to over real HTTP/1.1 connections.
//!
//! Each test starts its own server(s) on a free 127.0.0.1 port and sends a
//! table of requests to it, so the number of (compiling) server starts stays
//! small.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use serde_json::Value;
use spinshim_tests::{
    free_port, get, repo_root, run_to_exit, sample_app, send, Exited, Reply, Req, Up,
};

/// How long a failing `spinshim up` may take to give up.
const EXIT_LIMIT: Duration = Duration::from_secs(120);

/// The built sample wasm `file`, as an absolute path.
fn wasm(file: &str) -> PathBuf {
    let path = repo_root()
        .join("images/target/wasm32-wasip2/release")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-images.sh",
        path.display()
    );
    path
}

/// Writes `spin.toml` with `manifest` into a fresh temporary directory.
fn temp_app(manifest: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("spin.toml"), manifest)?;
    Ok(dir)
}

/// Fails if any response header is named `spin-*`.
fn assert_no_spin_response_headers(what: &str, reply: &Reply) {
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
fn assert_header_set(what: &str, reply: &Reply, guest: &[&str]) {
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
fn assert_start_fails(
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
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "only"
version = "0.1.0"

[[trigger.http]]
route = "/only"
component = "hello"

[component.hello]
source = '{}'
"#,
        wasm("hello.wasm").display()
    );
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
async fn variables_come_from_the_command_line_then_the_environment() -> Result<()> {
    let app = sample_app("variables");

    // --variable only.
    let up = Up::start(&app, &["--variable", "name=World"], &[])?;
    let table: &[(&str, u16, &str, bool)] = &[
        // (target, status, text, exact?)
        ("/", 200, "Hello, World!", true),
        ("/get?name=message", 200, "Hello, World!", true),
        ("/get?name=nope", 500, "Undefined", false),
        ("/get?name=invalid!name", 500, "InvalidName", false),
        ("/get?name=4invalidname", 500, "InvalidName", false),
        // App variables are not guest-readable.
        ("/get?name=greeting", 500, "Undefined", false),
        ("/wasi-config?name=message", 200, "Hello, World!", true),
        ("/wasi-config?name=nope", 404, "None", true),
    ];
    for (target, status, text, exact) in table {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, *status, "GET {target}: {:?}", reply.text());
        if *exact {
            assert_eq!(reply.text(), *text, "GET {target}");
        } else {
            assert!(
                reply.text().contains(text),
                "GET {target}: {:?} lacks {text:?}",
                reply.text()
            );
        }
    }
    drop(up);

    // The environment only.
    let up = Up::start(&app, &[], &[("SPIN_VARIABLE_NAME", "Env")])?;
    let reply = get(up.addr, "/").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello, Env!"),
        "env only"
    );
    drop(up);

    // Both: --variable wins.
    let up = Up::start(
        &app,
        &["--variable", "name=World"],
        &[("SPIN_VARIABLE_NAME", "Env")],
    )?;
    let reply = get(up.addr, "/").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello, World!"),
        "--variable and env"
    );
    Ok(())
}

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
async fn static_files_are_mounted_read_only_as_listed() -> Result<()> {
    let app = sample_app("static");
    let up = Up::start(&app, &[], &[])?;

    let present = [
        ("/files/assets/index.html", "assets/index.html"),
        ("/files/assets/css/site.css", "assets/css/site.css"),
        ("/files/assets/css/extra.css", "assets/css/extra.css"),
        ("/files/data/a.txt", "data/a.txt"),
        ("/files/data/sub/b.txt", "data/sub/b.txt"),
    ];
    for (target, file) in present {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 200, "GET {target}: {:?}", reply.text());
        let on_disk = std::fs::read(app.join(file))?;
        assert_eq!(
            reply.body.as_ref(),
            on_disk.as_slice(),
            "GET {target} vs {file}"
        );
    }
    for target in [
        "/files/assets/css/skip.css",
        "/files/assets/not-mounted.txt",
        "/files/spin.toml",
    ] {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 404, "GET {target}: {:?}", reply.text());
    }

    let listings = [
        ("/list?dir=/", "assets/\ndata/"),
        ("/list?dir=/assets", "css/\nindex.html"),
        ("/list?dir=/assets/css", "extra.css\nsite.css"),
        ("/list?dir=/data", "a.txt\nsub/"),
    ];
    for (target, expected) in listings {
        let reply = get(up.addr, target).await?;
        assert_eq!(reply.status, 200, "GET {target}: {:?}", reply.text());
        assert_eq!(reply.text(), expected, "GET {target}");
    }

    let reply = get(up.addr, "/write").await?;
    assert_eq!(
        reply.status,
        500,
        "GET /write (the mount must be read-only): {:?}",
        reply.text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_spin_http_guest_gets_path_and_query_and_spin_headers() -> Result<()> {
    let up = Up::start(&sample_app("legacy-http"), &[], &[])?;

    for (method, target) in [
        ("GET", "/hello/there?x=1&y=2"),
        ("GET", "/"),
        ("POST", "/p"),
    ] {
        let reply = send(
            up.addr,
            Req {
                method,
                target,
                headers: &[("spin-client-addr", "1.2.3.4:5")],
                body: b"payload",
            },
        )
        .await?;
        let what = format!("{method} {target}");
        assert_eq!(
            reply.status,
            200,
            "{what}: {reply:?}\noutput:\n{}",
            up.output().join("\n")
        );
        assert_eq!(
            reply.text(),
            format!("Hello from legacy: {method} {target}"),
            "{what}"
        );
        assert_no_spin_response_headers(&what, &reply);
        let path = target.split('?').next().unwrap_or(target);
        let expect = [
            ("x-echo-spin-path-info", path.to_owned()),
            (
                "x-echo-spin-full-url",
                format!("http://{}{target}", up.addr),
            ),
            ("x-echo-spin-matched-route", "/...".to_owned()),
            ("x-echo-spin-raw-component-route", "/...".to_owned()),
            ("x-echo-spin-component-route", String::new()),
            ("x-echo-spin-base-path", "/".to_owned()),
        ];
        for (name, value) in &expect {
            assert_eq!(
                reply.header(name),
                Some(value.as_str()),
                "{what}: header {name} in {:?}",
                reply.headers
            );
        }
        let addrs: Vec<&str> = reply
            .headers
            .iter()
            .filter(|(n, _)| n == "x-echo-spin-client-addr")
            .map(|(_, v)| v.as_str())
            .collect();
        ensure!(
            addrs.len() == 1
                && addrs[0].starts_with("127.0.0.1:")
                && addrs[0].parse::<SocketAddr>().is_ok(),
            "{what}: x-echo-spin-client-addr should be exactly one 127.0.0.1:<port>, got {addrs:?}"
        );
    }

    let reply = send(
        up.addr,
        Req {
            method: "PURGE",
            target: "/x",
            headers: &[],
            body: b"",
        },
    )
    .await?;
    assert_eq!(reply.status, 405, "PURGE /x: {reply:?}");
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
    let bad_field = temp_app(
        r#"spin_manifest_version = 2

[application]
name = "bad-field"

[[trigger.http]]
route = "/..."
component = "broken-component"

[component.broken-component]
sorce = "whatever.wasm"
"#,
    )?;
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
    let missing = temp_app(
        r#"spin_manifest_version = 2

[application]
name = "missing-wasm"

[[trigger.http]]
route = "/..."
component = "lost"

[component.lost]
source = "does-not-exist.wasm"
"#,
    )?;
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
    let empty = temp_app(
        r#"spin_manifest_version = 2

[application]
name = "empty"

[[trigger.http]]
route = "/..."
component = "hollow"

[component.hollow]
source = "empty.wasm"
"#,
    )?;
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
