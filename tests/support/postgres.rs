//! A real PostgreSQL server (Debian's, which `scripts/rig.sh up` installs)
//! for one test: a fresh cluster in a temp dir, on 127.0.0.1 and a free
//! port, run as the `postgres` user when the test runs as root (the server
//! refuses root), with a password user `spin`; stopped by PID when dropped.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{free_port, server_user, stop_child};

/// The password of the `spin` user.
pub const PASSWORD: &str = "spin-secret";

/// A running PostgreSQL server.
pub struct PgServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Makes a cluster and starts it.
    pub fn start() -> Result<Self> {
        let bin = server_bin_dir()?;
        let dir = tempfile::tempdir()?;
        let user = server_user("postgres", "postgresql")?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        if let Some((uid, gid)) = user {
            for path in [dir.path(), &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "spin",
                "-E",
                "UTF8",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().context("running initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut server = Self {
            child: None,
            port: free_port(),
            bin,
            data,
            user,
            _dir: dir,
        };
        server.restart()?;
        Ok(server)
    }

    /// `postgres://spin:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgres://spin:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// Stops the server (a fast shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-INT", Duration::from_secs(10));
        }
    }

    /// Starts the server again on the same port and waits until it
    /// accepts connections.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        self.child = Some(command.spawn().context("starting postgres")?);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("postgres on port {} was not ready within 20 s", self.port)
    }

    /// Runs SQL as `spin` through psql and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "spin",
                "-d",
                "postgres",
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn server_bin_dir() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .with_context(|| {
            format!(
                "{} (scripts/rig.sh up installs Debian's postgresql)",
                root.display()
            )
        })?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort();
    let version = versions
        .last()
        .context("no PostgreSQL server version installed")?;
    Ok(root.join(version.to_string()).join("bin"))
}
