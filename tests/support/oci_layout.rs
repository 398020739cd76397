//! Images the tests build themselves, as OCI image layout tarballs for
//! `ctr images import`: plain images holding `/spin.toml`, and Spin
//! artifacts with deliberately broken layers.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A single-manifest image: a config blob and layers, in order.
pub struct OciImage {
    name: String,
    config: Vec<u8>,
    layers: Vec<(String, Vec<u8>)>,
}

impl OciImage {
    /// A plain (non-Wasm) image: `linux/amd64` config with `entrypoint`,
    /// whose layers are filesystem tarballs.
    pub fn plain(name: &str, entrypoint: &[&str], layers: Vec<Vec<u8>>) -> Self {
        let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": entrypoint, "Env": ["PATH=/"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        Self {
            name: name.to_string(),
            config: config.to_string().into_bytes(),
            layers: layers
                .into_iter()
                .map(|l| ("application/vnd.oci.image.layer.v1.tar".to_string(), l))
                .collect(),
        }
    }

    /// A Wasm artifact (config `wasm`/`wasip1`, as runwasi requires) with
    /// the given `(media type, bytes)` layers.
    pub fn wasm(name: &str, layers: Vec<(&str, Vec<u8>)>) -> Self {
        let config = json!({"architecture": "wasm", "os": "wasip1", "rootfs": {"type": "layers", "diff_ids": []}});
        Self {
            name: name.to_string(),
            config: config.to_string().into_bytes(),
            layers: layers
                .into_iter()
                .map(|(media_type, bytes)| (media_type.to_string(), bytes))
                .collect(),
        }
    }

    /// Writes the image as an OCI layout tarball, named for containerd by
    /// the `io.containerd.image.name` annotation.
    pub fn write_layout_tar(&self, path: &Path) -> Result<()> {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &self.config),
            "layers": self.layers.iter().map(|(t, b)| descriptor(t, b)).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        let tag = self.name.rsplit_once(':').map_or("latest", |(_, tag)| tag);
        let mut manifest_descriptor =
            descriptor("application/vnd.oci.image.manifest.v1+json", &manifest);
        manifest_descriptor["annotations"] = json!({
            "io.containerd.image.name": self.name,
            "org.opencontainers.image.ref.name": tag,
        });
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifest_descriptor],
        })
        .to_string()
        .into_bytes();

        let mut entries: Vec<(String, &[u8])> = vec![
            ("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#),
            ("index.json".into(), &index),
        ];
        let blobs = std::iter::once(&self.config)
            .chain(self.layers.iter().map(|(_, b)| b))
            .chain(std::iter::once(&manifest));
        for blob in blobs {
            entries.push((blob_path(blob), blob));
        }
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        write_tar(file, entries.iter().map(|(p, b)| (p.as_str(), *b, 0o644)))
    }
}

/// A filesystem layer: a tarball of `(path, bytes, mode)` files.
pub fn fs_layer(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_tar(&mut out, files.iter().copied())?;
    Ok(out)
}

fn write_tar<'a>(
    out: impl std::io::Write,
    files: impl Iterator<Item = (&'a str, &'a [u8], u32)>,
) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    for (path, bytes, mode) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path.trim_start_matches('/'), bytes)
            .with_context(|| format!("adding {path} to a tarball"))?;
    }
    builder.into_inner()?.flush()?;
    Ok(())
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": digest(bytes), "size": bytes.len()})
}

fn blob_path(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", &digest(bytes)["sha256:".len()..])
}
