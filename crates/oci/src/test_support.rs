//! Fixtures for this crate's tests: small apps written to temp dirs, Wasm-looking
//! bytes, and layers borrowed from a built artifact.

use std::path::Path;

use spinshim_app::LockedApp;

use crate::artifact::Artifact;
use crate::read::Layer;

/// `len` bytes starting with the Wasm component header, the rest filled with `seed`
/// (so different seeds give different digests). The artifact builder only checks
/// the magic number; nothing here is ever compiled.
pub(crate) fn wasm(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.resize(len.max(bytes.len()), seed);
    bytes
}

/// `len` bytes of text made from `seed`.
pub(crate) fn text(seed: &str, len: usize) -> Vec<u8> {
    seed.bytes().cycle().take(len).collect()
}

/// An app directory: `spin.toml` plus files.
pub(crate) struct TempApp {
    pub dir: tempfile::TempDir,
}

impl TempApp {
    /// Writes `manifest` as spin.toml and each `(relative path, bytes)`.
    pub fn new(manifest: &str, files: &[(&str, &[u8])]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        for (path, bytes) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        TempApp { dir }
    }

    /// Loads it as `spinshim up` would.
    pub fn load(&self) -> LockedApp {
        spinshim_app::load_app(self.dir.path()).unwrap()
    }

    /// A file's bytes.
    pub fn read(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(path)).unwrap()
    }
}

/// The artifact's layers as the shim would hand them over.
pub(crate) fn layers_of(artifact: &Artifact) -> Vec<Layer<'_>> {
    artifact
        .layers
        .iter()
        .map(|blob| Layer {
            media_type: &blob.media_type,
            digest: &blob.digest,
            bytes: &blob.data,
            precompiled: false,
        })
        .collect()
}

/// Every regular file below `dir`, as (path relative to `dir`, bytes), sorted.
pub(crate) fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
