//! Helpers shared by the integration tests: locating the built binaries
//! and sample apps, running `spinshim up`, and sending exact HTTP requests.

pub mod assertions;
pub mod mqtt;
pub mod mysql;
pub mod oci_layout;
pub mod postgres;
pub mod redis;
pub mod rig;
pub mod servers;
pub mod task;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `spinshim` binary under test: `$SPINSHIM_BIN`, else the release build.
pub fn spinshim_bin() -> PathBuf {
    if let Ok(path) = std::env::var("SPINSHIM_BIN") {
        return PathBuf::from(path);
    }
    let path = repo_root().join("target/release/spinshim");
    assert!(
        path.exists(),
        "{} is missing: run `make test` (or `cargo build --release -p spinshim`) first",
        path.display()
    );
    path
}

/// The directory of the sample app `name` under `images/`, checking its
/// wasm has been built.
pub fn sample_app(name: &str) -> PathBuf {
    let dir = repo_root().join("images").join(name);
    assert!(
        dir.join("spin.toml").exists(),
        "no sample app {}",
        dir.display()
    );
    let wasm_dir = repo_root().join("images/target/wasm32-wasip2/release");
    assert!(
        wasm_dir.exists(),
        "sample apps are not built: run scripts/build-images.sh (make test does)"
    );
    dir
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Stops a server the test started: `signal` (its clean shutdown), then
/// SIGKILL if it has not exited within `grace`; reaps it either way.
pub fn stop_child(child: &mut Child, signal: &str, grace: Duration) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The uid and gid a server runs as: `None` unless the test runs as root
/// (PostgreSQL and MariaDB refuse root), else those of `user`, whom
/// Debian's `package` makes.
pub fn server_user(user: &str, package: &str) -> Result<Option<(u32, u32)>> {
    extern "C" {
        fn getuid() -> u32;
    }
    if unsafe { getuid() } != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, user]).output()?;
        anyhow::ensure!(
            out.status.success(),
            "no {user} user (install Debian's {package})"
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// The compile cache every `spinshim up` of the tests shares (under
/// target/, so `cargo clean` takes it).
pub fn test_compile_cache() -> PathBuf {
    repo_root().join("target/test-compile-cache")
}

/// A running `spinshim up`, killed when dropped.
pub struct Up {
    child: Child,
    /// Where it serves.
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
}

impl Up {
    /// Starts `spinshim up --from <from> --listen 127.0.0.1:<free>` plus
    /// `args`, with `env` added, and waits until it serves.
    pub fn start(from: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Up> {
        let mut up = Self::spawn(from, args, env)?;
        up.wait_until_serving(Duration::from_secs(120))?;
        Ok(up)
    }

    /// Spawns `spinshim up` on a free port with its output captured.
    fn spawn(from: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Up> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let mut child = Self::command(from, addr, args, env).spawn()?;
        let output = capture_output(&mut child);
        Ok(Up {
            child,
            addr,
            output,
        })
    }

    /// Starts `spinshim up` as [`Self::start`] does, for an app that may not
    /// serve HTTP: waits until it prints a line containing `ready`.
    pub fn start_until_line(
        from: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> Result<Up> {
        let mut up = Self::spawn(from, args, env)?;
        let limit = Duration::from_secs(120);
        if up
            .wait_for_line(limit, |line| line.contains(ready))
            .is_none()
        {
            let status = up.child.try_wait()?;
            bail!(
                "spinshim up printed no line with {ready:?} within {limit:?} (exit: {status:?}); \
                 output:\n{}",
                up.output().join("\n")
            );
        }
        Ok(up)
    }

    /// The command `start` runs, for tests that expect it to fail.
    pub fn command(from: &Path, addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(spinshim_bin());
        cmd.arg("up")
            .arg("--from")
            .arg(from)
            .arg("--listen")
            .arg(addr.to_string())
            .args(args)
            // The tests' own compile cache, not the user's; a test may
            // name another.
            .env("SPINSHIM_CACHE_DIR", test_compile_cache())
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn wait_until_serving(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                // Let the reader threads drain what it printed last.
                std::thread::sleep(Duration::from_millis(200));
                bail!(
                    "spinshim up exited ({status}) instead of serving on {}; output:\n{}",
                    self.addr,
                    self.output().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "spinshim up did not serve on {} within {limit:?}; output:\n{}",
            self.addr,
            self.output().join("\n")
        )
    }

    /// Everything it printed so far, stdout and stderr interleaved by line.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Waits up to `limit` for an output line satisfying `pred`; returns it.
    pub fn wait_for_line(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let start = Instant::now();
        loop {
            if let Some(line) = self.output().into_iter().find(|l| pred(l)) {
                return Some(line);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Sends SIGTERM and waits (up to 30 s) for the exit status.
    pub fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "spinshim up did not exit within 30 s of SIGTERM; output:\n{}",
                    self.output().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// How a process that was expected to exit on its own ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Its stdout lines.
    pub stdout: Vec<String>,
    /// Its stderr lines.
    pub stderr: Vec<String>,
}

impl Exited {
    /// The stderr lines starting with `Error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .iter()
            .filter(|l| l.starts_with("Error:"))
            .map(String::as_str)
            .collect()
    }

    /// The error report: stderr from the first `Error:` line to the end.
    pub fn error_report(&self) -> String {
        let first = self
            .stderr
            .iter()
            .position(|l| l.starts_with("Error:"))
            .unwrap_or(self.stderr.len());
        self.stderr[first..].join("\n")
    }

    /// Everything printed, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status,
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }
}

/// Runs `cmd` (stdout and stderr piped) until it exits, killing it after `limit`.
pub fn run_to_exit(mut cmd: Command, limit: Duration) -> Result<Exited> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let read = |stream: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            BufReader::new(stream)
                .lines()
                .map_while(std::result::Result::ok)
                .collect::<Vec<String>>()
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("piped stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = stdout.join().unwrap_or_default();
            let stderr = stderr.join().unwrap_or_default();
            bail!(
                "process did not exit within {limit:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                stdout.join("\n"),
                stderr.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Exited {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects a child's stdout and stderr lines in the background.
pub fn capture_output(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let output = Arc::new(Mutex::new(Vec::new()));
    let streams: Vec<Box<dyn std::io::Read + Send>> = vec![
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    for stream in streams {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                output.lock().unwrap().push(line);
            }
        });
    }
    output
}

/// A response as the tests inspect it.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers in the order received, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The single value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// A request to send: exact method, target, and headers (Host included).
pub struct Req<'a> {
    /// Method.
    pub method: &'a str,
    /// Request target (path and query).
    pub target: &'a str,
    /// Headers, sent as given; `host` defaults to the server address.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body.
    pub body: &'a [u8],
}

impl<'a> Req<'a> {
    /// A GET of `target`.
    pub fn get(target: &'a str) -> Self {
        Req {
            method: "GET",
            target,
            headers: &[],
            body: b"",
        }
    }
}

/// Sends one HTTP/1.1 request to `addr` on a fresh connection.
pub async fn send(addr: SocketAddr, req: Req<'_>) -> Result<Reply> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut builder = http::Request::builder().method(req.method).uri(req.target);
    if !req
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        builder = builder.header("host", addr.to_string());
    }
    for (name, value) in req.headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::copy_from_slice(req.body)))?;
    let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
        .await
        .context("no response within 60 s")??;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// GET `target` from `addr`.
pub async fn get(addr: SocketAddr, target: &str) -> Result<Reply> {
    send(addr, Req::get(target)).await
}
