//! The OCI documents around a Spin artifact: the image manifest and the image config.
//!
//! Both are written the way `spin registry push` writes them and read tolerantly
//! (unknown fields are ignored), so artifacts from other tools still inspect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::media_types;

/// The config label that ties an image config to its lock layer; without it every
/// Spin app would share one config digest, and so one image id in containerd.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";
/// `architecture` of a Spin image config.
pub const ARCHITECTURE: &str = "wasm";
/// `os` of a Spin image config, spelled as Spin spells it (containerd lower-cases
/// platforms when it compares them).
pub const OS: &str = "Wasip1";

/// An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Free-form annotations (`org.opencontainers.image.*` and the user's own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Per-blob annotations; Spin writes none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// Reads a manifest; `what` (e.g. the reference) labels errors. An image index
    /// is refused: Spin pushes a single manifest.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, Error> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|cause| Error::Manifest {
                what: what.to_owned(),
                cause,
            })?;
        if value.get("manifests").is_some() {
            return Err(Error::ImageIndex {
                what: what.to_owned(),
            });
        }
        serde_json::from_value(value).map_err(|cause| Error::Manifest {
            what: what.to_owned(),
            cause,
        })
    }

    /// The layer holding the locked app: the last layer of that media type, else
    /// the config blob of old artifacts that carried the lock there.
    pub fn lock_descriptor(&self) -> Option<&Descriptor> {
        self.layers
            .iter()
            .rev()
            .find(|l| l.media_type == media_types::LOCKED_APP)
            .or_else(|| Some(&self.config).filter(|c| c.media_type == media_types::LOCKED_APP))
    }

    /// The sum of the config and layer sizes.
    pub fn total_size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// An OCI image config (`application/vnd.oci.image.config.v1+json`), reduced to
/// what a Spin artifact fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// [`ARCHITECTURE`] for Spin apps.
    pub architecture: String,
    /// [`OS`] for Spin apps.
    pub os: String,
    /// Container settings; only `Labels` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Required by the image spec; no diff ids for a Wasm artifact.
    #[serde(default)]
    pub rootfs: RootFs,
}

/// The `config` object of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Labels, e.g. [`LOCKED_APP_DIGEST_LABEL`].
    #[serde(rename = "Labels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The `rootfs` object of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests; empty for Spin apps.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

impl ImageConfig {
    /// The config of a Spin app whose lock layer has digest `lock_digest`.
    pub fn for_spin_app(lock_digest: &str) -> Self {
        let mut labels = BTreeMap::new();
        labels.insert(LOCKED_APP_DIGEST_LABEL.to_owned(), lock_digest.to_owned());
        ImageConfig {
            architecture: ARCHITECTURE.into(),
            os: OS.into(),
            config: Some(ContainerConfig { labels }),
            rootfs: RootFs::default(),
        }
    }

    /// Reads a config blob; `what` labels errors.
    pub fn from_json(bytes: &[u8], what: &str) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|cause| Error::Manifest {
            what: what.to_owned(),
            cause,
        })
    }

    /// The [`LOCKED_APP_DIGEST_LABEL`] label.
    pub fn locked_app_digest(&self) -> Option<&str> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.get(LOCKED_APP_DIGEST_LABEL))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spin_config_has_the_spin_platform_and_the_lock_label() {
        let config = ImageConfig::for_spin_app("sha256:00");
        let value = serde_json::to_value(&config).unwrap();
        assert_eq!(
            value,
            json!({
                "architecture": "wasm",
                "os": "Wasip1",
                "config": {"Labels": {"com.fermyon.spin.lockedAppDigest": "sha256:00"}},
                "rootfs": {"type": "layers", "diff_ids": []}
            })
        );
        let read = ImageConfig::from_json(&serde_json::to_vec(&value).unwrap(), "x").unwrap();
        assert_eq!(read.locked_app_digest(), Some("sha256:00"));
    }

    #[test]
    fn manifests_read_tolerantly_and_indexes_are_refused() {
        let text = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c", "size": 10},
            "layers": [
                {"mediaType": media_types::WASM_LAYER, "digest": "sha256:w", "size": 100, "unknown": 1},
                {"mediaType": media_types::LOCKED_APP, "digest": "sha256:l", "size": 5}
            ],
            "subject": {"ignored": true}
        });
        let m = ImageManifest::from_json(&serde_json::to_vec(&text).unwrap(), "ref").unwrap();
        assert_eq!(m.lock_descriptor().unwrap().digest, "sha256:l");
        assert_eq!(m.total_size(), 115);

        let index = json!({"schemaVersion": 2, "manifests": []});
        let err = ImageManifest::from_json(&serde_json::to_vec(&index).unwrap(), "reg/app:1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "reg/app:1: is an image index; a Spin app is a single image manifest"
        );
    }

    #[test]
    fn old_artifacts_carry_the_lock_as_their_config() {
        let text = json!({
            "schemaVersion": 2,
            "config": {"mediaType": media_types::LOCKED_APP, "digest": "sha256:l", "size": 5},
            "layers": [{"mediaType": media_types::WASM_LAYER, "digest": "sha256:w", "size": 100}]
        });
        let m = ImageManifest::from_json(&serde_json::to_vec(&text).unwrap(), "ref").unwrap();
        assert_eq!(m.lock_descriptor().unwrap().digest, "sha256:l");
    }
}
