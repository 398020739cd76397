//! `spinshim up` with state: key-value (`fermyon:spin/key-value@2.0.0`,
//! `spin:key-value@3.0.0`, `wasi:keyvalue`) and SQLite
//! (`fermyon:spin/sqlite@2.0.0`, `spin:sqlite@3.x`) on the sample apps
//! `images/state` (spin-sdk 5) and `images/state-p3` (spin-sdk 7), with the
//! default stores, runtime-config stores and a real Redis.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use spinshim_tests::assertions::*;
use spinshim_tests::redis::RedisServer;
use spinshim_tests::{free_port, get, sample_app, send, Req, Up};

/// A runtime config defining the `other` store `images/state` declares.
const OTHER_STORE: &str = "[key_value_store.other]\ntype = \"spin\"\npath = \"other.db\"\n";

/// Writes `text` as `runtime-config.toml` in `dir`; returns its path.
fn runtime_config(dir: &Path, text: &str) -> Result<String> {
    let path = dir.join("runtime-config.toml");
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

/// Starts `images/state` with its state in `dir` and `other` defined.
fn start_state(dir: &Path, extra: &[&str]) -> Result<Up> {
    let config = runtime_config(dir, OTHER_STORE)?;
    let state_dir = dir.join("state").display().to_string();
    let mut args = vec!["--state-dir", &state_dir, "--runtime-config-file", &config];
    args.extend_from_slice(extra);
    Up::start(&sample_app("state"), &args, &[])
}

async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
) -> Result<(u16, String)> {
    let reply = send(
        addr,
        Req {
            method,
            target,
            headers: &[],
            body,
        },
    )
    .await?;
    Ok((reply.status, reply.text()))
}

async fn expect(addr: SocketAddr, method: &str, target: &str, body: &[u8], want: (u16, &str)) {
    let got = request(addr, method, target, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {target}: {e:#}"));
    assert_eq!((got.0, got.1.as_str()), want, "{method} {target}");
}

/// One SQL statement through the state app; the JSON answer or the error.
async fn sql(
    addr: SocketAddr,
    version: &str,
    database: &str,
    statement: &str,
    params: Value,
) -> (u16, Value) {
    let body = json!({ "statement": statement, "params": params }).to_string();
    let (status, text) = request(
        addr,
        "POST",
        &format!("/sql/{version}/{database}"),
        body.as_bytes(),
    )
    .await
    .expect("sql request");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_key_value_v2_operations_and_error_values() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    let a = up.addr;
    expect(a, "GET", "/kv/default/k", b"", (404, "None")).await;
    expect(a, "PUT", "/kv/default/k", b"v1", (200, "stored")).await;
    expect(a, "GET", "/kv/default/k", b"", (200, "v1")).await;
    expect(a, "PUT", "/kv/default/k", b"v2", (200, "stored")).await;
    expect(a, "GET", "/kv/default/k", b"", (200, "v2")).await;
    expect(a, "GET", "/kv-exists/default/k", b"", (200, "true")).await;
    expect(a, "GET", "/kv-exists/default/absent", b"", (200, "false")).await;
    // Deleting an absent key succeeds.
    expect(a, "DELETE", "/kv/default/absent", b"", (200, "deleted")).await;
    // Labels are separate stores.
    expect(a, "PUT", "/kv/other/x", b"in other", (200, "stored")).await;
    expect(a, "GET", "/kv/default/x", b"", (404, "None")).await;
    expect(a, "GET", "/kv-keys/other", b"", (200, "x")).await;
    expect(a, "PUT", "/kv/default/j", b"", (200, "stored")).await;
    expect(a, "GET", "/kv-keys/default", b"", (200, "j\nk")).await;
    expect(a, "DELETE", "/kv/default/k", b"", (200, "deleted")).await;
    expect(a, "GET", "/kv/default/k", b"", (404, "None")).await;
    // A label the component does not declare is denied, defined or not.
    expect(
        a,
        "GET",
        "/kv/undeclared/k",
        b"",
        (500, "Error::AccessDenied"),
    )
    .await;
    // At most 256 stores open per instance.
    expect(a, "GET", "/kv-open/default/256", b"", (200, "256")).await;
    expect(
        a,
        "GET",
        "/kv-open/default/257",
        b"",
        (500, "after 256: Error::StoreTableFull"),
    )
    .await;
    // The runtime-config `spin` store is a file beside the runtime config.
    assert!(dir.path().join("other.db").is_file());
    assert!(dir.path().join("state/sqlite_key_value.db").is_file());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_keyvalue_store_atomics_and_batch() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    let a = up.addr;
    expect(a, "GET", "/wasi/default/k", b"", (404, "None")).await;
    expect(a, "PUT", "/wasi/default/k", b"wasi", (200, "stored")).await;
    expect(a, "GET", "/wasi/default/k", b"", (200, "wasi")).await;
    expect(a, "DELETE", "/wasi/default/absent", b"", (200, "deleted")).await;
    expect(a, "GET", "/wasi-list/default", b"", (200, "k")).await;
    expect(
        a,
        "GET",
        "/wasi-list/default?cursor=k",
        b"",
        (500, "Error::Other(\"list_keys: cursor not supported\")"),
    )
    .await;
    expect(
        a,
        "GET",
        "/wasi/undeclared/k",
        b"",
        (500, "Error::AccessDenied"),
    )
    .await;
    // Counters: 8-byte little-endian, as Spin stores them.
    expect(a, "POST", "/wasi-incr/default/n?delta=5", b"", (200, "5")).await;
    expect(a, "POST", "/wasi-incr/default/n?delta=-7", b"", (200, "-2")).await;
    let (status, text) = request(a, "POST", "/wasi-incr/default/k?delta=1", b"").await?;
    assert_eq!(status, 500, "incrementing a non-counter: {text}");
    assert!(text.contains("not a counter"), "{text}");
    // Compare-and-swap from one request; batch with a missing key.
    expect(a, "POST", "/wasi-cas/default/c", b"ab", (200, "1")).await;
    expect(a, "POST", "/wasi-cas/default/c", b"cd", (200, "1")).await;
    expect(a, "GET", "/wasi/default/c", b"", (200, "abcd")).await;
    expect(
        a,
        "POST",
        "/wasi-batch/default",
        b"b1=one\nb2=two",
        (200, r#"[["b1","one"],["b2","two"],["missing",null]]"#),
    )
    .await;
    expect(a, "GET", "/wasi/default/b1", b"", (404, "None")).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn counter_bytes_are_little_endian() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    expect(
        up.addr,
        "POST",
        "/wasi-incr/default/n?delta=258",
        b"",
        (200, "258"),
    )
    .await;
    let reply = get(up.addr, "/kv/default/n").await?;
    assert_eq!(&reply.body[..], &258i64.to_le_bytes());
    Ok(())
}

/// 200 requests at once, each incrementing one counter; the total is exact
/// and compare-and-swap appends all survive (no "database is locked").
async fn concurrent_increments(addr: SocketAddr, store: &str) -> Result<()> {
    let mut tasks = Vec::new();
    for i in 0..200 {
        let target = if i % 2 == 0 {
            format!("/wasi-incr/{store}/counter?delta=1")
        } else {
            format!("/wasi-cas/{store}/appended")
        };
        tasks.push(tokio::spawn(async move {
            request(addr, "POST", &target, b"x").await
        }));
    }
    for task in tasks {
        let (status, text) = task.await??;
        assert_eq!(status, 200, "{text}");
    }
    let (_, text) = request(
        addr,
        "POST",
        &format!("/wasi-incr/{store}/counter?delta=0"),
        b"",
    )
    .await?;
    assert_eq!(text, "100", "counter after 100 concurrent increments");
    let (_, text) = request(addr, "GET", &format!("/wasi/{store}/appended"), b"").await?;
    assert_eq!(
        text,
        "x".repeat(100),
        "value after 100 concurrent CAS appends"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_increments_on_the_sqlite_store_are_exact() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    concurrent_increments(up.addr, "default").await
}

#[tokio::test(flavor = "multi_thread")]
async fn state_persists_across_a_restart_with_the_same_state_dir() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    expect(
        up.addr,
        "PUT",
        "/kv/default/kept",
        b"across restarts",
        (200, "stored"),
    )
    .await;
    expect(
        up.addr,
        "PUT",
        "/kv/other/kept",
        b"other too",
        (200, "stored"),
    )
    .await;
    let (status, _) = sql(up.addr, "v2", "default", "CREATE TABLE t (v)", json!([])).await;
    assert_eq!(status, 200);
    let (status, _) = sql(
        up.addr,
        "v2",
        "default",
        "INSERT INTO t VALUES ('row')",
        json!([]),
    )
    .await;
    assert_eq!(status, 200);
    drop(up);
    let up = start_state(dir.path(), &[])?;
    expect(
        up.addr,
        "GET",
        "/kv/default/kept",
        b"",
        (200, "across restarts"),
    )
    .await;
    expect(up.addr, "GET", "/kv/other/kept", b"", (200, "other too")).await;
    let (status, rows) = sql(up.addr, "v2", "default", "SELECT v FROM t", json!([])).await;
    assert_eq!((status, &rows["rows"]), (200, &json!([[{"text": "row"}]])));
    assert!(dir.path().join("state/sqlite_db.db").is_file());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_state_dir_is_dot_spin_beside_the_manifest() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = dir.path().join("app");
    std::fs::create_dir(&app)?;
    let manifest = std::fs::read_to_string(sample_app("state").join("spin.toml"))?
        .replace(
            "../target/",
            &format!("{}/images/target/", spinshim_tests::repo_root().display()),
        )
        .replace(
            "key_value_stores = [\"default\", \"other\"]",
            "key_value_stores = [\"default\"]",
        );
    std::fs::write(app.join("spin.toml"), manifest)?;
    let up = Up::start(&app.join("spin.toml"), &[], &[])?;
    expect(up.addr, "PUT", "/kv/default/k", b"v", (200, "stored")).await;
    assert!(app.join(".spin/sqlite_key_value.db").is_file());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_state_dir_keeps_everything_in_memory() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = runtime_config(dir.path(), "[key_value_store.other]\ntype = \"spin\"\n")?;
    let up = Up::start(
        &sample_app("state"),
        &[
            "--state-dir",
            "",
            "--runtime-config-file",
            &config,
            "--sqlite",
            "CREATE TABLE t (v)",
        ],
        &[],
    )?;
    expect(up.addr, "PUT", "/kv/default/k", b"memory", (200, "stored")).await;
    expect(up.addr, "GET", "/kv/default/k", b"", (200, "memory")).await;
    let (status, answer) = sql(
        up.addr,
        "v2",
        "default",
        "INSERT INTO t VALUES (1)",
        json!([]),
    )
    .await;
    assert_eq!(status, 200, "the seeded in-memory table is there: {answer}");
    let (_, answer) = sql(
        up.addr,
        "v2",
        "default",
        "SELECT count(*) FROM t",
        json!([]),
    )
    .await;
    assert_eq!(
        answer["rows"],
        json!([[{"integer": 1}]]),
        "and kept between requests"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())?.collect();
    assert_eq!(
        files.len(),
        1,
        "nothing but the runtime config was written: {files:?}"
    );
    assert!(
        !sample_app("state").join(".spin").exists(),
        "no .spin beside the manifest"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_and_sqlite_seeds_are_written_before_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let seed_file = dir.path().join("seed.sql");
    std::fs::write(
        &seed_file,
        "INSERT INTO t VALUES (2); INSERT INTO t VALUES (3);",
    )?;
    let at_file = format!("@{}", seed_file.display());
    let up = start_state(
        dir.path(),
        &[
            "--key-value",
            "greeting=hello=world",
            "--sqlite",
            "CREATE TABLE t (n INTEGER)",
            "--sqlite",
            "INSERT INTO t VALUES (1)",
            "--sqlite",
            &at_file,
        ],
    )?;
    expect(
        up.addr,
        "GET",
        "/kv/default/greeting",
        b"",
        (200, "hello=world"),
    )
    .await;
    let (status, rows) = sql(
        up.addr,
        "v3",
        "default",
        "SELECT n FROM t ORDER BY n",
        json!([]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        rows["rows"],
        json!([[{"integer": 1}], [{"integer": 2}], [{"integer": 3}]])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_values_round_trip_in_both_interface_versions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let up = start_state(dir.path(), &[])?;
    let a = up.addr;
    let (status, _) = sql(
        a,
        "v2",
        "default",
        "CREATE TABLE v (i, r, t, b, n)",
        json!([]),
    )
    .await;
    assert_eq!(status, 200);
    let values = json!([
        {"integer": -9007199254740993i64},
        {"real": 2.5},
        {"text": "héllo"},
        {"blob": [0, 1, 254, 255]},
        null
    ]);
    for version in ["v2", "v3"] {
        let (status, answer) = sql(
            a,
            version,
            "default",
            "INSERT INTO v VALUES (?, ?, ?, ?, ?)",
            values.clone(),
        )
        .await;
        assert_eq!(status, 200, "{version}: {answer}");
        let (status, answer) = sql(
            a,
            version,
            "default",
            "SELECT i, r, t, b, n AS absent FROM v LIMIT 1",
            json!([]),
        )
        .await;
        assert_eq!(status, 200, "{version}: {answer}");
        assert_eq!(
            answer["columns"],
            json!(["i", "r", "t", "b", "absent"]),
            "{version}"
        );
        assert_eq!(answer["rows"], json!([values.clone()]), "{version}");
    }
    // spin:sqlite@3: last-insert-rowid and changes of this connection.
    let (_, answer) = sql(
        a,
        "v3",
        "default",
        "INSERT INTO v (i) VALUES (1), (2)",
        json!([]),
    )
    .await;
    assert_eq!(
        (&answer["last_insert_rowid"], &answer["changes"]),
        (&json!(4), &json!(2))
    );
    let (_, answer) = sql(a, "v3", "default", "UPDATE v SET i = 0", json!([])).await;
    assert_eq!(answer["changes"], json!(4));
    // Errors: SQLite's message in io(...); undeclared databases are denied.
    let (status, answer) = sql(a, "v2", "default", "SELEC 1", json!([])).await;
    assert_eq!(status, 500);
    assert_eq!(
        answer,
        json!("Error::Io(\"near \\\"SELEC\\\": syntax error in SELEC 1 at offset 0\")")
    );
    let (status, answer) = sql(
        a,
        "v3",
        "default",
        "INSERT INTO missing VALUES (1)",
        json!([]),
    )
    .await;
    assert_eq!(
        (status, answer),
        (500, json!("Error::Io(\"no such table: missing\")"))
    );
    let (status, answer) = sql(a, "v2", "undeclared", "SELECT 1", json!([])).await;
    assert_eq!((status, answer), (500, json!("Error::AccessDenied")));
    let (status, answer) = sql(a, "v3", "undeclared", "SELECT 1", json!([])).await;
    assert_eq!((status, answer), (500, json!("Error::AccessDenied")));
    // Attaching a file is refused unless the runtime config allows it.
    let attach = format!(
        "ATTACH DATABASE '{}' AS x",
        dir.path().join("x.db").display()
    );
    let (status, answer) = sql(a, "v2", "default", &attach, json!([])).await;
    assert_eq!(
        (status, answer),
        (500, json!("Error::Io(\"not authorized\")"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn async_key_value_sqlite_and_variables_for_wasip3_guests() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let state_dir = dir.path().display().to_string();
    let up = Up::start(&sample_app("state-p3"), &["--state-dir", &state_dir], &[])?;
    let a = up.addr;
    expect(a, "GET", "/kv/default/k", b"", (404, "None")).await;
    expect(a, "PUT", "/kv/default/k", b"p3", (200, "stored")).await;
    expect(a, "PUT", "/kv/default/a", b"first", (200, "stored")).await;
    expect(a, "GET", "/kv/default/k", b"", (200, "p3")).await;
    expect(a, "GET", "/kv-exists/default/k", b"", (200, "true")).await;
    expect(a, "GET", "/kv-keys/default", b"", (200, "a\nk")).await;
    expect(a, "DELETE", "/kv/default/k", b"", (200, "deleted")).await;
    expect(a, "DELETE", "/kv/default/k", b"", (200, "deleted")).await;
    expect(a, "GET", "/kv-exists/default/k", b"", (200, "false")).await;
    expect(a, "GET", "/kv/other/k", b"", (500, "Error::AccessDenied")).await;
    // spin:sqlite@3.1.0: rows arrive as a stream.
    expect(
        a,
        "POST",
        "/sql/default",
        b"CREATE TABLE t (n, s)",
        (200, "[]\nlast_insert_rowid=0 changes=0"),
    )
    .await;
    expect(
        a,
        "POST",
        "/sql/default",
        b"INSERT INTO t VALUES (1, 'one'), (2, x'00ff')",
        (200, "[]\nlast_insert_rowid=2 changes=2"),
    )
    .await;
    expect(
        a,
        "POST",
        "/sql/default",
        b"SELECT n, s FROM t ORDER BY n",
        (200, "[\"n\",\"s\"]\n[{\"integer\":1},{\"text\":\"one\"}]\n[{\"integer\":2},{\"blob\":[0,255]}]\nlast_insert_rowid=0 changes=0"),
    )
    .await;
    let (status, text) = request(a, "POST", "/sql/default", b"SELECT * FROM missing").await?;
    assert_eq!(
        (status, text.as_str()),
        (500, "Error::Io(\"no such table: missing\")")
    );
    let (status, text) = request(a, "POST", "/sql/other", b"SELECT 1").await?;
    assert_eq!((status, text.as_str()), (500, "Error::AccessDenied"));
    // spin:variables@3.0.0.
    expect(a, "GET", "/var/message", b"", (200, "hello from p3")).await;
    let (status, text) = request(a, "GET", "/var/nope", b"").await?;
    assert_eq!(status, 500);
    assert!(text.starts_with("Error::Undefined("), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_store_serves_every_interface_and_survives_an_outage() -> Result<()> {
    let mut redis = RedisServer::start()?;
    let dir = tempfile::tempdir()?;
    let config = runtime_config(
        dir.path(),
        &format!(
            "[key_value_store.other]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )?;
    let state_dir = dir.path().join("state").display().to_string();
    let up = Up::start(
        &sample_app("state"),
        &["--runtime-config-file", &config, "--state-dir", &state_dir],
        &[],
    )?;
    let a = up.addr;
    expect(a, "PUT", "/kv/other/k", b"in redis", (200, "stored")).await;
    assert!(
        redis.command(&["GET", "k"])?.contains("in redis"),
        "the key is in Redis as given"
    );
    expect(a, "GET", "/kv/other/k", b"", (200, "in redis")).await;
    expect(a, "GET", "/kv-exists/other/k", b"", (200, "true")).await;
    expect(a, "GET", "/kv-keys/other", b"", (200, "k")).await;
    expect(a, "DELETE", "/kv/other/k", b"", (200, "deleted")).await;
    expect(a, "GET", "/kv/other/k", b"", (404, "None")).await;
    expect(a, "GET", "/wasi-list/other", b"", (200, "")).await;
    expect(
        a,
        "POST",
        "/wasi-batch/other",
        b"b1=one",
        (200, r#"[["b1","one"],["missing",null]]"#),
    )
    .await;
    concurrent_increments(a, "other").await?;

    // Down mid-run: the interface's error, the app keeps serving; back up:
    // the next request works.
    redis.stop();
    let (status, text) = request(a, "GET", "/kv/other/k", b"").await?;
    assert_eq!(status, 500, "{text}");
    assert!(
        text.starts_with("Error::Other(\"key-value store \\\"other\\\""),
        "{text}"
    );
    expect(a, "GET", "/kv/default/k", b"", (404, "None")).await;
    redis.restart()?;
    let mut answered = None;
    for _ in 0..50 {
        let reply = request(a, "PUT", "/kv/other/k", b"again").await?;
        if reply.0 == 200 {
            answered = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        answered.map(|r| r.0),
        Some(200),
        "the store works again after Redis is back"
    );
    expect(a, "GET", "/kv/other/k", b"", (200, "again")).await;
    Ok(())
}

#[test]
fn a_redis_store_that_is_down_stops_start_up_naming_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let config = runtime_config(
        dir.path(),
        &format!("[key_value_store.other]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n"),
    )?;
    let addr = format!("127.0.0.1:{}", free_port()).parse()?;
    let state_dir = dir.path().join("state").display().to_string();
    assert_start_fails(
        &sample_app("state"),
        addr,
        &["--runtime-config-file", &config, "--state-dir", &state_dir],
        &["key-value store \"other\"", &format!("127.0.0.1:{port}")],
    )?;
    Ok(())
}

#[test]
fn bad_state_configuration_stops_start_up_naming_what_is_wrong() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = sample_app("state");
    let addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    // A declared label no store defines.
    assert_start_fails(
        &app,
        addr(),
        &["--state-dir", &dir.path().join("s").display().to_string()],
        &["component \"state\"", "key_value_stores", "\"other\""],
    )?;
    let cases: &[(&str, &[&str])] = &[
        (
            "[key_value_store.other]\ntype = \"spin\"\npth = \"x.db\"\n",
            &["runtime-config.toml", "key_value_store.other", "unknown field \"pth\""],
        ),
        (
            "[key_value_store.other]\ntype = \"cosmos\"\n",
            &["key_value_store.other.type", "unknown variant \"cosmos\""],
        ),
        (
            "[key_value_stor.other]\ntype = \"spin\"\n",
            &["runtime-config.toml", "unknown field \"key_value_stor\""],
        ),
        (
            "[key_value_store.other]\ntype = \"spin\"\n[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://db\"\ntoken = \"t\"\n",
            &["SQLite database \"default\"", "libsql", "not supported"],
        ),
    ];
    let state_dir = dir.path().join("state").display().to_string();
    for (text, needles) in cases {
        let config = runtime_config(dir.path(), text)?;
        assert_start_fails(
            &app,
            addr(),
            &["--runtime-config-file", &config, "--state-dir", &state_dir],
            needles,
        )?;
    }
    // --sqlite @FILE:LABEL for a database nothing defines.
    let seed = dir.path().join("seed.sql");
    std::fs::write(&seed, "SELECT 1")?;
    let config = runtime_config(dir.path(), OTHER_STORE)?;
    assert_start_fails(
        &app,
        addr(),
        &[
            "--runtime-config-file",
            &config,
            "--state-dir",
            &state_dir,
            "--sqlite",
            &format!("@{}:reports", seed.display()),
        ],
        &["--sqlite @", "\"reports\""],
    )?;
    // A default store file that is not a database.
    let state = dir.path().join("corrupt");
    std::fs::create_dir_all(&state)?;
    std::fs::write(state.join("sqlite_key_value.db"), vec![b'x'; 8192])?;
    let config = runtime_config(dir.path(), OTHER_STORE)?;
    assert_start_fails(
        &app,
        addr(),
        &[
            "--runtime-config-file",
            &config,
            "--state-dir",
            &state.display().to_string(),
        ],
        &[
            "key-value store \"default\"",
            "sqlite_key_value.db",
            "not a database",
        ],
    )?;
    Ok(())
}
