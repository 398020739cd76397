//! The faults a node meets, through the rig's containerds (1.7 and 2.x):
//! guests that will not stop, a killed shim, containerd restarted under
//! running pods, a registry that goes away or serves the wrong bytes during
//! a pull. Each case asserts what a user sees and that pods serve after it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use spinshim_tests::rig::{Containerd, Rig};
use spinshim_tests::task::{pull, push_app, shim_processes_for, Task, SPIN_RUNTIME};
use spinshim_tests::{free_port, get, repo_root, sample_app};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// First starts compile every component: allow for a slow machine.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A containerd restart takes its containerd away from every other test
/// of this binary: they hold this for reading, the restart for writing.
static CONTAINERD: RwLock<()> = RwLock::new(());

fn faults_image(rig: &Rig, which: Containerd, tag: &str) -> Result<String> {
    let image = push_app(
        rig,
        &sample_app("faults"),
        &format!("e2e/{}:v1", rig.unique_id(tag)),
    )?;
    pull(rig, which, &image);
    Ok(image)
}

async fn assert_task_serves(task: &Task, after: &str) -> Result<()> {
    let reply = get(task.addr, "/ok").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "ok"),
        "after {after}: {reply:?}"
    );
    Ok(())
}

/// Starts a request that keeps its guest busy and is never read.
fn occupy(addr: SocketAddr, target: &str) -> Result<std::net::TcpStream> {
    use std::io::Write as _;
    let mut client = std::net::TcpStream::connect(addr)?;
    write!(client, "GET {target} HTTP/1.1\r\nhost: x\r\n\r\n")?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(client)
}

/// What of container `id` is left on the node: shim processes, cgroup
/// directories, runwasi state.
fn leftovers(id: &str) -> Vec<String> {
    let mut found: Vec<String> = shim_processes_for(id)
        .iter()
        .map(|pid| format!("process {pid}"))
        .collect();
    let mut dirs = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == id {
                found.push(format!("cgroup {}", path.display()));
            } else if depth < 4 {
                dirs.push((path, depth + 1));
            }
        }
    }
    if let Ok(namespaces) = std::fs::read_dir("/run/containerd/spin") {
        for namespace in namespaces.flatten() {
            let state = namespace.path().join(id);
            if state.exists() {
                found.push(format!("state {}", state.display()));
            }
        }
    }
    found
}

fn assert_nothing_left(id: &str, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = leftovers(id);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        left = leftovers(id);
    }
    assert_eq!(left, Vec::<String>::new(), "left of {id} after {after}");
}

async fn sigterm_stops_a_spinning_guest_within_the_bound(which: Containerd) -> Result<()> {
    let _shared = CONTAINERD.read();
    let rig = Rig::get();
    let image = faults_image(rig, which, "spinning")?;
    let mut task = Task::start(rig, which, &image, &[("SPIN_SHUTDOWN_TIMEOUT", "2")])?;
    task.wait_ready(rig, START_LIMIT)?;
    let _busy = occupy(task.addr, "/loop")?;
    assert_task_serves(&task, "a spinning guest").await?;
    let killed_at = Instant::now();
    task.kill(rig, "SIGTERM");
    let status = task.wait_exit(Duration::from_secs(30))?;
    let took = killed_at.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        (Duration::from_millis(1800)..Duration::from_secs(8)).contains(&took),
        "a 2 s drain took {took:?} with a spinning guest"
    );
    assert_nothing_left(&task.id, "SIGTERM");

    // A second signal does not wait for the drain.
    let mut task = Task::start(rig, which, &image, &[("SPIN_SHUTDOWN_TIMEOUT", "60")])?;
    task.wait_ready(rig, START_LIMIT)?;
    let _busy = occupy(task.addr, "/loop")?;
    let killed_at = Instant::now();
    task.kill(rig, "SIGTERM");
    std::thread::sleep(Duration::from_millis(300));
    task.kill(rig, "SIGTERM");
    let status = task.wait_exit(Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(143), "after two SIGTERMs");
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "two SIGTERMs took {:?}",
        killed_at.elapsed()
    );
    assert_nothing_left(&task.id, "two SIGTERMs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_sigterm_stops_a_spinning_guest_within_the_bound() -> Result<()> {
    sigterm_stops_a_spinning_guest_within_the_bound(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_sigterm_stops_a_spinning_guest_within_the_bound() -> Result<()> {
    sigterm_stops_a_spinning_guest_within_the_bound(Containerd::V2).await
}

/// The shim process containerd started for `id` (the others are its
/// children).
fn main_shim(id: &str) -> Result<u32> {
    let shims = shim_processes_for(id);
    shims
        .iter()
        .copied()
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid: Option<u32> = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            ppid.is_some_and(|ppid| !shims.contains(&ppid))
        })
        .with_context(|| format!("no shim process for {id} among {shims:?}"))
}

async fn a_killed_shim_leaves_nothing_behind(which: Containerd) -> Result<()> {
    let _shared = CONTAINERD.read();
    let rig = Rig::get();
    let image = faults_image(rig, which, "sigkill")?;
    let mut task = Task::start(rig, which, &image, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    assert_task_serves(&task, "start").await?;
    let shim = main_shim(&task.id)?;
    // The socket the shim's task front moved runwasi's service to, beside
    // containerd's (whose address the shim keeps in its bundle, its cwd).
    let address = std::fs::read_to_string(format!("/proc/{shim}/cwd/address"))?;
    let containerds = PathBuf::from(address.trim().trim_start_matches("unix://"));
    let front = PathBuf::from(format!("{}.runwasi", containerds.display()));
    assert!(
        front.exists(),
        "no task front socket at {}",
        front.display()
    );
    std::process::Command::new("kill")
        .args(["-KILL", &shim.to_string()])
        .status()?;
    // containerd notices and runs the shim's `delete`, which must take the
    // container's process, cgroups, state and sockets with it.
    assert_nothing_left(&task.id, "SIGKILL of the shim");
    let deadline = Instant::now() + Duration::from_secs(5);
    for socket in [&containerds, &front] {
        while socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!socket.exists(), "{} left after SIGKILL", socket.display());
    }
    assert!(
        std::net::TcpStream::connect(task.addr).is_err(),
        "the app still serves on {} after its shim was killed",
        task.addr
    );
    let _ = task.wait_exit(Duration::from_secs(30));

    // The node runs the next pod as ever.
    let mut next = Task::start(rig, which, &image, &[])?;
    next.wait_ready(rig, START_LIMIT)?;
    assert_task_serves(&next, "a killed shim").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_a_killed_shim_leaves_nothing_behind() -> Result<()> {
    a_killed_shim_leaves_nothing_behind(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_a_killed_shim_leaves_nothing_behind() -> Result<()> {
    a_killed_shim_leaves_nothing_behind(Containerd::V2).await
}

/// A pod's guest sees its component's environment (none, for this app),
/// not the container's, and no file of the container or the node.
#[tokio::test(flavor = "multi_thread")]
async fn a_pods_guest_sees_neither_the_container_env_nor_any_file() -> Result<()> {
    let _shared = CONTAINERD.read();
    let rig = Rig::get();
    let which = Containerd::V2;
    let image = faults_image(rig, which, "sandbox")?;
    let mut task = Task::start(rig, which, &image, &[("NODE_SECRET", "node-only-value")])?;
    task.wait_ready(rig, START_LIMIT)?;
    let report = get(task.addr, "/env").await?.text();
    let env: Vec<&str> = report.lines().filter(|l| l.starts_with("env ")).collect();
    assert_eq!(
        env,
        Vec::<&str>::new(),
        "the guest's environment:\n{report}"
    );
    assert!(!report.contains("node-only-value"), "{report}");
    for path in ["/etc/hostname", "/proc/self/environ", "/.spin", "/"] {
        let reply = get(task.addr, &format!("/read?p={path}")).await?;
        assert_eq!(reply.status, 404, "the guest read {path}: {}", reply.text());
        let reply = get(task.addr, &format!("/list?p={path}")).await?;
        assert_eq!(
            reply.status,
            404,
            "the guest listed {path}: {}",
            reply.text()
        );
    }
    task.kill(rig, "SIGTERM");
    assert!(task.wait_exit(Duration::from_secs(20))?.success());
    Ok(())
}

async fn pods_serve_through_a_containerd_restart(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let image = {
        let _shared = CONTAINERD.read();
        faults_image(rig, which, "restart")?
    };
    let _alone = CONTAINERD.write();
    // Detached, as kubelet's containers are: a foreground `ctr run --rm`
    // would delete the container when its connection drops.
    let id = rig.unique_id("restart");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let listen = format!("SPIN_HTTP_LISTEN_ADDR={addr}");
    rig.ctr_ok(
        which,
        [
            "run",
            "-d",
            "--net-host",
            "--runtime",
            SPIN_RUNTIME,
            "--env",
            &listen,
            &image,
            &id,
            "/",
        ],
    );
    let serves = || async {
        let reply = get(addr, "/ok").await?;
        anyhow::ensure!(reply.status == 200, "{reply:?}");
        anyhow::Ok(())
    };
    let deadline = Instant::now() + START_LIMIT;
    while serves().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "{id} never served on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restart = std::process::Command::new(repo_root().join("scripts/rig.sh"))
        .args(["restart-containerd"])
        .arg(rig.dir())
        .arg(which.major().to_string())
        .output()?;
    assert!(
        restart.status.success(),
        "restarting {which}: {}",
        String::from_utf8_lossy(&restart.stderr)
    );
    // It keeps serving, and the restarted containerd reaches its shim: the
    // task is listed as running and a SIGTERM through it stops the pod.
    tokio::time::sleep(Duration::from_secs(1)).await;
    serves().await.context("serving after the restart")?;
    let running = |tasks: &str| {
        tasks
            .lines()
            .any(|line| line.starts_with(&id) && line.contains("RUNNING"))
    };
    let tasks = rig.ctr_ok(which, ["tasks", "ls"]);
    assert!(running(&tasks), "{which} lost the task {id}:\n{tasks}");
    rig.ctr_ok(which, ["tasks", "kill", "--signal", "SIGTERM", &id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(&rig.ctr_ok(which, ["tasks", "ls"])) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let tasks = rig.ctr_ok(which, ["tasks", "ls"]);
    assert!(!running(&tasks), "still running after SIGTERM:\n{tasks}");
    rig.ctr_ok(which, ["tasks", "delete", &id]);
    rig.ctr_ok(which, ["containers", "delete", &id]);
    assert_nothing_left(&id, "a stop after the restart");
    Ok(())
}

// A restarted containerd asks each shim for its task's processes and
// forgets a shim that names none; the shim's task front answers (runwasi
// 1.0 does not).
#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_pods_serve_through_a_containerd_restart() -> Result<()> {
    pods_serve_through_a_containerd_restart(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_pods_serve_through_a_containerd_restart() -> Result<()> {
    pods_serve_through_a_containerd_restart(Containerd::V2).await
}

/// What a faulty registry does to the bytes it sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Passes everything.
    None,
    /// Closes the next connection after this many bytes of answers and
    /// then goes down: later connections are closed at once.
    CutAt(usize),
    /// Down: every connection is closed at once.
    Down,
    /// Flips the answer byte at this offset of each connection.
    FlipAt(usize),
}

/// A TCP proxy in front of the rig's registry whose fault can be changed
/// while it runs.
struct RegistryProxy {
    addr: SocketAddr,
    fault: Arc<std::sync::Mutex<Fault>>,
}

impl RegistryProxy {
    async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fault = Arc::new(std::sync::Mutex::new(Fault::None));
        let shared = fault.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *shared.lock().unwrap() == Fault::Down {
                    continue; // dropped: closed at once
                }
                tokio::spawn(relay(client, upstream, shared.clone()));
            }
        });
        Ok(Self { addr, fault })
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

/// Relays one connection, applying the proxy's fault as it is when each
/// answer chunk passes (connections are kept alive across pulls).
async fn relay(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    fault: Arc<std::sync::Mutex<Fault>>,
) -> Result<()> {
    let server = tokio::net::TcpStream::connect(upstream).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut sent = 0usize;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = server_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let chunk = &mut buf[..n];
        let now = *fault.lock().unwrap();
        match now {
            Fault::Down => break,
            Fault::CutAt(limit) if sent + n > limit => {
                client_write.write_all(&chunk[..limit - sent]).await?;
                *fault.lock().unwrap() = Fault::Down;
                break;
            }
            Fault::FlipAt(at) if (sent..sent + n).contains(&at) => chunk[at - sent] ^= 0xff,
            _ => {}
        }
        client_write.write_all(chunk).await?;
        sent += n;
    }
    requests.abort();
    Ok(())
}

/// The faults app with a custom section naming `nonce` appended to its
/// component, so its wasm layer has a digest of its own.
fn unique_faults_app(nonce: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut wasm = std::fs::read(spinshim_tests::assertions::wasm("faults.wasm"))?;
    let name = b"spinshim-test-nonce";
    let payload_len = 1 + name.len() + nonce.len();
    wasm.push(0); // a custom section
    wasm.push(u8::try_from(payload_len).context("nonce too long")?);
    wasm.push(u8::try_from(name.len())?);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(nonce.as_bytes());
    std::fs::write(dir.path().join("faults.wasm"), wasm)?;
    let manifest = std::fs::read_to_string(sample_app("faults").join("spin.toml"))?
        .replace("../target/wasm32-wasip2/release/faults.wasm", "faults.wasm");
    std::fs::write(dir.path().join("spin.toml"), manifest)?;
    Ok(dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_gone_or_corrupt_during_a_pull_fails_the_pull_and_a_retry_runs() -> Result<()> {
    let _shared = CONTAINERD.read();
    let rig = Rig::get();
    let which = Containerd::V2;
    let upstream: SocketAddr = rig.registry().parse()?;
    let proxy = RegistryProxy::start(upstream).await?;
    // Each case pulls a layer no earlier pull brought into the content
    // store; the wasm layer (73 kB) is the only answer past 20 kB on a
    // connection.
    let mut recovered = String::new();
    for (fault, what) in [
        (Fault::Down, "refused"),
        (Fault::CutAt(20_000), "cut off"),
        (Fault::FlipAt(20_000), "corrupt"),
    ] {
        let app = unique_faults_app(&rig.unique_id("nonce"))?;
        let pushed = push_app(
            rig,
            app.path(),
            &format!("e2e/{}:v1", rig.unique_id("proxied")),
        )?;
        let image = pushed.replacen(rig.registry(), &proxy.addr.to_string(), 1);
        let pull_through = || rig.ctr(which, ["images", "pull", "--plain-http", &image]);
        proxy.set(fault);
        let out = pull_through();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "a {what} pull succeeded:\n{said}");
        if fault == Fault::FlipAt(20_000) {
            assert!(
                said.contains("unexpected commit digest"),
                "a corrupt layer's pull does not say its digest is wrong:\n{said}"
            );
        }
        let images = rig.ctr_ok(which, ["images", "ls", "-q"]);
        assert!(
            !images.lines().any(|line| line == image),
            "a {what} pull left the image listed"
        );
        proxy.set(Fault::None);
        if fault == Fault::FlipAt(20_000) {
            // containerd keeps failing this layer's commit on retries here
            // (its ingest, not the registry's bytes): not ours to assert.
            continue;
        }
        recovered = image.clone();
        let out = pull_through();
        assert!(
            out.status.success(),
            "the pull after the {what} one: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut task = Task::start(rig, which, &recovered, &[])?;
    task.wait_ready(rig, START_LIMIT)?;
    assert_task_serves(&task, "a recovered pull").await?;
    Ok(())
}
