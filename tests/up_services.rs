//! Guests' service clients from `spinshim up`, against real servers the
//! tests start on 127.0.0.1: Redis (`fermyon:spin/redis` of Spin 1.x,
//! `@2.0.0`, `spin:redis@3.0.0`) and MQTT (`fermyon:spin/mqtt@2.0.0`,
//! `spin:mqtt@3.0.0`) through `images/services` (spin-sdk 5),
//! `images/services-p3` (spin-sdk 7) and `images/legacy-http`.
//!
//! The guests run the steps of a request body (`images/script`) and answer
//! a line per step; the first error ends the answer with `ERR <error>`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use spinshim_tests::assertions::{temp_app, wasm};
use spinshim_tests::mqtt::{MqttBroker, Received, Subscriber};
use spinshim_tests::redis::RedisServer;
use spinshim_tests::{send, Req, Up};

/// The three guests: the route prefix each serves and its wasm.
const GUESTS: &[(&str, &str)] = &[
    ("v1", "legacy_http.wasm"),
    ("v2", "services.wasm"),
    ("v3", "services_p3.wasm"),
];

/// An app with every guest under `/<version>/...`, each allowed `allowed`,
/// and `[variables]` lines `variables`.
fn manifest(allowed: &[&str], variables: &str) -> String {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    let mut text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"services-test\"\n[variables]\n{variables}\n"
    );
    for (version, file) in GUESTS {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"/{version}/...\"\ncomponent = \"{version}\"\n\
             [component.{version}]\nsource = \"{}\"\nallowed_outbound_hosts = [{}]\n",
            wasm(file).display(),
            allowed.join(", ")
        ));
    }
    text
}

fn start(
    allowed: &[&str],
    variables: &str,
    runtime_config: Option<&str>,
) -> Result<(Up, tempfile::TempDir)> {
    let dir = temp_app(&manifest(allowed, variables))?;
    let mut args = Vec::new();
    if let Some(text) = runtime_config {
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, text)?;
        args.extend([
            "--runtime-config-file".to_string(),
            path.display().to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok((Up::start(dir.path(), &args, &[])?, dir))
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

/// Runs `steps` in the `version` guest against `query` (`addr=...`), and
/// returns its answer's lines.
async fn run(
    addr: SocketAddr,
    version: &str,
    client: &str,
    query: &str,
    steps: &str,
) -> Vec<String> {
    let target = format!("/{version}/{client}?{query}");
    let reply = send(
        addr,
        Req {
            method: "POST",
            target: &target,
            headers: &[],
            body: steps.as_bytes(),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("POST {target}: {e:#}"));
    assert_eq!(reply.status, 200, "POST {target}: {}", reply.text());
    reply.text().lines().map(str::to_string).collect()
}

async fn redis(addr: SocketAddr, version: &str, address: &str, steps: &str) -> Vec<String> {
    run(
        addr,
        version,
        "redis",
        &format!("addr={}", enc(address)),
        steps,
    )
    .await
}

/// The error line a version's guest prints for `error` (v1 has one value).
fn redis_error(version: &str, error: &str) -> String {
    if version == "v1" {
        "ERR Error::Error".to_string()
    } else {
        format!("ERR Error::{error}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_operations_round_trip_in_every_interface_version() -> Result<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    let (up, _dir) = start(&[&url], "", None)?;
    for (version, _) in GUESTS {
        let p = format!("{version}:");
        let steps = [
            format!("set {p}k%20one hello%20world"),
            format!("get {p}k%20one"),
            format!("incr {p}n"),
            format!("incr {p}n"),
            format!("sadd {p}s a b c"),
            format!("srem {p}s b"),
            format!("smembers {p}s"),
            format!("del {p}k%20one {p}n {p}missing"),
            format!("execute SET b:{p}x b:42"),
            format!("execute INCRBY b:{p}x i:8"),
            format!("execute MGET b:{p}x b:{p}nokey"),
            format!("execute RPUSH b:{p}l b:1 b:2"),
            format!("execute LRANGE b:{p}l i:0 i:-1"),
            format!("publish {p}channel hi"),
        ]
        .join("\n");
        let got = redis(up.addr, version, &url, &steps).await;
        let value = if *version == "v1" {
            "bytes(hello world)"
        } else {
            "some(hello world)"
        };
        let want = [
            "ok",
            value,
            "1",
            "2",
            "3",
            "1",
            "[a,c]",
            "2",
            "[status(OK)]",
            "[int(50)]",
            "[bin(50),nil]",
            "[int(2)]",
            "[bin(1),bin(2)]",
            "ok",
        ];
        assert_eq!(got, want, "{version}: {}", up.output().join("\n"));
        // What the guest wrote is in the server.
        let reply = server.command(&["GET", &format!("{p}x")])?;
        assert_eq!(reply, "$2\r\n50\r\n", "{version}");
        // A missing key: none (v1: empty bytes).
        let got = redis(up.addr, version, &url, &format!("get {p}absent")).await;
        let none = if *version == "v1" { "bytes()" } else { "none" };
        assert_eq!(got, [none], "{version}");
        // A key of the wrong type, and a value that is not a number.
        let got = redis(up.addr, version, &url, &format!("get {p}l")).await;
        assert_eq!(got, [redis_error(version, "TypeError")], "{version}");
        let got = redis(up.addr, version, &url, &format!("set {p}t abc\nincr {p}t")).await;
        assert_eq!(got.len(), 2, "{version}: {got:?}");
        let other = if *version == "v1" {
            got[1] == "ERR Error::Error"
        } else {
            got[1].starts_with("ERR Error::Other(") && got[1].contains("not an integer")
        };
        assert!(other, "{version}: {got:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_connection_state_never_leaks_between_requests() -> Result<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    let db1 = format!("{url}/1");
    let (up, _dir) = start(&[&url], "", None)?;
    for (version, _) in GUESTS {
        let key = format!("{version}:iso");
        // SELECT moves this request's connection to database 1 ...
        let steps = format!("execute SELECT i:1\nset {key} one\nget {key}");
        let got = redis(up.addr, version, &url, &steps).await;
        let value = if *version == "v1" {
            // v1 opens a connection per call: the SELECT did not stay.
            "bytes(one)"
        } else {
            "some(one)"
        };
        assert_eq!(got, ["[status(OK)]", "ok", value], "{version}");
        // ... and no other request sees database 1 through the shared one.
        let got = redis(up.addr, version, &url, &format!("get {key}")).await;
        if *version == "v1" {
            assert_eq!(got, ["bytes(one)"], "{version}");
        } else {
            assert_eq!(got, ["none"], "{version}");
            let got = redis(up.addr, version, &db1, &format!("get {key}")).await;
            assert_eq!(got, ["some(one)"], "{version}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_addresses_are_checked_against_allowed_outbound_hosts() -> Result<()> {
    let server = RedisServer::start()?;
    let port = server.port.to_string();
    let variables = format!("redis_port = {{ default = \"{port}\" }}");
    let (up, _dir) = start(&["redis://127.0.0.1:{{ redis_port }}"], &variables, None)?;
    let url = server.url();
    for (version, _) in GUESTS {
        let got = redis(up.addr, version, &url, &format!("set {version}:a 1")).await;
        assert_eq!(got, ["ok"], "{version}: templated entry admits {url}");
        for denied in [
            format!("redis://localhost:{port}"),
            "redis://127.0.0.1:6390".to_string(),
            format!("redis://127.0.0.2:{port}"),
            "not a url".to_string(),
        ] {
            let got = redis(up.addr, version, &denied, "get a").await;
            assert_eq!(
                got,
                [redis_error(version, "InvalidAddress")],
                "{version}: {denied}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_gives_an_error_and_the_first_request_after_it_succeeds() -> Result<()> {
    let mut server = RedisServer::start()?;
    let url = server.url();
    let (up, _dir) = start(&[&url], "", None)?;
    for (version, _) in GUESTS {
        let got = redis(up.addr, version, &url, &format!("set {version}:up 1")).await;
        assert_eq!(got, ["ok"], "{version}");
    }
    server.stop();
    for (version, _) in GUESTS {
        let got = redis(up.addr, version, &url, &format!("get {version}:up")).await;
        assert_eq!(got.len(), 1, "{version}: {got:?}");
        let failed = if *version == "v1" {
            got[0] == "ERR Error::Error"
        } else {
            got[0].starts_with("ERR Error::Other(")
        };
        assert!(failed, "{version} while the server is down: {got:?}");
    }
    server.restart()?;
    for (version, _) in GUESTS {
        let got = redis(
            up.addr,
            version,
            &url,
            &format!("set {version}:back 1\nincr {version}:back"),
        )
        .await;
        assert_eq!(
            got,
            ["ok", "2"],
            "{version}: the first request after the outage"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_max_connections_caps_open_connections() -> Result<()> {
    let server = RedisServer::start()?;
    let url = server.url();
    let config = "[outbound_redis]\nmax_connections = 1\n";
    let (up, _dir) = start(&[&url], "", Some(config))?;
    // A BLPOP holds its connection (and the one permit) for 8 s ...
    let blocking = {
        let url = url.clone();
        let addr = up.addr;
        tokio::spawn(async move { redis(addr, "v2", &url, "execute BLPOP b:never i:8").await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ... so another open waits for it, and gives up after 5 s.
    let started = std::time::Instant::now();
    let got = redis(up.addr, "v3", &url, "get x").await;
    if got != ["ERR Error::TooManyConnections"] {
        panic!(
            "{got:?}; blocking: {:?}; {}",
            blocking.await?,
            up.output().join("\n")
        );
    }
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(blocking.await?, ["[nil]"]);
    // The permit is back.
    assert_eq!(redis(up.addr, "v3", &url, "get x").await, ["none"]);
    Ok(())
}

/// The MQTT guests (v1 has no MQTT interface).
const MQTT_GUESTS: &[&str] = &["v2", "v3"];

async fn mqtt(addr: SocketAddr, version: &str, query: &str, steps: &str) -> Vec<String> {
    run(addr, version, "mqtt", query, steps).await
}

fn mqtt_query(address: &str, login: Option<(&str, &str)>) -> String {
    let (user, pass) = login.unwrap_or(("", ""));
    format!(
        "addr={}&user={}&pass={}&keepalive=5",
        enc(address),
        enc(user),
        enc(pass)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_publishes_reach_a_subscriber_at_every_qos() -> Result<()> {
    let broker = MqttBroker::start_with_login("alice", "s3cret")?;
    let allowed = format!("mqtt://127.0.0.1:{}", broker.port);
    let (up, _dir) = start(&[&allowed], "", None)?;
    let login = Some(("alice", "s3cret"));
    let mut subscriber = Subscriber::new(&broker, "spinshim/#", login).await?;
    for version in MQTT_GUESTS {
        let query = mqtt_query(&broker.url(&format!("guest-{version}")), login);
        let steps = format!(
            "mqtt spinshim/{version}/a 0 zero\nmqtt spinshim/{version}/b 1 one\nmqtt spinshim/{version}/c 2 two%20words"
        );
        let got = mqtt(up.addr, version, &query, &steps).await;
        assert_eq!(
            got,
            ["ok", "ok", "ok"],
            "{version}: {}",
            up.output().join("\n")
        );
        let mut received = Vec::new();
        while received.len() < 3 {
            match subscriber.next(Duration::from_secs(10)).await {
                Some(message) => received.push(message),
                None => panic!("{version}: only {received:?} arrived"),
            }
        }
        received.sort_by(|a, b| a.topic.cmp(&b.topic));
        let want =
            [("a", "zero", 0), ("b", "one", 1), ("c", "two words", 2)].map(|(t, p, q)| Received {
                topic: format!("spinshim/{version}/{t}"),
                payload: p.as_bytes().to_vec(),
                qos: q,
            });
        assert_eq!(received, want, "{version}");
        // Wrong credentials: the broker refuses the connection.
        let query = mqtt_query(&broker.url("intruder"), Some(("alice", "wrong")));
        let got = mqtt(
            up.addr,
            version,
            &query,
            &format!("mqtt spinshim/{version}/x 1 no"),
        )
        .await;
        assert_eq!(got.len(), 1, "{version}: {got:?}");
        assert!(
            got[0].starts_with("ERR Error::ConnectionFailed("),
            "{version}: {got:?}"
        );
    }
    assert_eq!(subscriber.next(Duration::from_millis(500)).await, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_addresses_are_checked_and_outages_are_connection_failures() -> Result<()> {
    let mut broker = MqttBroker::start()?;
    let port = broker.port.to_string();
    let variables = format!("mqtt_port = {{ default = \"{port}\" }}");
    let (up, _dir) = start(&["mqtt://127.0.0.1:{{ mqtt_port }}"], &variables, None)?;
    for version in MQTT_GUESTS {
        let denied = format!("mqtt://localhost:{port}?client_id=x");
        let got = mqtt(up.addr, version, &mqtt_query(&denied, None), "mqtt t 0 x").await;
        let want = format!("ERR Error::ConnectionFailed(\"address {denied} is not permitted\")");
        assert_eq!(got, [want], "{version}");
        // Allowed, but not an address rumqttc can use (no client id).
        let no_id = format!("mqtt://127.0.0.1:{port}");
        let got = mqtt(up.addr, version, &mqtt_query(&no_id, None), "mqtt t 0 x").await;
        assert_eq!(got, ["ERR Error::InvalidAddress"], "{version}");
    }
    let mut subscriber = Subscriber::new(&broker, "outage/#", None).await?;
    let url = broker.url("outage-guest");
    assert_eq!(
        mqtt(up.addr, "v2", &mqtt_query(&url, None), "mqtt outage/1 1 a").await,
        ["ok"]
    );
    assert!(subscriber.next(Duration::from_secs(10)).await.is_some());
    broker.stop();
    for version in MQTT_GUESTS {
        let got = mqtt(
            up.addr,
            version,
            &mqtt_query(&url, None),
            "mqtt outage/2 1 b",
        )
        .await;
        assert_eq!(got.len(), 1, "{version}: {got:?}");
        assert!(
            got[0].starts_with("ERR Error::ConnectionFailed("),
            "{version}: {got:?}"
        );
    }
    broker.restart()?;
    let mut subscriber = Subscriber::new(&broker, "outage/#", None).await?;
    for version in MQTT_GUESTS {
        let got = mqtt(
            up.addr,
            version,
            &mqtt_query(&url, None),
            "mqtt outage/3 1 c",
        )
        .await;
        assert_eq!(got, ["ok"], "{version}: the first request after the outage");
        let message = subscriber.next(Duration::from_secs(10)).await;
        assert_eq!(message.map(|m| m.payload), Some(b"c".to_vec()), "{version}");
    }
    Ok(())
}
