//! Guests' service clients from `spinshim up`, against real servers the
//! tests start on 127.0.0.1: Redis (`fermyon:spin/redis` of Spin 1.x,
//! `@2.0.0`, `spin:redis@3.0.0`) and MQTT (`fermyon:spin/mqtt@2.0.0`,
//! `spin:mqtt@3.0.0`) and PostgreSQL (`fermyon:spin/postgres@2.0.0`,
//! `spin:postgres@3.0.0`, `@4.0.0`, `@4.2.0` async) and MySQL on MariaDB
//! (`fermyon:spin/mysql@2.0.0`, `spin:mysql@3.0.0` async) through
//! `images/services` (spin-sdk 5),
//! `images/services-p3` (spin-sdk 7) and `images/legacy-http`.
//!
//! The guests run the steps of a request body (`images/script`) and answer
//! a line per step; the first error ends the answer with `ERR <error>`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use spinshim_tests::assertions::{temp_app, wasm};
use spinshim_tests::mqtt::{MqttBroker, Received, Subscriber};
use spinshim_tests::mysql::MysqlServer;
use spinshim_tests::postgres::PgServer;
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

/// The PostgreSQL guests: route, and the interface version it imports.
const PG_GUESTS: &[(&str, &str)] = &[
    ("v2/pg2", "fermyon:spin/postgres@2.0.0"),
    ("v2/pg3", "spin:postgres@3.0.0"),
    ("v2/pg4", "spin:postgres@4.0.0 (served by 4.2)"),
    ("v3/pg", "spin:postgres@4.2.0, async"),
];

/// Runs SQL `steps` through `route` (`<version>/<client>`) against
/// `address`.
async fn sql(addr: SocketAddr, route: &str, address: &str, steps: &str) -> Vec<String> {
    let (version, client) = route
        .split_once('/')
        .expect("routes are <version>/<client>");
    run(
        addr,
        version,
        client,
        &format!("addr={}", enc(address)),
        steps,
    )
    .await
}

/// A step line: words percent-encoded as the fixtures read them.
fn step(words: &[&str]) -> String {
    words.iter().map(|w| enc(w)).collect::<Vec<_>>().join(" ")
}

fn pg_start(server: &PgServer) -> Result<(Up, tempfile::TempDir)> {
    let entry = format!("postgres://127.0.0.1:{}", server.port);
    start(&[&entry], "", None)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_values_round_trip_in_both_directions() -> Result<()> {
    let server = PgServer::start()?;
    server.psql(
        "CREATE TABLE every (id int4 PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, \
         f8 float8, t text, v varchar(10), by bytea, d date, tm time, ts timestamp, tz timestamptz, \
         u uuid, j jsonb, n numeric, r4 int4range, r8 int8range, rn numrange, a4 int4[], a8 int8[], \
         an numeric[], at text[], iv interval)",
    )?;
    let (up, _dir) = pg_start(&server)?;
    let url = server.url();
    // 4.x: every type in, every type out, then a row of NULLs.
    for (n, (route, version)) in [(1, &PG_GUESTS[2]), (3, &PG_GUESTS[3])] {
        let id = format!("i32:{n}");
        let null_id = format!("i32:{}", n + 1);
        let insert =
            "INSERT INTO every VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,\
                      $16,$17,$18,$19,$20,$21,$22,$23,$24,$25)";
        let values = [
            id.as_str(),
            "bool:true",
            "i16:-2",
            "i32:3",
            "i64:-4000000000",
            "f32:1.5",
            "f64:-2.25",
            "str:héllo",
            "str:short",
            "bin:\u{1}\u{2}",
            "date:2024-02-29",
            "time:13:45:07.000123",
            "datetime:2024-02-29T13:45:07.000500",
            "ts:1700000000",
            "uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "json:{\"a\":[1,true]}",
            "dec:12345.678",
            "r32:[3,9)",
            "r64:(,5]",
            "rdec:[1.5,)",
            "a32:1,null,3",
            "a64:4,5",
            "adec:1.25,null",
            "astr:a,null,b c",
            "interval:1500000,2,14",
        ];
        let mut insert_words = vec!["exec", insert];
        insert_words.extend(values);
        let nulls: Vec<&str> = std::iter::once(null_id.as_str())
            .chain(std::iter::repeat_n("null", 24))
            .collect();
        let mut null_words = vec!["exec", insert];
        null_words.extend(nulls);
        let steps = [
            step(&insert_words),
            step(&null_words),
            step(&[
                "query",
                "SELECT * FROM every WHERE id = $1 OR id = $2 ORDER BY id",
                &id,
                &null_id,
            ]),
        ]
        .join("\n");
        let got = sql(up.addr, route, &url, &steps).await;
        assert_eq!(got.len(), 5, "{version}: {got:#?}");
        assert_eq!(got[0..2], ["1", "1"], "{version}");
        let want_columns = "columns: id:DbDataType::Int32, b:DbDataType::Boolean, i2:DbDataType::Int16, \
            i4:DbDataType::Int32, i8:DbDataType::Int64, f4:DbDataType::Floating32, \
            f8:DbDataType::Floating64, t:DbDataType::Str, v:DbDataType::Str, by:DbDataType::Binary, \
            d:DbDataType::Date, tm:DbDataType::Time, ts:DbDataType::Datetime, tz:DbDataType::Datetime, \
            u:DbDataType::Uuid, j:DbDataType::Jsonb, n:DbDataType::Decimal, r4:DbDataType::RangeInt32, \
            r8:DbDataType::RangeInt64, rn:DbDataType::RangeDecimal, a4:DbDataType::ArrayInt32, \
            a8:DbDataType::ArrayInt64, an:DbDataType::ArrayDecimal, at:DbDataType::ArrayStr, \
            iv:DbDataType::Interval";
        assert_eq!(got[2], want_columns, "{version}");
        let want_row = [
            format!("DbValue::Int32({n})"),
            "DbValue::Boolean(true)".into(),
            "DbValue::Int16(-2)".into(),
            "DbValue::Int32(3)".into(),
            "DbValue::Int64(-4000000000)".into(),
            "DbValue::Floating32(1.5)".into(),
            "DbValue::Floating64(-2.25)".into(),
            "DbValue::Str(\"héllo\")".into(),
            "DbValue::Str(\"short\")".into(),
            "DbValue::Binary([1, 2])".into(),
            "DbValue::Date((2024, 2, 29))".into(),
            "DbValue::Time((13, 45, 7, 123000))".into(),
            "DbValue::Datetime((2024, 2, 29, 13, 45, 7, 500000))".into(),
            "DbValue::Datetime((2023, 11, 14, 22, 13, 20, 0))".into(),
            "DbValue::Uuid(\"67e55044-10b1-426f-9247-bb680e5fe0c8\")".into(),
            "DbValue::Jsonb([123, 34, 97, 34, 58, 91, 49, 44, 116, 114, 117, 101, 93, 125])".into(),
            "DbValue::Decimal(\"12345.678\")".into(),
            "DbValue::RangeInt32((Some((3, RangeBoundKind::Inclusive)), Some((9, RangeBoundKind::Exclusive))))".into(),
            "DbValue::RangeInt64((None, Some((6, RangeBoundKind::Exclusive))))".into(),
            "DbValue::RangeDecimal((Some((\"1.5\", RangeBoundKind::Inclusive)), None))".into(),
            "DbValue::ArrayInt32([Some(1), None, Some(3)])".into(),
            "DbValue::ArrayInt64([Some(4), Some(5)])".into(),
            "DbValue::ArrayDecimal([Some(\"1.25\"), None])".into(),
            "DbValue::ArrayStr([Some(\"a\"), None, Some(\"b c\")])".into(),
            "DbValue::Interval(Interval { micros: 1500000, days: 2, months: 14 })".into(),
        ]
        .join(" | ");
        assert_eq!(got[3], want_row, "{version}");
        let want_nulls = std::iter::once(format!("DbValue::Int32({})", n + 1))
            .chain(std::iter::repeat_n("DbValue::DbNull".to_string(), 24))
            .collect::<Vec<_>>()
            .join(" | ");
        assert_eq!(got[4], want_nulls, "{version}");
        // What the guest wrote is what the server holds.
        let stored = server.psql(&format!(
            "SELECT t, encode(by, 'hex'), d, tm, ts, tz AT TIME ZONE 'UTC', j::text, n, r4, r8, rn, \
             a4, at, iv FROM every WHERE id = {n}"
        ))?;
        assert_eq!(
            stored,
            "héllo|0102|2024-02-29|13:45:07.000123|2024-02-29 13:45:07.0005|2023-11-14 22:13:20|\
             {\"a\": [1, true]}|12345.678|[3,9)|(,6)|[1.5,)|{1,NULL,3}|{a,NULL,\"b c\"}|1 year 2 mons 2 days 00:00:01.5",
            "{version}"
        );
    }
    // 2.0 and 3.0 read what 4.x wrote, through their own types.
    let steps = step(&[
        "query",
        "SELECT id, b, i8, t, by, d, tm, ts, u FROM every WHERE id = $1",
        "i32:1",
    ]);
    let got = sql(up.addr, "v2/pg3", &url, &steps).await;
    assert_eq!(
        got,
        [
            "columns: id:DbDataType::Int32, b:DbDataType::Boolean, i8:DbDataType::Int64, t:DbDataType::Str, \
             by:DbDataType::Binary, d:DbDataType::Date, tm:DbDataType::Time, ts:DbDataType::Datetime, \
             u:DbDataType::Other",
            "DbValue::Int32(1) | DbValue::Boolean(true) | DbValue::Int64(-4000000000) | DbValue::Str(\"héllo\") | \
             DbValue::Binary([1, 2]) | DbValue::Date((2024, 2, 29)) | DbValue::Time((13, 45, 7, 123000)) | \
             DbValue::Datetime((2024, 2, 29, 13, 45, 7, 500000)) | DbValue::Unsupported",
        ]
    );
    let got = sql(up.addr, "v2/pg2", &url, &steps).await;
    assert_eq!(
        got,
        [
            "columns: id:DbDataType::Int32, b:DbDataType::Boolean, i8:DbDataType::Int64, t:DbDataType::Str, \
             by:DbDataType::Binary, d:DbDataType::Other, tm:DbDataType::Other, ts:DbDataType::Other, \
             u:DbDataType::Other",
            "DbValue::Int32(1) | DbValue::Boolean(true) | DbValue::Int64(-4000000000) | DbValue::Str(\"héllo\") | \
             DbValue::Binary([1, 2]) | DbValue::Unsupported | DbValue::Unsupported | DbValue::Unsupported | \
             DbValue::Unsupported",
        ]
    );
    // 3.0 writes dates and times; 2.0 has no unsigned integers in PostgreSQL.
    let steps = [
        step(&[
            "exec",
            "INSERT INTO every (id, d, tm, ts) VALUES ($1, $2, $3, $4)",
            "i32:10",
            "date:1999-12-31",
            "time:23:59:59.999999",
            "datetime:2000-01-01T00:00:00.000001",
        ]),
        step(&[
            "query",
            "SELECT d, tm, ts FROM every WHERE id = $1",
            "i32:10",
        ]),
    ]
    .join("\n");
    let got = sql(up.addr, "v2/pg3", &url, &steps).await;
    assert_eq!(got[0], "1");
    assert_eq!(
        got[2],
        "DbValue::Date((1999, 12, 31)) | DbValue::Time((23, 59, 59, 999999000)) | \
         DbValue::Datetime((2000, 1, 1, 0, 0, 0, 1000))"
    );
    let got = sql(
        up.addr,
        "v2/pg2",
        &url,
        &step(&["exec", "SELECT $1::int8", "u32:7"]),
    )
    .await;
    assert_eq!(
        got,
        ["ERR Error::ValueConversionFailed(\"Postgres does not support unsigned integers\")"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_errors_are_the_interfaces_values_and_the_app_keeps_serving() -> Result<()> {
    let server = PgServer::start()?;
    let (up, _dir) = pg_start(&server)?;
    let url = server.url();
    for (route, version) in PG_GUESTS {
        let v4 = route.ends_with("pg4") || route.ends_with("/pg");
        // A statement the server rejects: v4 carries the server's fields.
        let got = sql(up.addr, route, &url, &step(&["query", "SELEC 1"])).await;
        assert_eq!(got.len(), 1, "{version}: {got:?}");
        if v4 {
            assert!(
                got[0].starts_with("ERR Error::QueryFailed(QueryError::DbError(DbError {"),
                "{version}: {got:?}"
            );
            assert!(got[0].contains("code: \"42601\""), "{version}: {got:?}");
            assert!(got[0].contains("severity: \"ERROR\""), "{version}: {got:?}");
        } else {
            assert!(
                got[0].starts_with("ERR Error::QueryFailed(\""),
                "{version}: {got:?}"
            );
            assert!(got[0].contains("syntax error"), "{version}: {got:?}");
        }
        // The wrong number of parameters.
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["query", "SELECT $1::int4, $2::int4", "i32:1"]),
        )
        .await;
        assert!(
            got[0].starts_with("ERR Error::QueryFailed("),
            "{version}: {got:?}"
        );
        assert!(
            got[0].contains("expected 2 parameters but got 1"),
            "{version}: {got:?}"
        );
        // A value of the wrong type for its parameter.
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["query", "SELECT $1::int8", "str:x"]),
        )
        .await;
        assert!(
            got[0].starts_with("ERR Error::QueryFailed("),
            "{version}: {got:?}"
        );
        // Wrong credentials.
        let wrong = url.replace(spinshim_tests::postgres::PASSWORD, "wrong");
        let got = sql(up.addr, route, &wrong, &step(&["query", "SELECT 1"])).await;
        assert!(
            got[0].starts_with("ERR Error::ConnectionFailed("),
            "{version}: {got:?}"
        );
        assert!(
            got[0].contains("password authentication failed"),
            "{version}: {got:?}"
        );
        // And it still serves.
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["query", "SELECT 2::int4 AS two"]),
        )
        .await;
        assert_eq!(
            got,
            ["columns: two:DbDataType::Int32", "DbValue::Int32(2)"],
            "{version}"
        );
    }
    // A value that does not convert is bad-parameter, naming it (3.0, 4.x).
    let got = sql(
        up.addr,
        "v2/pg4",
        &url,
        &step(&["query", "SELECT $1::date", "date:2025-02-30"]),
    )
    .await;
    assert_eq!(
        got,
        ["ERR Error::BadParameter(\"parameter $1: invalid date 2025-2-30\")"]
    );
    let got = sql(
        up.addr,
        "v3/pg",
        &url,
        &step(&["query", "SELECT $1::uuid", "uuid:nope"]),
    )
    .await;
    assert!(
        got[0].starts_with("ERR Error::BadParameter(\"parameter $1: invalid UUID"),
        "{got:?}"
    );
    // A CA root that is not PEM (connection-builder, 4.1+).
    let target = format!("/v3/pg?addr={}&ca=not-a-certificate", enc(&url));
    let reply = send(
        up.addr,
        Req {
            method: "POST",
            target: &target,
            headers: &[],
            body: b"query SELECT%201",
        },
    )
    .await?;
    assert!(
        reply
            .text()
            .starts_with("ERR Error::Other(\"invalid root certificate"),
        "{}",
        reply.text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_addresses_are_checked_in_url_and_key_value_forms() -> Result<()> {
    let server = PgServer::start()?;
    let port = server.port.to_string();
    let variables = format!("pg_port = {{ default = \"{port}\" }}");
    let (up, _dir) = start(&["postgres://127.0.0.1:{{ pg_port }}"], &variables, None)?;
    let key_value = format!(
        "host=127.0.0.1 port={port} user=spin password={} dbname=postgres",
        spinshim_tests::postgres::PASSWORD
    );
    for (route, version) in PG_GUESTS {
        for allowed in [server.url(), key_value.clone()] {
            let got = sql(
                up.addr,
                route,
                &allowed,
                &step(&["query", "SELECT 1::int4 AS one"]),
            )
            .await;
            assert_eq!(
                got,
                ["columns: one:DbDataType::Int32", "DbValue::Int32(1)"],
                "{version}: {allowed}"
            );
        }
        for (denied, shown) in [
            (
                format!("postgres://spin@localhost:{port}/postgres"),
                format!("localhost:{port}"),
            ),
            (
                format!("host=127.0.0.2 port={port} user=spin"),
                format!("127.0.0.2:{port}"),
            ),
            // No port: the default one is checked (and shown).
            (
                "postgres://spin@127.0.0.1/postgres".to_string(),
                "127.0.0.1:5432".to_string(),
            ),
        ] {
            let got = sql(up.addr, route, &denied, &step(&["query", "SELECT 1"])).await;
            let want = format!(
                "ERR Error::ConnectionFailed(\"address postgres://{shown} is not permitted\")"
            );
            assert_eq!(got, [want], "{version}: {denied}");
        }
        let got = sql(
            up.addr,
            route,
            "host=/tmp user=spin",
            &step(&["query", "SELECT 1"]),
        )
        .await;
        assert_eq!(
            got,
            ["ERR Error::ConnectionFailed(\"Unix sockets are not supported\")"],
            "{version}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_sessions_are_clean_and_outages_recover() -> Result<()> {
    let mut server = PgServer::start()?;
    server.psql("CREATE TABLE iso (n int4)")?;
    let config = "[outbound_pg]\nmax_connections = 1\n";
    let entry = format!("postgres://127.0.0.1:{}", server.port);
    let (up, _dir) = start(&[&entry], "", Some(config))?;
    let url = server.url();
    // A request leaves a transaction open and a setting changed ...
    let steps = [
        step(&["exec", "BEGIN"]),
        step(&["exec", "SET application_name = 'leaked'"]),
        step(&["exec", "INSERT INTO iso VALUES (1)"]),
    ]
    .join("\n");
    assert_eq!(sql(up.addr, "v2/pg4", &url, &steps).await, ["0", "0", "1"]);
    // ... and the next one (on the same pooled connection: the cap is 1)
    // sees neither.
    let got = sql(
        up.addr,
        "v3/pg",
        &url,
        &step(&[
            "query",
            "SELECT current_setting('application_name') AS a, \
        (SELECT count(*)::int4 FROM iso) AS n",
        ]),
    )
    .await;
    assert_eq!(got[1], "DbValue::Str(\"\") | DbValue::Int32(0)", "{got:?}");
    assert_eq!(server.psql("SELECT count(*) FROM iso")?, "0");
    // The server goes away: connection-failed; it comes back: served.
    server.stop();
    for (route, version) in PG_GUESTS {
        let got = sql(up.addr, route, &url, &step(&["query", "SELECT 1"])).await;
        assert!(got[0].starts_with("ERR Error::"), "{version}: {got:?}");
    }
    server.restart()?;
    for (route, version) in PG_GUESTS {
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["query", "SELECT 3::int4 AS three"]),
        )
        .await;
        assert_eq!(
            got,
            ["columns: three:DbDataType::Int32", "DbValue::Int32(3)"],
            "{version}: after the outage"
        );
    }
    Ok(())
}

/// The MySQL routes and the interface each exercises.
const MYSQL_GUESTS: &[(&str, &str)] = &[
    ("v2/mysql", "fermyon:spin/mysql@2.0.0"),
    ("v3/mysql", "spin:mysql@3.0.0, async"),
];

fn mysql_start(
    server: &MysqlServer,
    runtime_config: Option<&str>,
) -> Result<(Up, tempfile::TempDir)> {
    let entry = format!("mysql://127.0.0.1:{}", server.port);
    start(&[&entry], "", runtime_config)
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_values_round_trip_in_both_directions() -> Result<()> {
    let server = MysqlServer::start()?;
    server.sql(
        "CREATE TABLE every (id INT PRIMARY KEY, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, \
         bi BIGINT, uti TINYINT UNSIGNED, usi SMALLINT UNSIGNED, ui INT UNSIGNED, \
         ubi BIGINT UNSIGNED, f FLOAT, d DOUBLE, vc VARCHAR(20), t TEXT, vb VARBINARY(20), \
         bl BLOB, de DECIMAL(6,2), da DATE, tm TIME(3), dt DATETIME(6), yr YEAR, bo BOOL, \
         js JSON, bt BIT(8))",
    )?;
    let (up, _dir) = mysql_start(&server, None)?;
    let url = server.url();
    let columns = "columns: id:DbDataType::Int32, ti:DbDataType::Int8, si:DbDataType::Int16, \
        mi:DbDataType::Int32, i:DbDataType::Int32, bi:DbDataType::Int64, uti:DbDataType::Uint8, \
        usi:DbDataType::Uint16, ui:DbDataType::Uint32, ubi:DbDataType::Uint64, \
        f:DbDataType::Floating32, d:DbDataType::Floating64, vc:DbDataType::Str, t:DbDataType::Str, \
        vb:DbDataType::Binary, bl:DbDataType::Binary, de:DbDataType::Other, da:DbDataType::Other, \
        tm:DbDataType::Other, dt:DbDataType::Other, yr:DbDataType::Other, bo:DbDataType::Int8, \
        js:DbDataType::Str, bt:DbDataType::Other";
    for (n, (route, version)) in MYSQL_GUESTS.iter().enumerate() {
        let id = format!("i32:{}", 2 * n + 1);
        let null_id = format!("i32:{}", 2 * n + 2);
        let insert = step(&[
            "exec",
            "INSERT INTO every VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &id,
            "i8:-5",
            "i16:-300",
            "i32:-70000",
            "i32:-2000000",
            "i64:-9000000000",
            "u8:250",
            "u16:65000",
            "u32:4000000000",
            "u64:18000000000000000000",
            "f32:1.5",
            "f64:2.25",
            "str:héllo",
            "str:long text",
            "bin:bytes",
            "bin:blob",
            "str:12.34",
            "str:2024-02-29",
            "str:13:45:07.123",
            "str:2024-02-29 13:45:07.000500",
            "i16:2024",
            "bool:true",
            "str:{\"a\":1}",
            "bin:A",
        ]);
        let insert_nulls = step(&[
            "exec",
            "INSERT INTO every (id, vc) VALUES (?, ?)",
            &null_id,
            "null",
        ]);
        let select = step(&[
            "query",
            "SELECT * FROM every WHERE id = ? OR id = ? ORDER BY id",
            &id,
            &null_id,
        ]);
        let got = sql(
            up.addr,
            route,
            &url,
            &[insert, insert_nulls, select].join("\n"),
        )
        .await;
        let values = format!(
            "DbValue::Int32({}) | DbValue::Int8(-5) | DbValue::Int16(-300) | DbValue::Int32(-70000) | \
             DbValue::Int32(-2000000) | DbValue::Int64(-9000000000) | DbValue::Uint8(250) | \
             DbValue::Uint16(65000) | DbValue::Uint32(4000000000) | \
             DbValue::Uint64(18000000000000000000) | DbValue::Floating32(1.5) | \
             DbValue::Floating64(2.25) | DbValue::Str(\"héllo\") | DbValue::Str(\"long text\") | \
             DbValue::Binary([98, 121, 116, 101, 115]) | DbValue::Binary([98, 108, 111, 98]) | \
             DbValue::Str(\"12.34\") | DbValue::Str(\"2024-02-29\") | DbValue::Str(\"13:45:07.123\") | \
             DbValue::Str(\"2024-02-29 13:45:07.000500\") | DbValue::Int64(2024) | DbValue::Int8(1) | \
             DbValue::Str(\"{{\\\"a\\\":1}}\") | DbValue::Binary([65])",
            2 * n + 1
        );
        let nulls = format!(
            "DbValue::Int32({}){}",
            2 * n + 2,
            " | DbValue::DbNull".repeat(23)
        );
        assert_eq!(got.len(), 5, "{version}: {got:?}");
        assert_eq!(&got[..2], ["()", "()"], "{version}");
        assert_eq!(got[2], columns, "{version}");
        assert_eq!(got[3], values, "{version}");
        assert_eq!(got[4], nulls, "{version}");
    }
    // What the guests wrote is what the server holds.
    assert_eq!(
        server.sql("SELECT ubi, vc, HEX(vb), de, dt FROM every WHERE id = 3")?,
        "18000000000000000000\théllo\t6279746573\t12.34\t2024-02-29 13:45:07.000500"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_async_rows_stream_past_the_host_buffer_of_a_few_rows() -> Result<()> {
    let server = MysqlServer::start()?;
    let (up, _dir) = mysql_start(&server, None)?;
    // MariaDB's sequence engine: 5,000 rows of about 100 bytes.
    let rows = "SELECT seq AS n, REPEAT('x', 100) AS pad FROM seq_1_to_5000";
    for (route, version) in MYSQL_GUESTS {
        let got = sql(up.addr, route, &server.url(), &step(&["query", rows])).await;
        assert_eq!(got.len(), 5001, "{version}: {:?}", &got[..got.len().min(3)]);
        assert!(
            got[5000].starts_with("DbValue::Uint64(5000) | DbValue::Str(\"xxx"),
            "{version}: {}",
            got[5000]
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_errors_are_the_interfaces_values_and_the_app_keeps_serving() -> Result<()> {
    let server = MysqlServer::start()?;
    server.sql("CREATE TABLE nums (n INT NOT NULL)")?;
    let (up, _dir) = mysql_start(&server, None)?;
    let url = server.url();
    let port = server.port;
    for (route, version) in MYSQL_GUESTS {
        let expect = |got: &[String], prefix: &str, text: &str| {
            assert_eq!(got.len(), 1, "{version}: {got:?}");
            assert!(got[0].starts_with(prefix), "{version}: {got:?}");
            assert!(got[0].contains(text), "{version}: {got:?} lacks {text:?}");
        };
        let got = sql(up.addr, route, &url, &step(&["query", "SELEC 1"])).await;
        expect(
            &got,
            "ERR Error::QueryFailed(\"",
            "error in your SQL syntax",
        );
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["query", "SELECT ?, ?", "i32:1"]),
        )
        .await;
        expect(&got, "ERR Error::QueryFailed(\"", "2 parameters but 1");
        // A value the column does not take (strict mode).
        let got = sql(
            up.addr,
            route,
            &url,
            &step(&["exec", "INSERT INTO nums VALUES (?)", "str:x"]),
        )
        .await;
        expect(&got, "ERR Error::QueryFailed(\"", "Incorrect integer value");
        let wrong = url.replace(spinshim_tests::mysql::PASSWORD, "wrong");
        let got = sql(up.addr, route, &wrong, &step(&["query", "SELECT 1"])).await;
        expect(&got, "ERR Error::ConnectionFailed(\"", "Access denied");
        let unknown_db = format!(
            "mysql://spin:{}@127.0.0.1:{port}/nowhere",
            spinshim_tests::mysql::PASSWORD
        );
        let got = sql(up.addr, route, &unknown_db, &step(&["query", "SELECT 1"])).await;
        expect(&got, "ERR Error::ConnectionFailed(\"", "Unknown database");
        // An address mysql_async cannot read: named, password hidden.
        let bogus = format!("{url}?bogus=1");
        let got = sql(up.addr, route, &bogus, &step(&["query", "SELECT 1"])).await;
        expect(
            &got,
            "ERR Error::ConnectionFailed(\"invalid address mysql://spin:***@127.0.0.1",
            "bogus",
        );
        // And it still serves.
        let got = sql(up.addr, route, &url, &step(&["query", "SELECT 2 AS two"])).await;
        assert_eq!(
            got,
            ["columns: two:DbDataType::Int32", "DbValue::Int32(2)"],
            "{version}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_addresses_are_checked_against_allowed_outbound_hosts() -> Result<()> {
    let server = MysqlServer::start()?;
    let port = server.port;
    let variables = format!("mysql_port = {{ default = \"{port}\" }}");
    let (up, _dir) = start(&["mysql://127.0.0.1:{{ mysql_port }}"], &variables, None)?;
    for (route, version) in MYSQL_GUESTS {
        let got = sql(
            up.addr,
            route,
            &server.url(),
            &step(&["query", "SELECT 1 AS one"]),
        )
        .await;
        assert_eq!(
            got,
            ["columns: one:DbDataType::Int32", "DbValue::Int32(1)"],
            "{version}"
        );
        for denied in [
            format!("mysql://spin@localhost:{port}/spin"),
            "mysql://spin@127.0.0.1/spin".to_string(),
            format!("postgres://spin@127.0.0.1:{port}/spin"),
        ] {
            let got = sql(up.addr, route, &denied, &step(&["query", "SELECT 1"])).await;
            let want =
                format!("ERR Error::ConnectionFailed(\"address {denied} is not permitted\")");
            assert_eq!(got, [want], "{version}");
        }
        let socket = format!("mysql://spin@127.0.0.1:{port}/spin?socket=/tmp/mysql.sock");
        let got = sql(up.addr, route, &socket, &step(&["query", "SELECT 1"])).await;
        assert_eq!(
            got,
            ["ERR Error::ConnectionFailed(\"Unix sockets are not supported\")"],
            "{version}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_sessions_are_clean_and_outages_recover() -> Result<()> {
    let mut server = MysqlServer::start()?;
    server.sql("CREATE TABLE iso (n INT)")?;
    let (up, _dir) = mysql_start(&server, Some("[outbound_mysql]\nmax_connections = 1\n"))?;
    let url = server.url();
    // A request leaves a variable set and a transaction open ...
    let steps = [
        step(&["exec", "SET @leaked = 5"]),
        step(&["exec", "START TRANSACTION"]),
        step(&["exec", "INSERT INTO iso VALUES (1)"]),
    ]
    .join("\n");
    assert_eq!(
        sql(up.addr, "v2/mysql", &url, &steps).await,
        ["()", "()", "()"]
    );
    // ... and the next one (on the same pooled connection: the cap is 1)
    // sees neither.
    let got = sql(
        up.addr,
        "v3/mysql",
        &url,
        &step(&[
            "query",
            "SELECT @leaked AS a, (SELECT COUNT(*) FROM iso) AS n",
        ]),
    )
    .await;
    assert_eq!(
        got.get(1).map(String::as_str),
        Some("DbValue::DbNull | DbValue::Int64(0)"),
        "{got:?}"
    );
    assert_eq!(server.sql("SELECT COUNT(*) FROM iso")?, "0");
    // The server goes away: connection-failed; it comes back: served.
    server.stop();
    for (route, version) in MYSQL_GUESTS {
        let got = sql(up.addr, route, &url, &step(&["query", "SELECT 1"])).await;
        assert!(
            got[0].starts_with("ERR Error::ConnectionFailed("),
            "{version}: {got:?}"
        );
    }
    server.restart()?;
    for (route, version) in MYSQL_GUESTS {
        let got = sql(up.addr, route, &url, &step(&["query", "SELECT 3 AS three"])).await;
        assert_eq!(
            got,
            ["columns: three:DbDataType::Int32", "DbValue::Int32(3)"],
            "{version}: after the outage"
        );
    }
    Ok(())
}
