//! Spin apps run as containerd tasks with `ctr run --runtime
//! io.containerd.spin.v2`, the way a user tries the shim by hand: host
//! networking, the app on `SPIN_HTTP_LISTEN_ADDR=127.0.0.1:<free port>`,
//! and the container's output read from `ctr`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::rig::{Containerd, Rig};
use crate::{capture_output, free_port, spinshim_bin};

/// The runtime a task is started with.
pub const SPIN_RUNTIME: &str = "io.containerd.spin.v2";

/// Pushes the app at `from` with `spinshim push` to the rig's registry as
/// `name:tag` and returns the reference.
pub fn push_app(rig: &Rig, from: &Path, name: &str) -> Result<String> {
    push_app_with(rig, from, name, &[])
}

/// [`push_app`] with `extra` arguments for `spinshim push`.
pub fn push_app_with(rig: &Rig, from: &Path, name: &str, extra: &[&str]) -> Result<String> {
    let reference = rig.image_ref(name);
    let out = Command::new(spinshim_bin())
        .args(["push", "--from"])
        .arg(from)
        .args(extra)
        .arg(&reference)
        .output()
        .context("running spinshim push")?;
    if !out.status.success() {
        bail!(
            "spinshim push {reference} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(reference)
}

/// Pulls `reference` from the rig's plain-HTTP registry into `which`.
pub fn pull(rig: &Rig, which: Containerd, reference: &str) {
    rig.ctr_ok(which, ["images", "pull", "--plain-http", reference]);
}

/// A task started with `ctr run --rm` in the foreground; its output is
/// the container's stdout and stderr, its exit status the task's.
pub struct Task {
    /// The container (and task) id.
    pub id: String,
    /// Where the app serves HTTP.
    pub addr: SocketAddr,
    which: Containerd,
    child: Option<Child>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Task {
    /// Starts `image` on containerd `which` with the extra container `env`.
    pub fn start(rig: &Rig, which: Containerd, image: &str, env: &[(&str, &str)]) -> Result<Task> {
        Self::start_with_args(rig, which, image, env, &[])
    }

    /// Starts `image` as [`Self::start`] does, with `args` after the
    /// nominal first argument (a command trigger's arguments).
    pub fn start_with_args(
        rig: &Rig,
        which: Containerd,
        image: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Task> {
        let id = rig.unique_id("spin");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let mut cmd = rig.ctr_command(which);
        cmd.args(["run", "--rm", "--net-host", "--runtime", SPIN_RUNTIME])
            .args(["--env", &format!("SPIN_HTTP_LISTEN_ADDR={addr}")]);
        for (key, value) in env {
            cmd.args(["--env", &format!("{key}={value}")]);
        }
        // Spin images carry no entrypoint; like the reference shim's users,
        // give the container a nominal argument.
        cmd.args([image, &id, "/"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting ctr run")?;
        let output = capture_output(&mut child);
        Ok(Task {
            id,
            addr,
            which,
            child: Some(child),
            output,
        })
    }

    /// Waits until the app answers HTTP, or fails with its output if the
    /// task exits or `limit` passes first.
    pub fn wait_ready(&mut self, rig: &Rig, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "task {} exited ({status}) before serving:\n{}\n{}",
                    self.id,
                    self.output().join("\n"),
                    rig.log_tail(self.which, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "task {} did not serve on {} within {limit:?}:\n{}\n{}",
            self.id,
            self.addr,
            self.output().join("\n"),
            rig.log_tail(self.which, 20)
        )
    }

    /// The container's output so far, line by line.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Sends `signal` to the task with `ctr task kill`.
    pub fn kill(&self, rig: &Rig, signal: &str) {
        rig.ctr_ok(self.which, ["tasks", "kill", "--signal", signal, &self.id]);
    }

    /// Waits for `ctr run` to end (the task exited and was removed).
    pub fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("already waited for")?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                // The output readers finish once the pipes close.
                std::thread::sleep(Duration::from_millis(50));
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!("task {} still running after {limit:?}", self.id);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `image` until it exits by itself (a start-up failure) and
    /// returns its exit status and output.
    pub fn run_to_exit(
        rig: &Rig,
        which: Containerd,
        image: &str,
        env: &[(&str, &str)],
        limit: Duration,
    ) -> Result<(ExitStatus, Vec<String>)> {
        let mut task = Task::start(rig, which, image, env)?;
        let status = task.wait_exit(limit)?;
        Ok((status, task.output()))
    }
}

impl Drop for Task {
    /// A task a failed test left running is killed and removed, so no shim
    /// outlives the test.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(rig) = std::panic::catch_unwind(Rig::get) {
            let _ = rig.ctr(
                self.which,
                ["tasks", "kill", "--signal", "SIGKILL", &self.id],
            );
            let _ = child.wait();
            let _ = rig.ctr(self.which, ["tasks", "delete", "--force", &self.id]);
            let _ = rig.ctr(self.which, ["containers", "delete", &self.id]);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// PIDs of shim processes serving container `id` (their command line
/// carries `-id <id>`).
pub fn shim_processes_for(id: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first()
                .is_some_and(|a| a.ends_with(b"containerd-shim-spin-v2"))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-id" && w[1] == id.as_bytes())
        })
        .collect()
}
