//! The Kubernetes path without kubelet: containerd's CRI API driven the way
//! kubelet drives it, against the rig's containerd 1.7 and 2.x with the
//! runtime handler `spin` (what a RuntimeClass names). A pod sandbox with
//! host networking, an image pulled through CRI from the rig's registry, a
//! container with the app's env, and what a user then sees: the app
//! answering, the container's exit code and reason, and the CRI log file
//! (what `kubectl logs` shows).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatus, ContainerStatusRequest,
    CreateContainerRequest, Image, ImageSpec, ImageStatusRequest, KeyValue, LinuxContainerConfig,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxFilter,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, PullImageRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};
use spinshim_tests::rig::{Containerd, Rig};
use spinshim_tests::task::{push_app, shim_processes_for};
use spinshim_tests::{free_port, get, sample_app};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

/// The CRI runtime handler of the spin runtime in the rig's configs.
const HANDLER: &str = "spin";
/// First starts compile every component: allow for a slow machine.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long one CRI call may take.
const CALL_LIMIT: Duration = Duration::from_secs(120);
/// The grace period StopContainer gives before SIGKILL.
const STOP_GRACE_SECONDS: i64 = 10;

/// CRI clients over one containerd's unix socket.
struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl Cri {
    async fn connect(socket: &Path) -> Result<Cri> {
        let path = socket.to_path_buf();
        // tonic needs a URI; every connection goes to the socket instead.
        let connector = service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        });
        let channel = Endpoint::try_from("http://[::]:50051")?
            .connect_with_connector(connector)
            .await
            .with_context(|| format!("connecting to CRI at {}", socket.display()))?;
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        })
    }

    async fn container_status(&mut self, id: &str) -> Result<ContainerStatus> {
        let reply = limit(
            "ContainerStatus",
            self.runtime.container_status(ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: false,
            }),
        )
        .await?;
        reply
            .status
            .with_context(|| format!("ContainerStatus {id}: no status"))
    }

    /// The host PID of a running container's process, from the verbose
    /// ContainerStatus.
    async fn container_pid(&mut self, id: &str) -> Result<u32> {
        let reply = limit(
            "ContainerStatus",
            self.runtime.container_status(ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: true,
            }),
        )
        .await?;
        let info = reply
            .info
            .get("info")
            .with_context(|| format!("verbose ContainerStatus {id}: no info: {:?}", reply.info))?;
        let info: serde_json::Value = serde_json::from_str(info)?;
        info["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|pid| *pid > 0)
            .with_context(|| format!("verbose ContainerStatus {id}: no pid in {info}"))
    }

    async fn stop_and_remove_pod(&mut self, id: &str) -> Result<()> {
        limit(
            "StopPodSandbox",
            self.runtime.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: id.to_string(),
            }),
        )
        .await?;
        limit(
            "RemovePodSandbox",
            self.runtime.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: id.to_string(),
            }),
        )
        .await?;
        Ok(())
    }
}

/// Awaits one CRI call, bounded by [`CALL_LIMIT`], naming it on failure.
async fn limit<T>(
    call: &str,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    match tokio::time::timeout(CALL_LIMIT, fut).await {
        Ok(Ok(reply)) => Ok(reply.into_inner()),
        Ok(Err(status)) => bail!("{call}: {:?}: {}", status.code(), status.message()),
        Err(_) => bail!("{call}: no reply within {CALL_LIMIT:?}"),
    }
}

/// A pod sandbox that is stopped and removed when dropped unless the test
/// removed it itself, so a failing test leaves no pod and no shim behind.
struct PodGuard {
    socket: PathBuf,
    id: String,
    removed: bool,
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let socket = self.socket.clone();
        let id = self.id.clone();
        // Drop runs inside the test's runtime: clean up on a thread of its own.
        let cleanup = std::thread::spawn(move || -> Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(async { Cri::connect(&socket).await?.stop_and_remove_pod(&id).await })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleaning up pod sandbox {}: {e:#}", self.id),
            Err(_) => eprintln!("cleaning up pod sandbox {} panicked", self.id),
        }
    }
}

/// One line of a CRI container log: `<RFC 3339 time> <stream> <P|F> <text>`.
#[derive(Debug)]
struct LogLine {
    stream: String,
    tag: String,
    text: String,
}

/// Reads a CRI log file, checking every line has the CRI format.
fn read_cri_log(path: &Path) -> Result<Vec<LogLine>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the CRI log {}", path.display()))?;
    text.lines()
        .map(|line| {
            let mut fields = line.splitn(4, ' ');
            let (Some(time), Some(stream), Some(tag)) =
                (fields.next(), fields.next(), fields.next())
            else {
                bail!("not a CRI log line: {line:?}");
            };
            ensure!(
                time.len() > 20 && time.as_bytes()[10] == b'T' && time.starts_with("20"),
                "CRI log line without an RFC 3339 timestamp: {line:?}"
            );
            ensure!(
                matches!(stream, "stdout" | "stderr") && matches!(tag, "F" | "P"),
                "CRI log line with stream {stream:?} and tag {tag:?}: {line:?}"
            );
            Ok(LogLine {
                stream: stream.to_string(),
                tag: tag.to_string(),
                text: fields.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The log file's full lines of `stream`.
fn full_lines<'a>(log: &'a [LogLine], stream: &str) -> Vec<&'a str> {
    log.iter()
        .filter(|l| l.stream == stream && l.tag == "F")
        .map(|l| l.text.as_str())
        .collect()
}

/// What a failure message shows of a container: its CRI log and the
/// containerd log tail.
fn describe(rig: &Rig, which: Containerd, log_path: &Path) -> String {
    format!(
        "--- CRI log {}:\n{}\n{}",
        log_path.display(),
        std::fs::read_to_string(log_path).unwrap_or_else(|e| format!("({e})")),
        rig.log_tail(which, 30)
    )
}

/// The cgroup directories (one per v1 hierarchy, or the unified one)
/// that `path` names and that exist.
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let relative = path.trim_start_matches('/');
    let mut roots: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|dir| dir.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    roots
        .into_iter()
        .filter(|root| root.join("cgroup.procs").exists())
        .map(|root| root.join(relative))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// A pod with host networking under the `spin` handler, logs in `log_dir`.
fn pod_config(rig: &Rig, name: &str, log_dir: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_string(),
            uid: format!("uid-{name}"),
            namespace: format!("ns-{name}"),
            attempt: 0,
        }),
        log_directory: log_dir.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: rig.cgroup_parent(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Host network, as the rig has no CNI; otherwise what kubelet asks for.
fn namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// A pod of one container of `image`, started through CRI.
struct Pod {
    cri: Cri,
    guard: PodGuard,
    config: PodSandboxConfig,
    log_dir: tempfile::TempDir,
}

impl Pod {
    /// RunPodSandbox under [`HANDLER`], checking the sandbox is ready.
    async fn run(rig: &Rig, which: Containerd, prefix: &str) -> Result<Pod> {
        let socket = rig.containerd(which).socket().to_path_buf();
        let mut cri = Cri::connect(&socket).await?;
        let log_dir = tempfile::tempdir()?;
        let config = pod_config(rig, &rig.unique_id(prefix), log_dir.path());
        let id = limit(
            "RunPodSandbox",
            cri.runtime.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: HANDLER.to_string(),
            }),
        )
        .await
        .with_context(|| rig.log_tail(which, 30))?
        .pod_sandbox_id;
        let guard = PodGuard {
            socket,
            id: id.clone(),
            removed: false,
        };
        let status = limit(
            "PodSandboxStatus",
            cri.runtime.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id.clone(),
                verbose: false,
            }),
        )
        .await?
        .status
        .context("PodSandboxStatus: no status")?;
        assert_eq!(
            (status.state(), status.runtime_handler.as_str()),
            (PodSandboxState::SandboxReady, HANDLER),
            "sandbox {id} ({which})"
        );
        Ok(Pod {
            cri,
            guard,
            config,
            log_dir,
        })
    }

    fn id(&self) -> &str {
        &self.guard.id
    }

    fn cgroup_parent(&self) -> String {
        self.config
            .linux
            .as_ref()
            .map(|linux| linux.cgroup_parent.clone())
            .unwrap_or_default()
    }

    /// PullImage in the pod's context; returns the image as ImageStatus
    /// then reports it, its `id` being the reference PullImage handed back
    /// (what kubelet puts in the container config).
    async fn pull(&mut self, image: &str) -> Result<Image> {
        let image_ref = limit(
            "PullImage",
            self.cri.images.pull_image(PullImageRequest {
                image: Some(ImageSpec {
                    image: image.to_string(),
                    ..Default::default()
                }),
                auth: None,
                sandbox_config: Some(self.config.clone()),
            }),
        )
        .await?
        .image_ref;
        ensure!(
            image_ref.starts_with("sha256:"),
            "PullImage {image}: image_ref {image_ref:?}"
        );
        let status = limit(
            "ImageStatus",
            self.cri.images.image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.to_string(),
                    ..Default::default()
                }),
                verbose: false,
            }),
        )
        .await?
        .image
        .with_context(|| format!("ImageStatus {image}: not found after PullImage"))?;
        let repo = image.rsplit_once(':').map_or(image, |(repo, _)| repo);
        ensure!(
            status.id == image_ref
                && status.repo_tags.iter().any(|t| t == image)
                && status
                    .repo_digests
                    .iter()
                    .any(|d| d.starts_with(&format!("{repo}@sha256:"))),
            "ImageStatus {image} after PullImage ({image_ref}): {status:?}"
        );
        Ok(status)
    }

    /// CreateContainer + StartContainer of `image_ref` (pulled as
    /// `image`) with `envs`; returns its id and its log file.
    async fn start_container(
        &mut self,
        name: &str,
        image: &str,
        image_ref: &str,
        envs: &[(&str, &str)],
    ) -> Result<(String, PathBuf)> {
        // As kubelet: <pod log dir>/<container>/<attempt>.log, the directory
        // made by the caller.
        std::fs::create_dir_all(self.log_dir.path().join(name))?;
        let log_path = format!("{name}/0.log");
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.to_string(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: image_ref.to_string(),
                user_specified_image: image.to_string(),
                ..Default::default()
            }),
            // Spin images have no entrypoint: a nominal argument, as the
            // reference shim's Kubernetes examples give.
            command: vec!["/".to_string()],
            envs: envs
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.to_string(),
                    value: value.to_string(),
                })
                .collect(),
            log_path: log_path.clone(),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: Some(namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = limit(
            "CreateContainer",
            self.cri.runtime.create_container(CreateContainerRequest {
                pod_sandbox_id: self.id().to_string(),
                config: Some(config),
                sandbox_config: Some(self.config.clone()),
            }),
        )
        .await?
        .container_id;
        limit(
            "StartContainer",
            self.cri.runtime.start_container(StartContainerRequest {
                container_id: id.clone(),
            }),
        )
        .await?;
        Ok((id, self.log_dir.path().join(log_path)))
    }

    /// Waits for container `id` to exit by itself; returns its status.
    async fn wait_exited(&mut self, id: &str, limit: Duration) -> Result<ContainerStatus> {
        let start = Instant::now();
        loop {
            let status = self.cri.container_status(id).await?;
            if status.state() == ContainerState::ContainerExited {
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!("container {id} still {:?} after {limit:?}", status.state());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// StopPodSandbox + RemovePodSandbox, then checks the pod is gone from
    /// containerd and no shim serves it or `containers` any more.
    async fn remove(mut self, which: Containerd, containers: &[&str]) -> Result<()> {
        let id = self.id().to_string();
        self.cri.stop_and_remove_pod(&id).await?;
        self.guard.removed = true;
        let left = limit(
            "ListPodSandbox",
            self.cri.runtime.list_pod_sandbox(ListPodSandboxRequest {
                filter: Some(PodSandboxFilter {
                    id: id.clone(),
                    ..Default::default()
                }),
            }),
        )
        .await?
        .items;
        assert!(left.is_empty(), "pod {id} listed after removal: {left:?}");
        for container in containers {
            let status = self
                .cri
                .runtime
                .container_status(ContainerStatusRequest {
                    container_id: container.to_string(),
                    verbose: false,
                })
                .await;
            assert!(
                status.is_err(),
                "container {container} still known after its pod was removed: {status:?}"
            );
        }
        let ids: Vec<&str> = std::iter::once(id.as_str())
            .chain(containers.iter().copied())
            .collect();
        let parent = self.cgroup_parent();
        // Shim processes, and the containers' cgroups under the pod's parent.
        let left = || -> (Vec<(&str, Vec<u32>)>, Vec<PathBuf>) {
            (
                ids.iter()
                    .map(|id| (*id, shim_processes_for(id)))
                    .filter(|(_, pids)| !pids.is_empty())
                    .collect(),
                ids.iter()
                    .flat_map(|id| cgroup_dirs(&format!("{parent}/{id}")))
                    .collect(),
            )
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while left() != (vec![], vec![]) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            left(),
            (vec![], vec![]),
            "shims and cgroups left after removing pod {id} ({which})"
        );
        Ok(())
    }
}

/// Polls until `addr` accepts connections, failing early if container `id`
/// exits first.
async fn wait_serving(
    pod: &mut Pod,
    id: &str,
    addr: SocketAddr,
    describe: impl Fn() -> String,
) -> Result<()> {
    let start = Instant::now();
    let mut last_status_check = Instant::now();
    while start.elapsed() < START_LIMIT {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if last_status_check.elapsed() > Duration::from_millis(500) {
            last_status_check = Instant::now();
            let status = pod.cri.container_status(id).await?;
            if status.state() == ContainerState::ContainerExited {
                bail!(
                    "container {id} exited ({}, {}) before serving on {addr}\n{}",
                    status.exit_code,
                    status.reason,
                    describe()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "container {id} did not serve on {addr} within {START_LIMIT:?}\n{}",
        describe()
    )
}

async fn pod_serves_logs_and_exits_0_on_stop(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    let image = push_app(
        rig,
        &sample_app("hello"),
        &format!("cri/{}:v1", rig.unique_id("hello")),
    )?;
    let mut pod = Pod::run(rig, which, "cri-hello").await?;
    let version = limit(
        "Version",
        pod.cri.runtime.version(VersionRequest {
            version: "v1".to_string(),
        }),
    )
    .await?;
    assert_eq!(
        (
            version.runtime_name.as_str(),
            version.runtime_api_version.as_str()
        ),
        ("containerd", "v1"),
        "{version:?}"
    );

    let pulled = pod.pull(&image).await?;
    let image_ref = pulled.id.clone();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let listen = addr.to_string();
    let (container, log_path) = pod
        .start_container(
            "hello",
            &image,
            &image_ref,
            &[("SPIN_HTTP_LISTEN_ADDR", &listen)],
        )
        .await?;
    let show = || describe(rig, which, &log_path);
    wait_serving(&mut pod, &container, addr, show).await?;

    let reply = get(addr, "/").await?;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "Hello, Spin!\n"),
        "GET / ({which})"
    );
    let running = pod.cri.container_status(&container).await?;
    assert_eq!(
        running.state(),
        ContainerState::ContainerRunning,
        "{running:?}"
    );
    // The app runs in the cgroup CRI made for it under the pod's parent.
    let pid = pod.cri.container_pid(&container).await?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let want = format!(":{}/{container}", pod.cgroup_parent());
    assert!(
        cgroups.lines().any(|line| line.ends_with(&want)),
        "container process {pid} is not in cgroup {want}:\n{cgroups}"
    );
    // CRI reports the image by a repository digest of the pulled image.
    assert!(
        pulled.repo_digests.contains(&running.image_ref),
        "the container's image {:?} is not the pulled one: {pulled:?}",
        running.image_ref
    );

    // StopContainer sends SIGTERM; the app drains and exits 0 well within
    // the grace period, so no SIGKILL is needed.
    let stopping = Instant::now();
    limit(
        "StopContainer",
        pod.cri.runtime.stop_container(StopContainerRequest {
            container_id: container.clone(),
            timeout: STOP_GRACE_SECONDS,
        }),
    )
    .await?;
    assert!(
        stopping.elapsed() < Duration::from_secs(STOP_GRACE_SECONDS as u64),
        "StopContainer took {:?}: SIGTERM did not end the app",
        stopping.elapsed()
    );
    let stopped = pod.cri.container_status(&container).await?;
    assert_eq!(
        (stopped.state(), stopped.exit_code, stopped.reason.as_str()),
        (ContainerState::ContainerExited, 0, "Completed"),
        "status after StopContainer ({which})\n{}",
        show()
    );

    // The CRI log holds the app's start-up output, as stdout lines.
    let log = read_cri_log(&log_path)?;
    let stdout = full_lines(&log, "stdout");
    for want in [
        format!("Serving http://{addr}"),
        "Available Routes:".to_string(),
        format!("  hello: http://{addr} (wildcard)"),
    ] {
        assert!(
            stdout.contains(&want.as_str()),
            "no stdout line {want:?} in the CRI log ({which})\n{}",
            show()
        );
    }
    assert!(
        full_lines(&log, "stderr")
            .iter()
            .all(|l| !l.starts_with("Error")),
        "errors in the CRI log ({which})\n{}",
        show()
    );

    pod.remove(which, &[&container]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_pod_serves_logs_and_exits_0_on_stop() -> Result<()> {
    pod_serves_logs_and_exits_0_on_stop(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_pod_serves_logs_and_exits_0_on_stop() -> Result<()> {
    pod_serves_logs_and_exits_0_on_stop(Containerd::V2).await
}

async fn failed_start_exits_non_zero_with_one_error_line(which: Containerd) -> Result<()> {
    let rig = Rig::get();
    // `variables` needs the variable `name`; nothing sets it.
    let image = push_app(
        rig,
        &sample_app("variables"),
        &format!("cri/{}:v1", rig.unique_id("vars")),
    )?;
    let mut pod = Pod::run(rig, which, "cri-vars").await?;
    let image_ref = pod.pull(&image).await?.id;
    let addr = format!("127.0.0.1:{}", free_port());
    let (container, log_path) = pod
        .start_container(
            "vars",
            &image,
            &image_ref,
            &[("SPIN_HTTP_LISTEN_ADDR", &addr)],
        )
        .await?;
    let show = || describe(rig, which, &log_path);
    let status = pod
        .wait_exited(&container, START_LIMIT)
        .await
        .with_context(show)?;
    assert!(
        status.exit_code != 0 && status.reason == "Error",
        "exit code {} reason {:?} ({which})\n{}",
        status.exit_code,
        status.reason,
        show()
    );
    let log = read_cri_log(&log_path)?;
    let errors: Vec<&str> = full_lines(&log, "stderr")
        .into_iter()
        .filter(|l| l.starts_with("Error:"))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].contains("\"name\""),
        "want one stderr line `Error: ...` naming `name` ({which})\n{}",
        show()
    );
    assert!(
        full_lines(&log, "stdout")
            .iter()
            .all(|l| !l.starts_with("Serving")),
        "a failed app claims to serve ({which})\n{}",
        show()
    );
    pod.remove(which, &[&container]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_1_7_failed_start_exits_non_zero_with_one_error_line() -> Result<()> {
    failed_start_exits_non_zero_with_one_error_line(Containerd::V1_7).await
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_2_failed_start_exits_non_zero_with_one_error_line() -> Result<()> {
    failed_start_exits_non_zero_with_one_error_line(Containerd::V2).await
}
