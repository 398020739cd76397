//! The non-HTTP triggers from `spinshim up`, against real servers the tests
//! start on 127.0.0.1: the Redis trigger (`fermyon:spin/inbound-redis` of
//! spin-sdk 5 and `spin:redis/inbound-redis@3.0.0` of spin-sdk 7, through
//! `images/redis-trigger` and `images/redis-trigger-p3`, and a Spin 1.x
//! module's `handle-redis-message`, `images/spin1`), the MQTT trigger
//! (`images/mqtt-trigger`), the command trigger (`images/command`), the
//! WAGI executor (`images/wagi`), and apps with several trigger types side
//! by side.
//!
//! Each guest records what it handled where the test reads it back: the
//! Redis guests `RPUSH` to a list, the MQTT guest publishes an answer. The
//! count in each record is how many messages its instance had handled, so
//! "1" everywhere means a fresh instance per message.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use spinshim_tests::assertions::{assert_start_fails, core_module, temp_app, wasm};
use spinshim_tests::mqtt::{publish, MqttBroker, Subscriber};
use spinshim_tests::redis::RedisServer;
use spinshim_tests::{free_port, get, run_to_exit, send, Req, Up};

/// An app with the three Redis guests on channel `{{ channel }}` of
/// `{{ redis_address }}` (each recording to its own list), and `hello` on
/// HTTP `/...`.
fn redis_app(redis_address: &str) -> String {
    let mut text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"redis-trigger-test\"\n\
         [variables]\nredis_address = {{ default = \"{redis_address}\" }}\n\
         channel = {{ default = \"messages\" }}\n\
         [application.trigger.redis]\naddress = \"{{{{ redis_address }}}}\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
         [component.hello]\nsource = \"{}\"\n",
        wasm("hello.wasm").display()
    );
    for (id, file) in [
        ("v1", core_module("spin1.wasm")),
        ("v2", wasm("redis_trigger.wasm")),
        ("v3", wasm("redis_trigger_p3.wasm")),
    ] {
        text.push_str(&format!(
            "[[trigger.redis]]\nchannel = \"{{{{ channel }}}}\"\ncomponent = \"{id}\"\n\
             [component.{id}]\nsource = \"{}\"\n\
             allowed_outbound_hosts = [\"{{{{ redis_address }}}}\"]\n\
             variables = {{ list = \"got-{id}\", redis_address = \"{{{{ redis_address }}}}\" }}\n",
            file.display()
        ));
    }
    text
}

/// The bulk strings of a RESP array reply (`LRANGE`'s).
fn resp_strings(reply: &str) -> Vec<String> {
    let mut lines = reply.split("\r\n");
    let mut strings = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with('$') {
            if let Some(value) = lines.next() {
                strings.push(value.to_string());
            }
        }
    }
    strings
}

/// Waits until list `key` holds `expected` (in any order: messages are
/// handled concurrently).
fn wait_for_list(server: &RedisServer, key: &str, expected: &[&str]) -> Result<()> {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    let start = Instant::now();
    loop {
        let mut got = resp_strings(&server.command(&["LRANGE", key, "0", "-1"])?);
        got.sort();
        if got == want {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(15) || got.len() > want.len() {
            bail!("list {key}: {got:?}, expected {want:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn publish_redis(server: &RedisServer, channel: &str, message: &str) -> Result<()> {
    let reply = server.command(&["PUBLISH", channel, message])?;
    // One pub/sub connection per server carries both components.
    anyhow::ensure!(reply.starts_with(":1"), "PUBLISH answered {reply:?}");
    Ok(())
}

fn start_redis_app(dir: &Path, args: &[&str]) -> Result<Up> {
    Up::start_until_line(dir, args, &[], "Subscribed to Redis at")
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_messages_reach_every_subscribed_component_beside_http() -> Result<()> {
    let server = RedisServer::start()?;
    let app = temp_app(&redis_app(&server.url()))?;
    let up = start_redis_app(app.path(), &[])?;
    assert!(
        up.output()
            .iter()
            .any(|line| line == &format!("Subscribed to Redis at {}: messages", server.url())),
        "{:?}",
        up.output()
    );
    for message in ["a", "b", "fail", "trap", "c"] {
        publish_redis(&server, "messages", message)?;
    }
    for list in ["got-v1", "got-v2", "got-v3"] {
        wait_for_list(&server, list, &["1:a", "1:b", "1:c"])?;
    }
    // A failing guest is logged with its component and the channel, and
    // the trigger goes on.
    for component in ["v1", "v2", "v3"] {
        let needle = format!(
            "redis trigger: component \"{component}\" failed on a message from channel \
             \"messages\" at {}",
            server.url()
        );
        let failures = up
            .output()
            .iter()
            .filter(|line| line.contains(&needle))
            .count();
        assert_eq!(
            failures,
            2,
            "fail and trap of {component}: {:?}",
            up.output()
        );
    }
    // The HTTP trigger serves beside it.
    let reply = get(up.addr, "/").await?;
    assert_eq!((reply.status, reply.text().trim()), (200, "Hello, Spin!"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_redis_trigger_survives_the_server_restarting() -> Result<()> {
    let mut server = RedisServer::start()?;
    let app = temp_app(&redis_app(&server.url()))?;
    let up = start_redis_app(app.path(), &[])?;
    publish_redis(&server, "messages", "before")?;
    wait_for_list(&server, "got-v2", &["1:before"])?;

    server.stop();
    let lost = up.wait_for_line(Duration::from_secs(20), |l| {
        l.contains("lost the connection")
    });
    assert!(lost.is_some(), "no loss logged: {:?}", up.output());
    // An outage of a few seconds is one line, not one per attempt.
    std::thread::sleep(Duration::from_secs(2));
    server.restart()?;
    let back = up.wait_for_line(Duration::from_secs(20), |l| l.contains("subscribed again"));
    assert!(back.is_some(), "no recovery logged: {:?}", up.output());
    let losses = up
        .output()
        .iter()
        .filter(|l| l.contains("lost the connection"))
        .count();
    assert_eq!(losses, 1, "{:?}", up.output());

    // The restarted server is empty: only the new message is there.
    publish_redis(&server, "messages", "after")?;
    wait_for_list(&server, "got-v2", &["1:after"])?;
    wait_for_list(&server, "got-v3", &["1:after"])?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_redis_trigger_settings_stop_start_up_naming_them() -> Result<()> {
    let addr = || format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // Nobody listens: start-up gives up after its bounded wait.
    let silent = format!("redis://127.0.0.1:{}", free_port());
    let app = temp_app(&redis_app(&silent))?;
    let exited = assert_start_fails(
        app.path(),
        addr(),
        &[],
        &["redis trigger: cannot subscribe at", &silent, "within 10s"],
    )?;
    assert_eq!(exited.error_lines().len(), 1, "{}", exited.describe());

    // No address anywhere.
    let no_address = redis_app("redis://x").replace(
        "[application.trigger.redis]\naddress = \"{{ redis_address }}\"\n",
        "",
    );
    let app = temp_app(&no_address)?;
    assert_start_fails(
        app.path(),
        addr(),
        &[],
        &[
            "trigger \"",
            "no Redis address",
            "[application.trigger.redis]",
        ],
    )?;

    // A component without a Redis export.
    let server = RedisServer::start()?;
    let wrong = redis_app(&server.url()).replacen(
        &wasm("redis_trigger.wasm").display().to_string(),
        &wasm("hello.wasm").display().to_string(),
        1,
    );
    let app = temp_app(&wrong)?;
    assert_start_fails(
        app.path(),
        addr(),
        &[],
        &[
            "component \"v2\" exports no Redis handler",
            "fermyon:spin/inbound-redis",
            "spin:redis/inbound-redis@3.0.0",
        ],
    )?;

    // A trigger type nobody serves: one line naming it and those served.
    let sqs = format!(
        "spin_manifest_version = 2\n[application]\nname = \"sqs\"\n\
         [[trigger.sqs]]\ncomponent = \"q\"\nqueue_url = \"https://example.com/q\"\n\
         [component.q]\nsource = \"{}\"\n",
        wasm("hello.wasm").display()
    );
    let app = temp_app(&sqs)?;
    assert_start_fails(
        app.path(),
        addr(),
        &[],
        &[
            "trigger type \"sqs\" is not supported",
            "supported: http, redis, command, mqtt",
        ],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn retaining_components_drops_the_triggers_of_the_others() -> Result<()> {
    // The Redis address never answers, so the app only starts if the
    // Redis triggers are gone with their components.
    let silent = format!("redis://127.0.0.1:{}", free_port());
    let app = temp_app(&redis_app(&silent))?;
    let up = Up::start(app.path(), &["-c", "hello"], &[])?;
    let reply = get(up.addr, "/").await?;
    assert_eq!(reply.status, 200);
    assert!(
        !up.output().iter().any(|l| l.contains("Redis")),
        "{:?}",
        up.output()
    );
    Ok(())
}

/// The command app: `images/command` as `job`, with `GREETING` in its
/// environment; with `http`, `hello` on `/...` beside it.
fn command_app(http: bool) -> String {
    let mut text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"command-test\"\n\
         [[trigger.command]]\ncomponent = \"job\"\n\
         [component.job]\nsource = \"{}\"\nenvironment = {{ GREETING = \"hi\" }}\n",
        wasm("command.wasm").display()
    );
    if http {
        text.push_str(&format!(
            "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n\
             [component.hello]\nsource = \"{}\"\n",
            wasm("hello.wasm").display()
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_gets_the_arguments_and_its_exit_code_is_the_processs() -> Result<()> {
    let app = temp_app(&command_app(false))?;
    let run = |args: &[&str]| {
        let addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut all = vec!["--"];
        all.extend_from_slice(args);
        run_to_exit(
            Up::command(app.path(), addr, &all, &[]),
            Duration::from_secs(60),
        )
    };
    let done = run(&["x", "y z"])?;
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    for line in [
        "[job] args: job x y z",
        "[job] env GREETING=hi",
        "[job] done",
    ] {
        assert!(
            done.stdout.iter().any(|l| l == line),
            "{line}: {}",
            done.describe()
        );
    }

    let exited = run(&["exit=7"])?;
    assert_eq!(exited.status.code(), Some(7), "{}", exited.describe());
    assert!(exited.error_lines().is_empty(), "{}", exited.describe());

    let failed = run(&["fail"])?;
    assert_eq!(failed.status.code(), Some(1), "{}", failed.describe());

    let trapped = run(&["trap"])?;
    assert_eq!(trapped.status.code(), Some(1), "{}", trapped.describe());
    assert!(
        trapped
            .error_lines()
            .iter()
            .any(|l| l.contains("component \"job\"")),
        "{}",
        trapped.describe()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn http_serves_while_a_command_runs_and_stops_when_it_ends() -> Result<()> {
    let app = temp_app(&command_app(true))?;
    let up = Up::start(app.path(), &["--", "sleep=1500", "exit=3"], &[])?;
    let reply = get(up.addr, "/").await?;
    assert_eq!((reply.status, reply.text().trim()), (200, "Hello, Spin!"));
    let mut up = up;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = up.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "still running after the command ended: {:?}",
            up.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3), "{:?}", up.output());
    Ok(())
}

/// An app with `images/mqtt-trigger` on `in/+` at `broker`, answering on
/// `out`.
fn mqtt_app(broker: &MqttBroker) -> String {
    let address = format!("mqtt://127.0.0.1:{}", broker.port);
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"mqtt-trigger-test\"\n\
         [variables]\nbroker = {{ default = \"{address}\" }}\ntopic = {{ default = \"in/+\" }}\n\
         [application.trigger.mqtt]\naddress = \"{{{{ broker }}}}\"\n\
         username = \"\"\npassword = \"\"\nkeep_alive_interval = \"30\"\n\
         [[trigger.mqtt]]\nid = \"answer\"\ncomponent = \"m\"\ntopic = \"{{{{ topic }}}}\"\nqos = \"1\"\n\
         [component.m]\nsource = \"{}\"\nallowed_outbound_hosts = [\"{address}\"]\n\
         variables = {{ reply_address = \"{}\", reply_topic = \"out\" }}\n",
        wasm("mqtt_trigger.wasm").display(),
        broker.url("answering-guest"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_messages_reach_the_component_and_survive_a_broker_restart() -> Result<()> {
    let mut broker = MqttBroker::start()?;
    let app = temp_app(&mqtt_app(&broker))?;
    let up = Up::start_until_line(app.path(), &[], &[], "Subscribed to MQTT at")?;
    let mut answers = Subscriber::new(&broker, "out", None).await?;
    // Every instance answers with the one client id of `reply_address`, and
    // a broker drops a session whose id a second connection takes: so one
    // answered message at a time ("fail" answers nothing).
    let mut got = Vec::new();
    for (topic, message) in [("in/a", "one"), ("in/b", "fail"), ("in/b", "two")] {
        publish(&broker, topic, message.as_bytes()).await?;
        if message == "fail" {
            continue;
        }
        if let Some(answer) = answers.next(Duration::from_secs(10)).await {
            got.push(String::from_utf8_lossy(&answer.payload).into_owned());
        }
    }
    got.sort();
    assert_eq!(got, ["1:in/a:one", "1:in/b:two"], "{:?}", up.output());
    let failure = format!(
        "mqtt trigger: component \"m\" failed on a message from mqtt://127.0.0.1:{} \
         (trigger \"answer\", topic \"in/+\")",
        broker.port
    );
    assert!(
        up.wait_for_line(Duration::from_secs(5), |l| l.contains(&failure))
            .is_some(),
        "{failure}: {:?}",
        up.output()
    );

    broker.restart()?;
    let back = up.wait_for_line(Duration::from_secs(20), |l| l.contains("subscribed again"));
    assert!(back.is_some(), "no recovery logged: {:?}", up.output());
    let mut answers = Subscriber::new(&broker, "out", None).await?;
    publish(&broker, "in/c", b"three").await?;
    let answer = answers.next(Duration::from_secs(10)).await;
    assert_eq!(
        answer.map(|a| String::from_utf8_lossy(&a.payload).into_owned()),
        Some("1:in/c:three".to_string()),
        "{:?}",
        up.output()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wagi_component_gets_cgi_variables_and_answers_with_its_headers() -> Result<()> {
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"wagi-test\"\n\
         [[trigger.http]]\nroute = \"/cgi/...\"\ncomponent = \"wagi\"\n\
         executor = {{ type = \"wagi\" }}\n\
         [component.wagi]\nsource = \"{}\"\nenvironment = {{ GREETING = \"hi\" }}\n",
        wasm("wagi.wasm").display()
    );
    let app = temp_app(&manifest)?;
    let up = Up::start(app.path(), &[], &[])?;
    let reply = send(
        up.addr,
        Req {
            method: "POST",
            target: "/cgi/a%20b?x=1&y=2",
            headers: &[
                ("content-type", "text/plain"),
                ("x-custom", "custom value"),
                ("authorization", "Bearer secret"),
            ],
            body: b"the body",
        },
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    let text = reply.text();
    let port = up.addr.port();
    for line in [
        "REQUEST_METHOD=POST".to_string(),
        "SCRIPT_NAME=/cgi".into(),
        "PATH_INFO=/a b".into(),
        "X_RAW_PATH_INFO=/a%20b".into(),
        "QUERY_STRING=x=1&y=2".into(),
        "CONTENT_LENGTH=8".into(),
        "CONTENT_TYPE=text/plain".into(),
        "SERVER_NAME=127.0.0.1".into(),
        format!("SERVER_PORT={port}"),
        "SERVER_PROTOCOL=HTTP/1.1".into(),
        "SERVER_SOFTWARE=WAGI/1".into(),
        "GATEWAY_INTERFACE=CGI/1.1".into(),
        "REMOTE_ADDR=127.0.0.1".into(),
        "HTTP_X_CUSTOM=custom value".into(),
        format!("X_FULL_URL=http://127.0.0.1:{port}/cgi/a%20b?x=1&y=2"),
        "X_COMPONENT_ROUTE=/cgi".into(),
        "GREETING=hi".into(),
        "args=/cgi/a%20b x=1 y=2".into(),
        "body=the body".into(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    assert!(!text.contains("HTTP_AUTHORIZATION"), "{text}");

    let teapot = get(up.addr, "/cgi?status").await?;
    assert_eq!((teapot.status, teapot.text().as_str()), (418, "teapot"));
    assert_eq!(teapot.header("x-wagi"), Some("yes"));
    let redirect = get(up.addr, "/cgi?redirect").await?;
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (302, Some("/elsewhere"))
    );
    for broken in ["/cgi?nothing", "/cgi?fail"] {
        let reply = get(up.addr, broken).await?;
        assert_eq!(reply.status, 500, "{broken}");
    }
    let logged = up.wait_for_line(Duration::from_secs(5), |l| {
        l.contains("wrote nothing to stdout")
    });
    assert!(logged.is_some(), "{:?}", up.output());
    Ok(())
}

/// WASI preview1 core modules (the same fixtures built for wasm32-wasip1)
/// are made components at load: a command keeps its arguments and exit
/// code, a WAGI handler its CGI answer.
#[tokio::test(flavor = "multi_thread")]
async fn core_modules_run_as_commands_and_wagi_handlers() -> Result<()> {
    let command = command_app(false).replace(
        &wasm("command.wasm").display().to_string(),
        &core_module("command.wasm").display().to_string(),
    );
    let app = temp_app(&command)?;
    let addr = format!("127.0.0.1:{}", free_port()).parse()?;
    let cmd = Up::command(app.path(), addr, &["--", "a", "exit=5"], &[]);
    let exited = run_to_exit(cmd, Duration::from_secs(60))?;
    assert_eq!(exited.status.code(), Some(5), "{}", exited.describe());
    assert!(
        exited
            .stdout
            .iter()
            .any(|l| l == "[job] args: job a exit=5"),
        "{}",
        exited.describe()
    );

    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"wagi-module\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"wagi\"\n\
         executor = {{ type = \"wagi\" }}\n\
         [component.wagi]\nsource = \"{}\"\n",
        core_module("wagi.wasm").display()
    );
    let app = temp_app(&manifest)?;
    let up = Up::start(app.path(), &[], &[])?;
    let teapot = get(up.addr, "/?status").await?;
    assert_eq!((teapot.status, teapot.text().as_str()), (418, "teapot"));
    let plain = get(up.addr, "/x?q=1").await?;
    assert_eq!(plain.status, 200);
    assert!(
        plain.text().lines().any(|l| l == "QUERY_STRING=q=1"),
        "{}",
        plain.text()
    );
    Ok(())
}
