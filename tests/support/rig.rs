//! The private test rig: a local OCI registry and two private containerds
//! (1.7.x and 2.x) started by `scripts/rig.sh up`, which `make test` runs
//! before `cargo test` and stops afterwards. The tests find it through the
//! env file named by `SPINSHIM_RIG_ENV` (`KEY=value` lines, see
//! scripts/rig.sh).
//!
//! Both containerds start the shim under test (`containerd-shim-spin-v2`,
//! copied into [`Rig::shim_dir`], first on their PATH) for
//! `ctr run --runtime io.containerd.spin.v2` and for the CRI runtime handler
//! `spin`. CRI pods need host networking (no CNI is configured); the pod
//! sandbox image is [`Rig::pause_image`], already in namespace `k8s.io`.
//! The rig is shared by all tests of a run, and other runs may use other
//! rigs on the same machine at the same time: name containers with
//! [`Rig::unique_id`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// The env var naming the rig's env file.
pub const RIG_ENV_VAR: &str = "SPINSHIM_RIG_ENV";

/// How long one `ctr` call may take before it is killed.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(120);

/// Which of the rig's containerds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Containerd {
    /// containerd 1.7.x (Debian trixie), version 2 config.
    V1_7,
    /// containerd 2.x (Debian sid), version 3 config.
    V2,
}

impl Containerd {
    /// Both, oldest first.
    pub const ALL: [Containerd; 2] = [Containerd::V1_7, Containerd::V2];

    /// The major version this containerd has.
    pub fn major(self) -> u32 {
        match self {
            Containerd::V1_7 => 1,
            Containerd::V2 => 2,
        }
    }
}

impl std::fmt::Display for Containerd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Containerd::V1_7 => "containerd 1.7",
            Containerd::V2 => "containerd 2.x",
        })
    }
}

/// One running containerd of the rig.
#[derive(Debug, Clone)]
pub struct ContainerdInfo {
    ctr: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    config: Option<PathBuf>,
    version: String,
}

impl ContainerdInfo {
    /// The `ctr` binary of the same version.
    pub fn ctr_bin(&self) -> &Path {
        &self.ctr
    }

    /// Its gRPC socket (`ctr --address`, the CRI endpoint).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its config file, when the env file names it.
    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Its version as `containerd --version` reports it (e.g. `1.7.24~ds1`).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// The running rig.
#[derive(Debug)]
pub struct Rig {
    env_file: PathBuf,
    vars: BTreeMap<String, String>,
    dir: PathBuf,
    registry: String,
    shim_dir: PathBuf,
    pause_image: String,
    containerd: ContainerdInfo,
    containerd2: Option<ContainerdInfo>,
}

impl Rig {
    /// The rig of this test run, read once from `$SPINSHIM_RIG_ENV`.
    /// Panics with directions when the tests were started without a rig.
    pub fn get() -> &'static Rig {
        static RIG: OnceLock<Rig> = OnceLock::new();
        RIG.get_or_init(|| {
            let Some(path) = std::env::var_os(RIG_ENV_VAR) else {
                panic!(
                    "{RIG_ENV_VAR} is not set: these tests need the containerd/registry rig. \
                     Run them with `make test`, or start one with `scripts/rig.sh up` and set \
                     {RIG_ENV_VAR} to the rig.env path it prints (stop it with \
                     `scripts/rig.sh down <dir>`)"
                )
            };
            Rig::load(Path::new(&path)).unwrap_or_else(|e| panic!("{e:#}"))
        })
    }

    /// Reads a rig env file.
    pub fn load(path: &Path) -> Result<Rig> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the rig env file {} ({RIG_ENV_VAR}); is the rig up?",
                path.display()
            )
        })?;
        let vars = parse_env(&text);
        let need = |key: &str| -> Result<String> {
            vars.get(key)
                .cloned()
                .with_context(|| format!("{} has no {key}", path.display()))
        };
        let containerd = ContainerdInfo {
            ctr: need("RIG_CTR")?.into(),
            socket: need("RIG_CONTAINERD_SOCK")?.into(),
            log: need("RIG_CONTAINERD_LOG")?.into(),
            config: vars.get("RIG_CONTAINERD_CONFIG").map(PathBuf::from),
            version: need("RIG_CONTAINERD_VERSION")?,
        };
        let containerd2 = if vars.contains_key("RIG_CTR2") {
            Some(ContainerdInfo {
                ctr: need("RIG_CTR2")?.into(),
                socket: need("RIG_CONTAINERD2_SOCK")?.into(),
                log: need("RIG_CONTAINERD2_LOG")?.into(),
                config: vars.get("RIG_CONTAINERD2_CONFIG").map(PathBuf::from),
                version: need("RIG_CONTAINERD2_VERSION")?,
            })
        } else {
            None
        };
        Ok(Rig {
            env_file: path.to_path_buf(),
            dir: need("RIG_DIR")?.into(),
            registry: need("RIG_REGISTRY")?,
            shim_dir: need("RIG_SHIM_DIR")?.into(),
            pause_image: need("RIG_PAUSE_IMAGE")?,
            containerd,
            containerd2,
            vars,
        })
    }

    /// The env file this rig was read from.
    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// Any `KEY` of the env file.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The run directory (logs, configs, state).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry, `127.0.0.1:<port>` (plain HTTP).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `<registry>/<name>`, e.g. `image_ref("spinshim/hello:latest")`.
    pub fn image_ref(&self, name: &str) -> String {
        format!("{}/{}", self.registry, name.trim_start_matches('/'))
    }

    /// containerd's registry host configuration (`certs.d`), for
    /// `ctr images pull --hosts-dir`.
    pub fn certs_dir(&self) -> PathBuf {
        self.var("RIG_CERTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.join("certs.d"))
    }

    /// The directory holding the shim under test, first on each
    /// containerd's PATH.
    pub fn shim_dir(&self) -> &Path {
        &self.shim_dir
    }

    /// The CRI pod sandbox image, present in namespace `k8s.io`.
    pub fn pause_image(&self) -> &str {
        &self.pause_image
    }

    /// A cgroup parent for CRI pods that belongs to this run (removed by
    /// `scripts/rig.sh down`).
    pub fn cgroup_parent(&self) -> String {
        self.var("RIG_CGROUP_PARENT")
            .map(str::to_string)
            .unwrap_or_else(|| "/spinshim-rig".to_string())
    }

    /// A container id (or namespace) no other test, and no concurrent test
    /// run on this machine, uses: `<prefix>-<pid>-<n>`. runc and the runwasi
    /// shims keep container state machine-wide in
    /// `/run/containerd/<runtime>/<namespace>/<id>`, so ids must not repeat
    /// across rigs either.
    pub fn unique_id(&self, prefix: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Whether `which` was started (`RIG_CONTAINERD2=0` starts only 1.7).
    pub fn has(&self, which: Containerd) -> bool {
        match which {
            Containerd::V1_7 => true,
            Containerd::V2 => self.containerd2.is_some(),
        }
    }

    /// containerd `which`; panics if the rig did not start it.
    pub fn containerd(&self, which: Containerd) -> &ContainerdInfo {
        match which {
            Containerd::V1_7 => &self.containerd,
            Containerd::V2 => self.containerd2.as_ref().unwrap_or_else(|| {
                panic!(
                    "the rig ({}) was started without containerd 2.x (RIG_CONTAINERD2=0); \
                     `make test` starts both",
                    self.env_file.display()
                )
            }),
        }
    }

    /// A `ctr --address <socket>` command for `which`, to add arguments to.
    pub fn ctr_command(&self, which: Containerd) -> Command {
        let c = self.containerd(which);
        let mut cmd = Command::new(&c.ctr);
        cmd.arg("--address").arg(&c.socket);
        cmd
    }

    /// Runs `ctr --address <socket> <args>` against `which` and returns
    /// its output (killed after [`CTR_TIMEOUT`]; panics if it cannot run).
    pub fn ctr<I, S>(&self, which: Containerd, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.ctr_command(which);
        cmd.args(args);
        let shown = format!("{cmd:?}");
        output_with_timeout(cmd, CTR_TIMEOUT).unwrap_or_else(|e| panic!("{shown}: {e:#}"))
    }

    /// Like [`Rig::ctr`], but the command must succeed: returns stdout,
    /// panics with stdout, stderr and the containerd log tail otherwise.
    pub fn ctr_ok<I, S>(&self, which: Containerd, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let out = self.ctr(which, args);
        if !out.status.success() {
            panic!(
                "ctr {} ({which}) failed: {}\n--- stdout:\n{}\n--- stderr:\n{}\n{}",
                shown.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(which, 30)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last `lines` lines of containerd `which`'s log, labelled, for
    /// failure messages.
    pub fn log_tail(&self, which: Containerd, lines: usize) -> String {
        let log = self.containerd(which).log();
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let start = all.len().saturating_sub(lines);
        format!(
            "--- last {} lines of {} ({which}):\n{}",
            all.len() - start,
            log.display(),
            all[start..].join("\n")
        )
    }
}

/// `KEY=value` lines; blank lines and `#` comments skipped.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Runs `cmd` to completion, capturing stdout and stderr; kills it after
/// `limit`.
pub fn output_with_timeout(mut cmd: Command, limit: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start")?;
    let read = |mut stream: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            buf
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
            let stderr = stderr.join().unwrap_or_default();
            bail!(
                "did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_files() {
        let vars = parse_env("# comment\n\nRIG_DIR=/x/y\nRIG_REGISTRY=127.0.0.1:1234\nBAD\n");
        assert_eq!(vars.get("RIG_DIR").map(String::as_str), Some("/x/y"));
        assert_eq!(
            vars.get("RIG_REGISTRY").map(String::as_str),
            Some("127.0.0.1:1234")
        );
        assert_eq!(vars.len(), 2);
    }
}
