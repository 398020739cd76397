//! The Spin OCI artifact format (spec §2), both ways, with no network and no async.
//!
//! - [`OciApp::from_layers`] — the shim's side: layers as containerd hands them over
//!   → a runnable [`LockedApp`](spinshim_app::LockedApp). Component code stays in the
//!   layers' memory; files are written once to an assets directory.
//! - [`artifact::build`] — the push side: a loaded app → an [`Artifact`] (layers,
//!   config blob, annotations, manifest), exactly what `spin registry push` writes.
//!   Sending it to a registry is the CLI's job.
//! - [`media_types`] — the media types of the format.
//! - [`manifest`] — the OCI image manifest and config documents (tolerant readers).
//! - [`digest`] — `sha256:<hex>` digests.
//! - [`error`] — the [`Error`] type; every message names the layer digest, component
//!   or path at fault.

#![deny(missing_docs)]

mod archive;
pub mod artifact;
mod assets;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod media_types;
mod read;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use artifact::{Artifact, ArtifactOptions, AssemblyMode, Blob};
pub use error::Error;
pub use read::{ComponentCode, Layer, OciApp, ORIGIN_SCHEME, WASM_FILE_APP_NAME};
