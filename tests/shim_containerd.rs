//! containerd-shim-spin-v2 under a real containerd (1.7 and 2.x) with a
//! real registry: what a user sees after `spinshim push`, `ctr images pull`
//! and `ctr run --runtime io.containerd.spin.v2`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;
use spinshim_tests::assertions::{core_module, wasm};
use spinshim_tests::oci_layout::{fs_layer, OciImage};
use spinshim_tests::rig::{Containerd, Rig};
use spinshim_tests::task::{pull, push_app, push_app_with, shim_processes_for, Task};
use spinshim_tests::{get, sample_app};

/// First starts compile every component: allow for a slow machine.
const START_LIMIT: Duration = Duration::from_secs(60);

/// `ctr images import` of an OCI layout tarball.
fn import(rig: &Rig, which: Containerd, tar: &Path) {
    let args: [&std::ffi::OsStr; 3] = ["images".as_ref(), "import".as_ref(), tar.as_os_str()];
    rig.ctr_ok(which, args);
}

/// An app of three sample components: routing/echo, files, variables.
fn combined_app() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let static_app = sample_app("static");
    copy_tree(&static_app.join("assets"), &dir.path().join("assets"))?;
    copy_tree(&static_app.join("data"), &dir.path().join("data"))?;
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "shim-e2e"
version = "1.2.3"

[variables]
greeting = {{ default = "Hello" }}
name = {{ required = true }}
punctuation = {{ default = "!" }}

[[trigger.http]]
route = "/echo/..."
component = "echo"

[[trigger.http]]
route = "/files/..."
component = "files"

[[trigger.http]]
route = "/..."
component = "greet"

[component.echo]
source = "{echo}"
environment = {{ COMPONENT = "echo" }}

[component.files]
source = "{files}"
files = ["assets/index.html", "assets/css/*.css", {{ source = "data", destination = "/data" }}]
exclude_files = ["assets/css/skip.css"]

[component.greet]
source = "{greet}"

[component.greet.variables]
message = "{{{{ greeting }}}}, {{{{ name }}}}{{{{ punctuation }}}}"
"#,
        echo = wasm("routes_echo.wasm").display(),
        files = wasm("static_files.wasm").display(),
        greet = wasm("variables.wasm").display(),
    );
    std::fs::write(dir.path().join("spin.toml"), manifest)?;
    Ok(dir)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn pushed_app_serves_routes_files_and_env_variables(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let app = combined_app()?;
    let image = push_app(
        rig,
        app.path(),
        &format!("e2e/{}:v1", rig.unique_id("combined")),
    )?;
    pull(rig, which, &image);
    let mut task = Task::start(
        rig,
        which,
        &image,
        &[("NAME", "Kube"), ("SPIN_VARIABLE_PUNCTUATION", "?")],
    )?;
    task.wait_ready(rig, START_LIMIT)?;

    // Routing and the exact spin-* header set.
    let reply = get(task.addr, "/echo/a/b?x=1").await?;
    assert_eq!(reply.status, 200, "GET /echo/a/b: {reply:?}");
    let json = reply.json();
    assert_eq!(json["component"], "echo");
    let mut headers: BTreeMap<String, Value> = json["headers"]
        .as_object()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let client = headers.remove("spin-client-addr");
    assert!(
        matches!(&client, Some(Value::String(a)) if a.starts_with("127.0.0.1:")),
        "spin-client-addr {client:?}"
    );
    let expected: BTreeMap<String, Value> = [
        (
            "spin-full-url",
            format!("http://{}/echo/a/b?x=1", task.addr),
        ),
        ("spin-path-info", "/a/b".to_string()),
        ("spin-matched-route", "/echo/...".to_string()),
        ("spin-raw-component-route", "/echo/...".to_string()),
        ("spin-component-route", "/echo".to_string()),
        ("spin-base-path", "/".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Value::String(v)))
    .collect();
    assert_eq!(headers, expected, "spin-* headers ({which})");

    // Files from the artifact's data layers, at the paths the guest expects.
    let static_app = sample_app("static");
    for (target, file) in [
        ("/files/assets/index.html", "assets/index.html"),
        ("/files/assets/css/site.css", "assets/css/site.css"),
        ("/files/data/sub/b.txt", "data/sub/b.txt"),
    ] {
        let reply = get(task.addr, target).await?;
        assert_eq!(reply.status, 200, "GET {target}: {:?}", reply.text());
        assert_eq!(
            reply.body.as_ref(),
            std::fs::read(static_app.join(file))?,
            "GET {target}"
        );
    }
    let skipped = get(task.addr, "/files/assets/css/skip.css").await?;
    assert_eq!(skipped.status, 404, "excluded file: {:?}", skipped.text());

    // Variables from the container's env: `NAME` for `name`, and the
    // SPIN_VARIABLE_ form.
    let reply = get(task.addr, "/").await?;
    assert_eq!((reply.status, reply.text().as_str()), (200, "Hello, Kube?"));

    // The route listing reaches the container's output.
    task.kill(rig, "SIGTERM");
    let status = task.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let output = task.output().join("\n");
    assert!(
        output.contains(&format!("Serving http://{}", task.addr))
            && output.contains(&format!("echo: http://{}/echo (wildcard)", task.addr)),
        "container output:\n{output}"
    );

    // The same image keeping only `echo`: its routes stay, the others go.
    let mut task = Task::start(
        rig,
        which,
        &image,
        &[("SPIN_COMPONENTS_TO_RETAIN", "echo"), ("NAME", "unused")],
    )?;
    task.wait_ready(rig, START_LIMIT)?;
    assert_eq!(
        get(task.addr, "/echo/x").await?.status,
        200,
        "retained echo"
    );
    assert_eq!(get(task.addr, "/").await?.status, 404, "dropped greet");
    assert_eq!(
        get(task.addr, "/files/data/a.txt").await?.status,
        404,
        "dropped files"
    );
    drop(task);

    // A memory cap below the guests' initial memory stops start-up, naming
    // the component.
    let (status, output) = Task::run_to_exit(
        rig,
        which,
        &image,
        &[("SPIN_MAX_INSTANCE_MEMORY", "65536"), ("NAME", "x")],
        START_LIMIT,
    )?;
    let errors = error_lines(&output);
    assert!(
        !status.success()
            && errors.len() == 1
            && errors[0].contains("component \"echo\"")
            && errors[0].contains("memory"),
        "a 64 KiB memory cap: {status}\n{}",
        output.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_pushed_app_serves_routes_files_and_env_variables() -> Result<()> {
    pushed_app_serves_routes_files_and_env_variables(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_pushed_app_serves_routes_files_and_env_variables() -> Result<()> {
    pushed_app_serves_routes_files_and_env_variables(Containerd::V2).await
}

/// `runwasi.io/precompiled/spin/...` labels in `ctr content ls` output.
fn precompile_labels(rig: &Rig, which: Containerd) -> Vec<String> {
    let listing = rig.ctr_ok(which, ["content", "ls"]);
    let mut labels: Vec<String> = listing
        .split([' ', '\t', '\n', ','])
        .filter(|word| word.starts_with("runwasi.io/precompiled/spin/"))
        .map(str::to_string)
        .collect();
    labels.sort();
    labels
}

fn precompile_events(rig: &Rig, which: Containerd, image: &str) -> usize {
    let log = std::fs::read_to_string(rig.containerd(which).log()).unwrap_or_default();
    let needle = format!("precompiling layers for image: {image}");
    log.lines().filter(|line| line.contains(&needle)).count()
}

/// Two images of the same app (same layers, different manifests): each is
/// compiled for at most once, however often it starts, including the second
/// image whose layers the first one's start already compiled.
#[tokio::test(flavor = "multi_thread")]
async fn later_starts_use_the_precompiled_layers() -> Result<()> {
    let rig = Rig::get();
    let which = Containerd::V1_7;
    for image_number in 1..=2 {
        let image = push_app(
            rig,
            &sample_app("hello"),
            &format!("e2e/{}:v{image_number}", rig.unique_id("aot")),
        )?;
        pull(rig, which, &image);
        assert_eq!(precompile_events(rig, which, &image), 0);
        for start in 1..=2 {
            let what = format!("image {image_number}, start {start}");
            let mut task = Task::start(rig, which, &image, &[])?;
            task.wait_ready(rig, START_LIMIT)?;
            let reply = get(task.addr, "/").await?;
            assert_eq!(
                (reply.status, reply.text().as_str()),
                (200, "Hello, Spin!\n"),
                "{what}"
            );
            task.kill(rig, "SIGTERM");
            assert!(task.wait_exit(Duration::from_secs(20))?.success(), "{what}");
            // runwasi calls our compiler only while the image lacks the
            // label for our cache key: on its first start. (The rig runs
            // the shim at log level info, where runwasi reports each call.)
            assert_eq!(
                precompile_events(rig, which, &image),
                1,
                "compiler calls after {what} (0 means the rig's shims do not log at info: \
                 start it with RIG_RUST_LOG=info, as `make test` does)\n{}",
                rig.log_tail(which, 30)
            );
        }
    }
    let labels = precompile_labels(rig, which);
    assert!(
        labels.iter().any(|l| l.ends_with("=true"))
            && labels.iter().any(|l| l.contains("/original=sha256:")),
        "precompile labels in the content store: {labels:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_image_with_spin_toml_serves() -> Result<()> {
    let rig = Rig::get();
    let which = Containerd::V1_7;
    let hello = std::fs::read(wasm("hello.wasm"))?;
    let manifest = br#"spin_manifest_version = 2
[application]
name = "plain"
[[trigger.http]]
route = "/..."
component = "hello"
[component.hello]
source = "app/hello.wasm"
"#;
    let layer = fs_layer(&[
        ("spin.toml", manifest, 0o644),
        ("app/hello.wasm", &hello, 0o644),
    ])?;
    let name = format!("docker.io/spinshim-e2e/{}:v1", rig.unique_id("plain"));
    let tar = tempfile::NamedTempFile::new()?;
    OciImage::plain(&name, &["/"], vec![layer]).write_layout_tar(tar.path())?;
    import(rig, which, tar.path());
    let mut task = Task::start(rig, which, &name, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    let reply = get(task.addr, "/anything").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello, Spin!\n")
    );
    Ok(())
}

async fn sigterm_lets_a_slow_request_finish(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let image = push_app(
        rig,
        &sample_app("routes"),
        &format!("e2e/{}:v1", rig.unique_id("drain")),
    )?;
    pull(rig, which, &image);
    let mut task = Task::start(rig, which, &image, &[("SPIN_SHUTDOWN_TIMEOUT", "5")])?;
    task.wait_ready(rig, START_LIMIT)?;
    let addr = task.addr;
    let slow = tokio::spawn(async move { get(addr, "/exact?sleep=1500").await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let killed_at = Instant::now();
    task.kill(rig, "SIGTERM");
    let reply = slow.await??;
    assert_eq!(reply.status, 200, "the in-flight request: {reply:?}");
    assert_eq!(reply.json()["component"], "exact");
    let status = task.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // Bounded by SPIN_SHUTDOWN_TIMEOUT (5 s), with slack for ctr itself.
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "the task took {:?} to exit",
        killed_at.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !shim_processes_for(&task.id).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        shim_processes_for(&task.id),
        Vec::<u32>::new(),
        "shims left for {}",
        task.id
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_sigterm_lets_a_slow_request_finish_and_exits_0() -> Result<()> {
    sigterm_lets_a_slow_request_finish(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_sigterm_lets_a_slow_request_finish_and_exits_0() -> Result<()> {
    sigterm_lets_a_slow_request_finish(Containerd::V2).await
}

/// A WASIp3 app with key-value, SQLite and variables run as a pod: its
/// state lives in the container's `/.spin` (the default state dir).
async fn a_state_app_keeps_key_value_and_sqlite_state(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let image = push_app(
        rig,
        &sample_app("state-p3"),
        &format!("e2e/{}:v1", rig.unique_id("state")),
    )?;
    pull(rig, which, &image);
    let mut task = Task::start(rig, which, &image, &[("GREETING", "from the pod")])?;
    task.wait_ready(rig, START_LIMIT)?;
    let send = |method: &'static str, target: &'static str, body: &'static [u8]| {
        spinshim_tests::send(
            task.addr,
            spinshim_tests::Req {
                method,
                target,
                headers: &[],
                body,
            },
        )
    };
    let put = send("PUT", "/kv/default/k", b"in a pod").await?;
    assert_eq!((put.status, put.text().as_str()), (200, "stored"));
    let reply = get(task.addr, "/kv/default/k").await?;
    assert_eq!((reply.status, reply.text().as_str()), (200, "in a pod"));
    let reply = get(task.addr, "/kv/other/k").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "Error::AccessDenied")
    );
    for (statement, answer) in [
        (
            &b"CREATE TABLE t (v)"[..],
            "[]\nlast_insert_rowid=0 changes=0",
        ),
        (
            b"INSERT INTO t VALUES ('row')",
            "[]\nlast_insert_rowid=1 changes=1",
        ),
        (
            b"SELECT v FROM t",
            "[\"v\"]\n[{\"text\":\"row\"}]\nlast_insert_rowid=0 changes=0",
        ),
    ] {
        let reply = send("POST", "/sql/default", statement).await?;
        assert_eq!((reply.status, reply.text().as_str()), (200, answer));
    }
    let reply = get(task.addr, "/var/message").await?;
    assert_eq!((reply.status, reply.text().as_str()), (200, "from the pod"));
    task.kill(rig, "SIGTERM");
    let status = task.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_a_state_app_keeps_key_value_and_sqlite_state() -> Result<()> {
    a_state_app_keeps_key_value_and_sqlite_state(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_a_state_app_keeps_key_value_and_sqlite_state() -> Result<()> {
    a_state_app_keeps_key_value_and_sqlite_state(Containerd::V2).await
}

/// The lines of a failed start that are ours: `Error: ...`.
fn error_lines(output: &[String]) -> Vec<&String> {
    output.iter().filter(|l| l.starts_with("Error: ")).collect()
}

async fn start_up_failures_are_one_line_and_non_zero(which: Containerd) -> Result<()> {
    let rig = Rig::get();

    // A lock layer that is not JSON.
    let hello = std::fs::read(wasm("hello.wasm"))?;
    let bad_lock = b"{ this is not a lock".to_vec();
    let bad_lock_digest = spinshim_tests::oci_layout::digest(&bad_lock);
    let name = format!("docker.io/spinshim-e2e/{}:v1", rig.unique_id("badlock"));
    let tar = tempfile::NamedTempFile::new()?;
    OciImage::wasm(
        &name,
        vec![
            (spinshim_oci::media_types::LOCKED_APP, bad_lock),
            (spinshim_oci::media_types::WASM_LAYER, hello),
        ],
    )
    .write_layout_tar(tar.path())?;
    import(rig, which, tar.path());
    let (status, output) = Task::run_to_exit(rig, which, &name, &[], START_LIMIT)?;
    assert!(!status.success(), "corrupt lock: exit {status}");
    let errors = error_lines(&output);
    assert!(
        errors.len() == 1 && errors[0].contains(&bad_lock_digest),
        "corrupt lock: want one Error: line naming layer {bad_lock_digest}, output:\n{}",
        output.join("\n")
    );

    // An address another process holds (the test binds it, then hands
    // the same address to the app).
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    let taken = holder.local_addr()?.to_string();
    let hello = push_app(
        rig,
        &sample_app("hello"),
        &format!("e2e/{}:v1", rig.unique_id("busy")),
    )?;
    pull(rig, which, &hello);
    let (status, output) = Task::run_to_exit(
        rig,
        which,
        &hello,
        &[("SPIN_HTTP_LISTEN_ADDR", &taken)],
        START_LIMIT,
    )?;
    let errors = error_lines(&output);
    assert!(
        !status.success() && errors.len() == 1 && errors[0].contains(&taken),
        "address in use: want one Error: line naming {taken}, got {status}:\n{}",
        output.join("\n")
    );
    drop(holder);

    // A required variable nobody set.
    let image = push_app(
        rig,
        &sample_app("variables"),
        &format!("e2e/{}:v1", rig.unique_id("vars")),
    )?;
    pull(rig, which, &image);
    let (status, output) = Task::run_to_exit(rig, which, &image, &[], START_LIMIT)?;
    assert!(!status.success(), "missing variable: exit {status}");
    let errors = error_lines(&output);
    assert!(
        errors.len() == 1
            && errors[0].contains("\"name\"")
            && errors[0].contains("SPIN_VARIABLE_NAME"),
        "missing variable: want one Error: line naming `name`, output:\n{}",
        output.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_start_up_failures_are_one_line_and_non_zero() -> Result<()> {
    start_up_failures_are_one_line_and_non_zero(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_start_up_failures_are_one_line_and_non_zero() -> Result<()> {
    start_up_failures_are_one_line_and_non_zero(Containerd::V2).await
}

/// The content-store digest of one blob runwasi stored as this shim's
/// precompiled output (its labels name the original layer), starting a
/// pod of `images/hello` first if there is none yet.
async fn a_precompiled_blob(rig: &Rig, which: Containerd) -> Result<String> {
    let find = || {
        rig.ctr_ok(which, ["content", "ls"])
            .lines()
            .find(|line| {
                line.contains("runwasi.io/precompiled/spin/") && line.contains("/original=")
            })
            .and_then(|line| line.split_whitespace().next())
            .map(str::to_owned)
    };
    if let Some(digest) = find() {
        return Ok(digest);
    }
    let image = push_app(
        rig,
        &sample_app("hello"),
        &format!("e2e/{}:v1", rig.unique_id("aotsrc")),
    )?;
    pull(rig, which, &image);
    let mut task = Task::start(rig, which, &image, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    task.kill(rig, "SIGTERM");
    task.wait_exit(Duration::from_secs(20))?;
    find().ok_or_else(|| anyhow::anyhow!("no precompiled blob in the content store after a start"))
}

/// Native code this shim compiled, shipped back inside an image as the
/// component's Wasm layer: the shim refuses to load it (only content runwasi
/// stored under the shim's own precompile label is taken as native code),
/// and the pod fails with one line saying so.
async fn a_precompiled_blob_shipped_in_an_image_is_refused(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let digest = a_precompiled_blob(rig, which).await?;
    let native = rig
        .ctr_command(which)
        .args(["content", "get", &digest])
        .output()?
        .stdout;
    assert!(
        native.starts_with(b"\x7fELF"),
        "{digest} is not native code"
    );
    let lock = serde_json::json!({
        "spin_lock_version": 1,
        "metadata": {"name": "native", "triggers": {"http": {}}},
        "triggers": [{"id": "t", "trigger_type": "http",
                      "trigger_config": {"route": "/...", "component": "app"}}],
        "components": [{"id": "app", "source": {
            "content_type": "application/wasm",
            "digest": spinshim_tests::oci_layout::digest(&native)
        }}]
    });
    let name = format!("docker.io/spinshim-e2e/{}:v1", rig.unique_id("native"));
    let tar = tempfile::NamedTempFile::new()?;
    OciImage::wasm(
        &name,
        vec![
            (spinshim_oci::media_types::WASM_LAYER, native),
            (
                spinshim_oci::media_types::LOCKED_APP,
                serde_json::to_vec(&lock)?,
            ),
        ],
    )
    .write_layout_tar(tar.path())?;
    import(rig, which, tar.path());
    let (status, output) = Task::run_to_exit(rig, which, &name, &[], START_LIMIT)?;
    assert!(!status.success(), "native code in an image: exit {status}");
    let errors = error_lines(&output);
    assert!(
        errors.len() == 1 && errors[0].contains("native code this host did not compile"),
        "native code in an image: want one Error: line refusing it, output:\n{}",
        output.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_a_precompiled_blob_shipped_in_an_image_is_refused() -> Result<()> {
    a_precompiled_blob_shipped_in_an_image_is_refused(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_a_precompiled_blob_shipped_in_an_image_is_refused() -> Result<()> {
    a_precompiled_blob_shipped_in_an_image_is_refused(Containerd::V2).await
}

/// New images starting at the same moment on one node (replicas of a new
/// Deployment): each must get its app, although runwasi stores every
/// image's precompiled layers under the same lease name.
#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_first_starts_all_serve() -> Result<()> {
    let rig = Rig::get();
    let which = Containerd::V1_7;
    let images: Vec<String> = (0..4)
        .map(|i| {
            let image = push_app(
                rig,
                &sample_app("hello"),
                &format!("e2e/{}:v{i}", rig.unique_id("together")),
            )?;
            pull(rig, which, &image);
            Ok(image)
        })
        .collect::<Result<_>>()?;
    let mut tasks: Vec<Task> = images
        .iter()
        .map(|image| Task::start(rig, which, image, &[]))
        .collect::<Result<_>>()?;
    for task in &mut tasks {
        task.wait_ready(rig, START_LIMIT)?;
        let reply = get(task.addr, "/").await?;
        assert_eq!(
            (reply.status, reply.text().as_str()),
            (200, "Hello, Spin!\n")
        );
    }
    Ok(())
}

/// A plain image of one sample component (`wasm`, as component `app`)
/// allowed to reach `allowed`, with `extra` files (a runtime config, a CA)
/// in its root.
fn single_component_image(
    rig: &Rig,
    which: Containerd,
    wasm_file: &str,
    allowed: &[&str],
    extra: &[(&str, &[u8])],
) -> Result<String> {
    let code = std::fs::read(wasm(wasm_file))?;
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"app\"\n[[trigger.http]]\nroute = \"/...\"\n\
         component = \"app\"\n[component.app]\nsource = \"app/{wasm_file}\"\n\
         allowed_outbound_hosts = [{}]\n",
        allowed.join(", ")
    );
    let source = format!("app/{wasm_file}");
    let mut files: Vec<(&str, &[u8], u32)> = vec![
        ("spin.toml", manifest.as_bytes(), 0o644),
        (&source, &code, 0o644),
    ];
    files.extend(extra.iter().map(|(path, bytes)| (*path, *bytes, 0o644)));
    let layer = fs_layer(&files)?;
    let name = format!("docker.io/spinshim-e2e/{}:v1", rig.unique_id("single"));
    let tar = tempfile::NamedTempFile::new()?;
    OciImage::plain(&name, &["/"], vec![layer]).write_layout_tar(tar.path())?;
    import(rig, which, tar.path());
    Ok(name)
}

/// From a pod, HTTPS to the test's own TLS server: the built-in roots do
/// not trust its CA; `[[client_tls]]` in `/runtime-config.toml` naming the
/// CA file in the image does.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_trusts_a_private_ca_only_through_client_tls() -> Result<()> {
    use spinshim_tests::servers::{https_echo, TestCa};
    let rig = Rig::get();
    let which = Containerd::V2;
    let certs = tempfile::tempdir()?;
    let ca = TestCa::new(certs.path())?;
    let server = https_echo(&ca)?;
    let port = server.addr.port();
    let entry = format!("https://localhost:{port}");
    let target = format!("/http?url=https%3A%2F%2Flocalhost%3A{port}%2Fpod");

    let untrusting = single_component_image(rig, which, "outbound.wasm", &[&entry], &[])?;
    let mut task = Task::start(rig, which, &untrusting, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    let reply = get(task.addr, &target).await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (502, "ERR TlsCertificateError"),
        "built-in roots only"
    );
    task.kill(rig, "SIGTERM");
    task.wait_exit(Duration::from_secs(20))?;

    let ca_pem = std::fs::read(&ca.ca_file)?;
    let config = format!(
        "[[client_tls]]\ncomponent_ids = [\"app\"]\nhosts = [\"localhost:{port}\"]\nca_roots_file = \"certs/ca.pem\"\n"
    );
    let trusting = single_component_image(
        rig,
        which,
        "outbound.wasm",
        &[&entry],
        &[
            ("runtime-config.toml", config.as_bytes()),
            ("certs/ca.pem", &ca_pem),
        ],
    )?;
    let mut task = Task::start(rig, which, &trusting, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    let reply = get(task.addr, &target).await?;
    assert_eq!(reply.status, 200, "with client_tls: {}", reply.text());
    assert!(
        reply.text().starts_with("200\necho GET /pod HTTP/2.0"),
        "with client_tls: {}",
        reply.text()
    );
    Ok(())
}

/// A pod's guest uses Redis, MQTT and PostgreSQL servers the test runs on
/// the node (pods share the host network here): what it writes is in Redis
/// and PostgreSQL, what it publishes reaches a subscriber.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_reaches_redis_mqtt_postgres_and_mysql_servers() -> Result<()> {
    use spinshim_tests::mqtt::{MqttBroker, Subscriber};
    use spinshim_tests::mysql::MysqlServer;
    use spinshim_tests::postgres::PgServer;
    use spinshim_tests::redis::RedisServer;
    use spinshim_tests::{send, Req};
    let rig = Rig::get();
    let which = Containerd::V1_7;
    let redis = RedisServer::start()?;
    let broker = MqttBroker::start()?;
    let postgres = PgServer::start()?;
    postgres.psql("CREATE TABLE visits (who text)")?;
    let mysql = MysqlServer::start()?;
    mysql.sql("CREATE TABLE visits (who TEXT)")?;
    let mqtt_entry = format!("mqtt://127.0.0.1:{}", broker.port);
    let pg_entry = format!("postgres://127.0.0.1:{}", postgres.port);
    let mysql_entry = format!("mysql://127.0.0.1:{}", mysql.port);
    let allowed = [redis.url(), mqtt_entry, pg_entry, mysql_entry];
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let image = single_component_image(rig, which, "services.wasm", &allowed, &[])?;
    let mut task = Task::start(rig, which, &image, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    let addr = task.addr;
    let post = |target: String, body: &'static str| async move {
        let req = Req {
            method: "POST",
            target: &target,
            headers: &[],
            body: body.as_bytes(),
        };
        send(addr, req).await.map(|r| r.text())
    };
    let target = format!("/redis?addr=redis%3A%2F%2F127.0.0.1%3A{}", redis.port);
    let answer = post(target, "set pod:key from%20a%20pod\nincr pod:n").await?;
    assert_eq!(answer, "ok\n1");
    assert_eq!(redis.command(&["GET", "pod:key"])?, "$10\r\nfrom a pod\r\n");

    let mut subscriber = Subscriber::new(&broker, "pod/#", None).await?;
    let target = format!(
        "/mqtt?addr=mqtt%3A%2F%2F127.0.0.1%3A{}%3Fclient_id%3Dpod",
        broker.port
    );
    assert_eq!(post(target, "mqtt pod/hello 1 hi").await?, "ok");
    let message = subscriber.next(Duration::from_secs(10)).await;
    assert_eq!(message.map(|m| m.payload), Some(b"hi".to_vec()));

    let encoded = |url: String| -> String {
        url.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let target = format!("/pg4?addr={}", encoded(postgres.url()));
    let answer = post(
        target,
        "exec INSERT%20INTO%20visits%20VALUES%20($1) str:pod",
    )
    .await?;
    assert_eq!(answer, "1");
    assert_eq!(postgres.psql("SELECT who FROM visits")?, "pod");

    let target = format!("/mysql?addr={}", encoded(mysql.url()));
    let answer = post(target, "exec INSERT%20INTO%20visits%20VALUES%20(?) str:pod").await?;
    assert_eq!(answer, "()");
    assert_eq!(mysql.sql("SELECT who FROM visits")?, "pod");
    task.kill(rig, "SIGTERM");
    task.wait_exit(Duration::from_secs(20))?;
    Ok(())
}

/// An app directory with `components` (id, wasm path, trigger table
/// lines, component lines) copied in, ready for `spinshim push`.
fn app_dir(head: &str, components: &[(&str, &Path, &str, &str)]) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut manifest = format!("spin_manifest_version = 2\n[application]\nname = \"app\"\n{head}");
    for (id, wasm_path, trigger, extra) in components {
        let file = format!("{id}.wasm");
        std::fs::copy(wasm_path, dir.path().join(&file))?;
        manifest.push_str(&format!(
            "{trigger}\ncomponent = \"{id}\"\n[component.{id}]\nsource = \"{file}\"\n{extra}\n"
        ));
    }
    std::fs::write(dir.path().join("spin.toml"), manifest)?;
    Ok(dir)
}

/// A command app as a job, its code a WASI preview1 core module: the
/// container's args after the first are the guest's, its exit code is the
/// task's, and the component the module became is what the cache holds
/// (the second start compiles nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_command_job_gets_the_container_args_and_exits_with_its_code() -> Result<()> {
    let rig = Rig::get();
    let which = Containerd::V2;
    let module = core_module("command.wasm");
    let app = app_dir(
        "",
        &[(
            "job",
            &module,
            "[[trigger.command]]",
            "environment = { GREETING = \"pod\" }",
        )],
    )?;
    let image = push_app(rig, app.path(), &format!("{}:v1", rig.unique_id("command")))?;
    pull(rig, which, &image);
    for (args, code) in [(&["exit=7"][..], 7), (&["ok"][..], 0)] {
        let mut task = Task::start_with_args(rig, which, &image, &[], args)?;
        let status = task.wait_exit(START_LIMIT)?;
        let output = task.output();
        assert_eq!(status.code(), Some(code), "{args:?}: {output:?}");
        let line = format!("[job] args: job {}", args.join(" "));
        assert!(output.contains(&line), "{line}: {output:?}");
        assert!(
            output.contains(&"[job] env GREETING=pod".to_string()),
            "{output:?}"
        );
    }
    assert_eq!(
        precompile_events(rig, which, &image),
        1,
        "{}",
        rig.log_tail(which, 30)
    );
    Ok(())
}

/// A pod with Redis-triggered components (spin-sdk 5 and 7, and a Spin
/// 1.x core module, which the shim's compiler makes a component before it
/// precompiles) beside an HTTP one: messages published to a Redis server
/// reach all three, the Redis
/// address comes from the container env as a variable, and SIGTERM stops
/// the pod with exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_pod_runs_redis_triggered_components_beside_http() -> Result<()> {
    use spinshim_tests::redis::RedisServer;
    let rig = Rig::get();
    let which = Containerd::V1_7;
    let redis = RedisServer::start()?;
    let recording = |list: &str| {
        format!(
            "allowed_outbound_hosts = [\"{{{{ redis_address }}}}\"]\n\
             variables = {{ list = \"{list}\", redis_address = \"{{{{ redis_address }}}}\" }}"
        )
    };
    let app = app_dir(
        "[variables]\nredis_address = { required = true }\n\
         [application.trigger.redis]\naddress = \"{{ redis_address }}\"\n",
        &[
            (
                "hello",
                &wasm("hello.wasm"),
                "[[trigger.http]]\nroute = \"/...\"",
                "",
            ),
            (
                "v1",
                &core_module("spin1.wasm"),
                "[[trigger.redis]]\nchannel = \"pod\"",
                &recording("pod-v1"),
            ),
            (
                "v2",
                &wasm("redis_trigger.wasm"),
                "[[trigger.redis]]\nchannel = \"pod\"",
                &recording("pod-v2"),
            ),
            (
                "v3",
                &wasm("redis_trigger_p3.wasm"),
                "[[trigger.redis]]\nchannel = \"pod\"",
                &recording("pod-v3"),
            ),
        ],
    )?;
    let image = push_app(
        rig,
        app.path(),
        &format!("{}:v1", rig.unique_id("redis-trigger")),
    )?;
    pull(rig, which, &image);
    let mut task = Task::start(rig, which, &image, &[("REDIS_ADDRESS", &redis.url())])?;
    task.wait_ready(rig, START_LIMIT)?;
    let start = Instant::now();
    while !redis
        .command(&["PUBSUB", "NUMSUB", "pod"])?
        .ends_with(":1\r\n")
    {
        assert!(
            start.elapsed() < START_LIMIT,
            "no subscriber: {:?}",
            task.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for message in ["one", "two"] {
        assert!(redis
            .command(&["PUBLISH", "pod", message])?
            .starts_with(":1"));
    }
    for list in ["pod-v1", "pod-v2", "pod-v3"] {
        let start = Instant::now();
        loop {
            let reply = redis.command(&["LRANGE", list, "0", "-1"])?;
            if reply.contains("1:one") && reply.contains("1:two") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{list}: {reply:?}; {:?}",
                task.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let reply = get(task.addr, "/").await?;
    assert_eq!(reply.status, 200);
    task.kill(rig, "SIGTERM");
    let status = task.wait_exit(Duration::from_secs(20))?;
    assert!(status.success(), "{status}: {:?}", task.output());
    Ok(())
}

/// `spinshim push --compose=false` keeps the dependency a layer of its
/// own; the shim composes it at every start (the first, which precompiles
/// the other layers, and a later one from the cache).
#[tokio::test(flavor = "multi_thread")]
async fn an_app_pushed_uncomposed_is_composed_by_the_shim_at_start() -> Result<()> {
    let rig = Rig::get();
    let image = push_app_with(
        rig,
        &sample_app("composed"),
        &format!("{}:v1", rig.unique_id("uncomposed")),
        &["--compose=false"],
    )?;
    for which in [Containerd::V1_7, Containerd::V2] {
        pull(rig, which, &image);
        for start in 1..=2 {
            let what = format!("{which:?}, start {start}");
            let mut task = Task::start(rig, which, &image, &[])?;
            task.wait_ready(rig, START_LIMIT)?;
            let reply = get(task.addr, "/pod").await?;
            assert_eq!(
                (reply.status, reply.text().as_str()),
                (200, "hi there, pod (greeted by a dependency)"),
                "{what}: {:?}",
                task.output()
            );
            task.kill(rig, "SIGTERM");
            assert!(task.wait_exit(Duration::from_secs(20))?.success(), "{what}");
        }
    }
    Ok(())
}
