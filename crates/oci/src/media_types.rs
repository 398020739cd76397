//! Media types of a Spin OCI artifact (spec §2.1) and of the OCI documents around it.

/// The locked app JSON, pushed as a layer. Old artifacts carry it as the config blob
/// under the same media type.
pub const LOCKED_APP: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A component's Wasm.
pub const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// One file a component mounts.
pub const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
/// A tar+gzip of one component's files (archive mode).
pub const ARCHIVE_LAYER: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// A bare Wasm component, as pushed by `wkg`.
pub const WASM: &str = "application/wasm";

/// Every layer media type the shim accepts.
pub const ALL: &[&str] = &[LOCKED_APP, WASM_LAYER, DATA_LAYER, ARCHIVE_LAYER, WASM];

/// The OCI image manifest.
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The Docker v2 image manifest, which registries may still serve.
pub const DOCKER_IMAGE_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The OCI image config blob.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// True for the media types that carry component Wasm.
pub fn is_wasm(media_type: &str) -> bool {
    media_type == WASM_LAYER || media_type == WASM
}
