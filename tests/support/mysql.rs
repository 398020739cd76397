//! A real MariaDB server (Debian's `mariadb-server`, which `scripts/rig.sh
//! up` installs) for one test: a fresh data directory in a temp dir, on
//! 127.0.0.1 and a free port, run as the `mysql` user when the test runs
//! as root, with a password user `spin` and a database `spin`; stopped by
//! PID when dropped.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{free_port, server_user, stop_child};

/// The password of the `spin` user.
pub const PASSWORD: &str = "spin-secret";

/// A running MariaDB server.
pub struct MysqlServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    user: Option<(u32, u32)>,
    _dir: tempfile::TempDir,
}

impl MysqlServer {
    /// Makes a data directory, starts the server and adds the `spin` user
    /// and database.
    pub fn start() -> Result<Self> {
        let temp = tempfile::tempdir()?;
        let dir = temp.path().to_path_buf();
        let user = server_user("mysql", "mariadb-server")?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        // Debian's mariadbd now and then crashes (signal 11) while
        // bootstrapping; a second try on a fresh data directory is the
        // same server, so that one failure does not fail a test.
        let data = dir.join("data");
        let mut failures = Vec::new();
        for _ in 0..2 {
            let out = install_db(&data, user.is_some())?;
            if out.status.success() {
                break;
            }
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            std::fs::remove_dir_all(&data).ok();
        }
        if failures.len() == 2 {
            bail!(
                "mariadb-install-db failed twice: {}",
                failures.join("\n---\n")
            );
        }
        let mut server = Self {
            child: None,
            port: free_port(),
            dir,
            user,
            _dir: temp,
        };
        server.restart()?;
        server.as_root(&format!(
            "CREATE USER spin@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL ON *.* TO spin@'%'; CREATE DATABASE spin;"
        ))?;
        Ok(server)
    }

    /// `mysql://spin:<password>@127.0.0.1:<port>/spin`.
    pub fn url(&self) -> String {
        format!("mysql://spin:{PASSWORD}@127.0.0.1:{}/spin", self.port)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// Stops the server (SIGTERM: a clean shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-TERM", Duration::from_secs(20));
        }
    }

    /// Starts the server again on the same port and waits until it
    /// answers.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let path = |name: &str| self.dir.join(name).display().to_string();
        let mut command = Command::new(server_binary()?);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--log-error={}", path("error.log")))
            .args([
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.user {
            command.arg("--user=mysql").uid(uid).gid(gid);
        }
        self.child = Some(command.spawn().context("starting mariadbd")?);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let ready = Command::new("mariadb-admin")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket().display()))
                .args(["-u", "root", "ping"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(path("error.log")).unwrap_or_default();
        bail!(
            "mariadbd on port {} was not ready within 30 s: {log}",
            self.port
        )
    }

    fn as_root(&self, sql: &str) -> Result<String> {
        let mut command = Command::new("mariadb");
        command
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-u", "root"]);
        run_client(command, sql)
    }

    /// Runs SQL as `spin` in database `spin` over TCP and returns its
    /// tab-separated output (no column names).
    pub fn sql(&self, sql: &str) -> Result<String> {
        let mut command = Command::new("mariadb");
        command
            .arg("--no-defaults")
            .args(["-h", "127.0.0.1", "-P", &self.port.to_string()])
            .args(["-u", "spin", "-D", "spin"])
            .env("MYSQL_PWD", PASSWORD);
        run_client(command, sql)
    }
}

fn run_client(mut command: Command, sql: &str) -> Result<String> {
    let out = command
        .args(["-N", "-B", "-e", sql])
        .output()
        .context("running the mariadb client")?;
    if !out.status.success() {
        bail!("mariadb {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

impl Drop for MysqlServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn server_binary() -> Result<&'static Path> {
    let path = Path::new("/usr/sbin/mariadbd");
    anyhow::ensure!(
        path.exists(),
        "{} is missing (scripts/rig.sh up installs Debian's mariadb-server)",
        path.display()
    );
    Ok(path)
}

/// Runs mariadb-install-db for a data directory at `data`.
fn install_db(data: &std::path::Path, as_mysql: bool) -> Result<std::process::Output> {
    let mut install = Command::new("mariadb-install-db");
    install
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if as_mysql {
        install.arg("--user=mysql");
    }
    install
        .output()
        .context("running mariadb-install-db (scripts/rig.sh up installs mariadb-server)")
}
