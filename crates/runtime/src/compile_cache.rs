//! `spinshim up`'s cache of compiled components.
//!
//! Compiling is most of a local start: the hello app compiles in about
//! 100 ms and loads from native code in about 1. So `up` keeps what it
//! compiled in a directory of its own, keyed by everything that shapes the
//! code: the Wasm it was compiled from (after composition), wasmtime's
//! version and code-shaping settings, and this build of spinshim (which
//! decides how a core module becomes a component). A later start of the
//! same app maps the native code instead of compiling it.
//!
//! Native code is trusted blindly by wasmtime, so the cache loads only
//! files it wrote itself: in a directory only this user may write to,
//! owned by this user, put in place whole (written aside, then renamed).
//! A file that fails to load (another wasmtime, a damaged file) is
//! compiled again and replaced.

use std::fs;
use std::hash::{Hash, Hasher as _};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// A directory of native code, one file per compiled component.
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// The cache in `dir`, created (for this user only) if missing; an
    /// existing directory must be this user's and writable by no other.
    pub fn open(dir: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the compile cache {}", dir.display()))?;
        let meta = fs::metadata(dir)
            .with_context(|| format!("reading the compile cache {}", dir.display()))?;
        if meta.uid() != effective_uid() || meta.permissions().mode() & 0o022 != 0 {
            bail!(
                "the compile cache {} is not this user's alone (owner uid {}, mode {:o}): \
                 refusing to load native code from it",
                dir.display(),
                meta.uid(),
                meta.permissions().mode() & 0o777
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The default place: `$XDG_CACHE_HOME/spinshim/compiled`, else
    /// `$HOME/.cache/spinshim/compiled`; `None` without either.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|dir| !dir.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })?;
        Some(base.join("spinshim").join("compiled"))
    }

    /// `wasm` compiled in `engine`: from the cache when it holds this
    /// code, else compiled by `compile` and stored. A failure to store is
    /// logged, never fatal: the component still serves.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        id: &str,
        wasm: &[u8],
        compile: impl FnOnce() -> Result<Component>,
    ) -> Result<Component> {
        let path = self.dir.join(format!("{}.cwasm", cache_key(engine, wasm)));
        if let Some(component) = self.load(engine, id, &path) {
            return Ok(component);
        }
        let component = compile()?;
        if let Err(err) = self.store(&component, &path) {
            tracing::warn!("component \"{id}\": not cached: {err:#}");
        }
        Ok(component)
    }

    fn load(&self, engine: &Engine, id: &str, path: &Path) -> Option<Component> {
        let meta = fs::symlink_metadata(path).ok()?;
        if !meta.is_file() || meta.uid() != effective_uid() {
            tracing::warn!(
                "component \"{id}\": ignoring {}: not a file this user wrote",
                path.display()
            );
            return None;
        }
        // SAFETY: the file is one `store` wrote: a regular file of this
        // user's, in a directory no one else may write to, renamed into
        // place only once complete. wasmtime checks that its version and
        // settings match the engine's.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(
                    "component \"{id}\": compiling again, {} did not load: {err:#}",
                    path.display()
                );
                None
            }
        }
    }

    fn store(&self, component: &Component, path: &Path) -> Result<()> {
        let code = component
            .serialize()
            .map_err(anyhow::Error::from)
            .context("serializing the compiled code")?;
        let mut file = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a file in {}", self.dir.display()))?;
        file.write_all(&code)
            .and_then(|()| file.as_file().sync_data())
            .with_context(|| format!("writing {}", file.path().display()))?;
        file.persist(path)
            .with_context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    }
}

/// What identifies native code: the Wasm, the engine's compatibility
/// hash (wasmtime version, target, code-shaping settings) and this build.
fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut settings = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let mut key = Sha256::new();
    key.update(b"spinshim compiled component v1\0");
    key.update(settings.finish().to_le_bytes());
    key.update(build_identity().as_bytes());
    key.update(wasm);
    key.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// This build of spinshim: its version, and the size and time of the
/// running executable, so a rebuilt binary never takes an older one's code.
fn build_identity() -> String {
    let exe = std::env::current_exe()
        .and_then(fs::metadata)
        .map(|meta| format!("{}:{}.{}", meta.len(), meta.mtime(), meta.mtime_nsec()))
        .unwrap_or_default();
    format!("{}\0{exe}\0", env!("CARGO_PKG_VERSION"))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests;
