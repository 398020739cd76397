//! Fuzz targets for every reader of untrusted input: `spin.toml`, the lock JSON,
//! `runtime-config.toml`, HTTP routes, `allowed_outbound_hosts` and the layers of a
//! Spin OCI artifact.
//!
//! Each target is a plain `fn(&[u8])` that panics when a property fails, so the
//! same code runs under cargo-fuzz (`fuzz/`, nightly, coverage-guided) and under
//! [`bounded`], the stable run `make test` does on the committed corpora. A target
//! checks more than "no panic": parsed data must survive a round trip, the router
//! must agree with a direct reading of the routing rules, and nothing read from
//! layers may be written outside the assets directory.

pub mod bounded;
pub mod layers_input;
mod targets;

pub use targets::{lock, manifest, oci_layers, outbound, route, runtime_config};

/// A fuzz target: some bytes in, a panic when a property does not hold.
pub type Target = fn(&[u8]);

/// Every target by the name its corpus directory and cargo-fuzz binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest", manifest),
    ("lock", lock),
    ("runtime_config", runtime_config),
    ("route", route),
    ("outbound", outbound),
    ("oci_layers", oci_layers),
];

/// The committed corpus of `target` (`fuzz/corpus/<target>` in the repository).
pub fn corpus_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}
