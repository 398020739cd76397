//! Making a component's `files` visible to the guest.
//!
//! WASI preopens are directories, while a lock lists files one by one (each
//! with its guest path) or, for direct mounts, whole directories. A single
//! directory mounted at a guest path is preopened as it is; anything else is
//! staged once, at start-up, into a private directory laid out as the guest
//! will see it, and that directory is preopened at `/`, read-only.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use spinshim_app::locked::{ContentPath, LockedComponent};

/// A host directory and the guest path it is mounted at.
#[derive(Clone, Debug)]
pub struct Mount {
    /// Directory on the host.
    pub host: PathBuf,
    /// Absolute path in the guest.
    pub guest: String,
}

/// Works out the mounts for `component`, staging files under `stage_root`
/// when they cannot be mounted directly.
pub fn prepare_mounts(component: &LockedComponent, stage_root: &Path) -> Result<Vec<Mount>> {
    if component.files.is_empty() {
        return Ok(Vec::new());
    }
    if let [single] = component.files.as_slice() {
        if let Some(dir) = local_source(component, single)?.filter(|p| p.is_dir()) {
            return Ok(vec![Mount {
                host: dir,
                guest: guest_path(&single.path),
            }]);
        }
    }
    let stage = stage_root.join(&component.id);
    fs::create_dir_all(&stage)
        .with_context(|| format!("creating staging directory {}", stage.display()))?;
    for entry in &component.files {
        stage_entry(component, entry, &stage)?;
    }
    Ok(vec![Mount {
        host: stage,
        guest: "/".into(),
    }])
}

fn stage_entry(component: &LockedComponent, entry: &ContentPath, stage: &Path) -> Result<()> {
    let dest = stage.join(relative_guest_path(component, &entry.path)?);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if let Some(bytes) = &entry.content.inline {
        return fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()));
    }
    let Some(source) = local_source(component, entry)? else {
        bail!(
            "component \"{}\": file {} has no local source (digest-only content needs the OCI loader)",
            component.id,
            entry.path.display()
        );
    };
    if source.is_dir() {
        copy_tree(&source, &dest)
    } else {
        link_or_copy(&source, &dest)
    }
}

/// The host path of a `file:` source, if the entry has one.
fn local_source(component: &LockedComponent, entry: &ContentPath) -> Result<Option<PathBuf>> {
    entry
        .content
        .source
        .as_deref()
        .map(|source| existing_local_path(&component.id, "file", source))
        .transpose()
}

/// Turns a `file:` URL from the lock into a host path that exists; `what`
/// names the thing in errors ("wasm file", "file").
pub(crate) fn existing_local_path(component_id: &str, what: &str, source: &str) -> Result<PathBuf> {
    let path = url::Url::parse(source)
        .ok()
        .filter(|url| url.scheme() == "file")
        .and_then(|url| url.to_file_path().ok())
        .with_context(|| {
            format!(
                "component \"{component_id}\": {what} source {source:?} is not a local file: URL"
            )
        })?;
    if !path.exists() {
        bail!(
            "component \"{component_id}\": {what} {} does not exist",
            path.display()
        );
    }
    Ok(path)
}

/// The guest path without its root, refusing `..` so nothing lands outside
/// the staging directory.
fn relative_guest_path(component: &LockedComponent, path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => bail!(
                "component \"{}\": file path {} leaves the guest root",
                component.id,
                path.display()
            ),
        }
    }
    Ok(out)
}

fn guest_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text.starts_with('/') {
        text.into_owned()
    } else {
        format!("/{text}")
    }
}

fn link_or_copy(source: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        fs::remove_file(dest).with_context(|| format!("replacing {}", dest.display()))?;
    }
    if fs::hard_link(source, dest).is_ok() {
        return Ok(());
    }
    fs::copy(source, dest)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", source.display(), dest.display()))
}

fn copy_tree(source: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for entry in fs::read_dir(source).with_context(|| format!("reading {}", source.display()))? {
        let entry = entry?;
        let target = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            link_or_copy(&entry.path(), &target)?;
        }
    }
    Ok(())
}
