//! `spinshim up` with host capabilities: variables (both interfaces),
//! component files, and the legacy Spin 1.x HTTP handler.

use std::net::SocketAddr;

use anyhow::{ensure, Result};
use spinshim_tests::assertions::*;
use spinshim_tests::{get, sample_app, send, Req, Up};

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
