//! Cleaning up after a shim that was killed.
//!
//! When a shim dies (SIGKILL, OOM), containerd runs the shim binary once
//! more with the `delete` action to clean up. runwasi answers it without
//! touching the container, so its process kept serving with nobody to stop
//! it, and its cgroups stayed behind. Here `delete` first does what `runc
//! delete --force` does for runc's shim: the container's processes are
//! killed, its cgroups, its state and its sockets removed. runwasi then
//! answers containerd as before.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use libcontainer::container::Container;

/// Where runwasi keeps container state unless the bundle's options say
/// otherwise: `<root>/<runtime>/<namespace>/<id>`.
const DEFAULT_ROOT: &str = "/run/containerd";

/// What containerd's `delete` call names.
#[derive(Debug, PartialEq, Eq)]
struct DeleteCall {
    namespace: String,
    id: String,
    bundle: PathBuf,
}

/// If this process is containerd's `delete` call, removes what the dead
/// shim's container left; failures are reported on stderr (containerd logs
/// them) and never stop runwasi's answer.
pub fn clean_up_on_delete(runtime: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(call) = delete_call(&args) else {
        return;
    };
    if let Err(err) = remove_container(runtime, &call) {
        eprintln!(
            "cleaning up container {} after its shim died: {err:#}",
            call.id
        );
    }
    remove_dead_sockets(&call.bundle);
}

/// The sockets a killed shim leaves in containerd's socket directory (the
/// one containerd connects to and its task front's), unless a live shim,
/// serving the pod's other containers, still listens on them.
fn remove_dead_sockets(bundle: &Path) {
    let Ok(address) = std::fs::read_to_string(bundle.join("address")) else {
        return;
    };
    let containerds = Path::new(address.trim().trim_start_matches("unix://"));
    let front = crate::task_front::service_socket_beside(containerds);
    for socket in [containerds, front.as_path()] {
        if std::os::unix::net::UnixStream::connect(socket).is_err() {
            let _ = std::fs::remove_file(socket);
        }
    }
}

fn delete_call(args: &[String]) -> Option<DeleteCall> {
    if args.last().map(String::as_str) != Some("delete") {
        return None;
    }
    let flag = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].clone())
    };
    let bundle = match flag("-bundle") {
        Some(bundle) => PathBuf::from(bundle),
        // containerd runs `delete` in the bundle directory.
        None => std::env::current_dir().ok()?,
    };
    Some(DeleteCall {
        namespace: flag("-namespace")?,
        id: flag("-id")?,
        bundle,
    })
}

/// The container's state directory, as runwasi chose it at creation.
fn container_root(runtime: &str, call: &DeleteCall) -> Result<PathBuf> {
    let options = call.bundle.join("options.json");
    let base = match std::fs::read(&options) {
        Ok(bytes) => {
            let options: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", options.display()))?;
            match options.get("root").and_then(|root| root.as_str()) {
                Some(root) => PathBuf::from(root),
                None => Path::new(DEFAULT_ROOT).join(runtime),
            }
        }
        Err(_) => Path::new(DEFAULT_ROOT).join(runtime),
    };
    Ok(base.join(&call.namespace).join(&call.id))
}

fn remove_container(runtime: &str, call: &DeleteCall) -> Result<()> {
    let root = container_root(runtime, call)?;
    if !root.join("state.json").exists() {
        // Deleted by the shim itself before it went away.
        return Ok(());
    }
    let mut container =
        Container::load(root.clone()).with_context(|| format!("loading {}", root.display()))?;
    container
        .delete(true)
        .with_context(|| format!("deleting the container at {}", root.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn containerds_delete_call_is_recognised() {
        let call = delete_call(&args(
            "-namespace k8s.io -address /run/containerd/containerd.sock \
             -publish-binary /usr/bin/containerd -id abc -bundle /b delete",
        ));
        assert_eq!(
            call,
            Some(DeleteCall {
                namespace: "k8s.io".into(),
                id: "abc".into(),
                bundle: "/b".into(),
            })
        );
        assert_eq!(delete_call(&args("-namespace n -id abc start")), None);
        assert_eq!(delete_call(&args("-namespace n delete")), None);
    }

    #[test]
    fn the_root_comes_from_the_bundle_options_else_the_default() {
        let bundle = tempfile::tempdir().unwrap();
        let call = DeleteCall {
            namespace: "ns".into(),
            id: "c1".into(),
            bundle: bundle.path().to_owned(),
        };
        assert_eq!(
            container_root("spin", &call).unwrap(),
            PathBuf::from("/run/containerd/spin/ns/c1")
        );
        std::fs::write(bundle.path().join("options.json"), r#"{"root":"/tmp/r"}"#).unwrap();
        assert_eq!(
            container_root("spin", &call).unwrap(),
            PathBuf::from("/tmp/r/ns/c1")
        );
    }
}
