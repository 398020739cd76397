//! Ahead-of-time compilation of an image's components, cached by runwasi.
//!
//! The first time an image runs, runwasi hands us its layers; we return
//! native code for each component layer and runwasi stores it in
//! containerd's content store under
//! `runwasi.io/precompiled/spin/<hash of our cache key>`. Later starts get
//! that code back with `precompiled` set and skip compilation. The cache
//! key covers everything that makes native code loadable: wasmtime's
//! compatibility hash (its version, target and code-shaping settings) and
//! this shim's version. Shims on a node precompile one at a time (see
//! [`crate::precompile_lock`]).

use std::collections::HashSet;
use std::hash::Hash;

use anyhow::{Context as _, Result};
use containerd_shim_wasm::sandbox::context::WasmLayer;
use containerd_shim_wasm::shim::Compiler;
use spinshim_app::locked::LockedApp;
use spinshim_oci::media_types;
use spinshim_runtime::code::is_component_binary;
use spinshim_runtime::componentize::is_core_module;
use spinshim_runtime::Precompiler;

use crate::precompile_lock::PrecompileTurn;

/// Compiles component layers with the runtime's [`Precompiler`], whose
/// engine is configured exactly like the one that later runs them.
///
/// runwasi keeps the compiler for the shim's lifetime but needs only its
/// cache key on a warm start, so the compile engine (Cranelift's state,
/// about 2 MiB per shim) exists only while a first start compiles.
pub struct SpinCompiler {
    compatibility_hash: u64,
}

impl SpinCompiler {
    /// A compiler with the runtime's engine settings.
    pub fn new() -> Result<Self> {
        Ok(Self {
            compatibility_hash: Precompiler::new()?.compatibility_hash(),
        })
    }
}

impl Compiler for SpinCompiler {
    fn cache_key(&self) -> impl Hash {
        (self.compatibility_hash, env!("CARGO_PKG_VERSION"))
    }

    async fn compile(&self, layers: &[WasmLayer]) -> Result<Vec<Option<Vec<u8>>>> {
        let precompiler = Precompiler::new()?;
        let composed_at_start = composed_at_start(layers);
        let inputs: Vec<(CacheEntry, String, Vec<u8>)> = layers
            .iter()
            .map(|layer| {
                let digest = layer.config.digest().to_string();
                let entry = if composed_at_start.contains(&digest) {
                    CacheEntry::AsIs
                } else {
                    cache_entry(layer)
                };
                let bytes = match entry {
                    CacheEntry::Skip => Vec::new(),
                    _ => layer.layer.clone(),
                };
                (entry, digest, bytes)
            })
            .collect();
        let turn = PrecompileTurn::take().await;
        let results: Vec<Option<Vec<u8>>> = tokio::task::spawn_blocking(move || {
            inputs
                .into_iter()
                .map(|(entry, digest, bytes)| match entry {
                    CacheEntry::Compile => precompile(&precompiler, &digest, &bytes),
                    CacheEntry::AsIs => Some(bytes),
                    CacheEntry::Skip => None,
                })
                .collect()
        })
        .await
        .context("precompiling layers")?;
        turn.release_after_store(results.iter().flatten().map(Vec::len).sum());
        Ok(results)
    }
}

/// What the cache holds for one layer.
///
/// runwasi recompiles an image on every start unless *every* layer it
/// hands over has a cached counterpart, and it hands over the lock and
/// data layers too. Those are cached as they are (containerd stores
/// nothing twice: same bytes, same digest), and so is Wasm that is
/// neither a component nor a core module, which the runtime then rejects
/// from Wasm at start. A core module is made a component first, so the
/// cache holds the component's code.
/// Layers that arrive already precompiled (shared with an image that ran
/// before) are handed back as they are, so that runwasi marks this image
/// too. Only component code becomes native code; only layers with a Wasm
/// media type are ever loaded as code (see `spinshim_oci`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CacheEntry {
    /// A Wasm component or core module: cache its component's native code.
    Compile,
    /// Not code, other Wasm, or code we compiled before:
    /// cache the bytes unchanged.
    AsIs,
    /// A "Wasm" layer holding something else: nothing.
    Skip,
}

fn cache_entry(layer: &WasmLayer) -> CacheEntry {
    let media_type = layer.config.media_type().to_string();
    if layer.precompiled || !media_types::is_wasm(&media_type) {
        CacheEntry::AsIs
    } else if is_component_binary(&layer.layer) || is_core_module(&layer.layer) {
        CacheEntry::Compile
    } else if layer.layer.starts_with(b"\0asm") {
        CacheEntry::AsIs
    } else {
        CacheEntry::Skip
    }
}

/// The Wasm layers of components with dependencies (an app pushed
/// uncomposed) and of those dependencies. They are composed at every start
/// and must reach it as Wasm, so they are cached as they are: native code
/// for a composition would have to be keyed by the lock, not by a layer.
fn composed_at_start(layers: &[WasmLayer]) -> HashSet<String> {
    let Some(lock) = layers
        .iter()
        .rev()
        .find(|l| l.config.media_type().to_string() == media_types::LOCKED_APP)
    else {
        return HashSet::new();
    };
    let Ok(locked) = LockedApp::from_json(&lock.layer, "the lock layer") else {
        return HashSet::new();
    };
    locked
        .components
        .iter()
        .filter(|c| !c.dependencies.is_empty())
        .flat_map(|c| {
            std::iter::once(&c.source.content)
                .chain(c.dependencies.values().map(|d| &d.source.content))
        })
        .filter_map(|content| content.digest.clone())
        .collect()
}

/// Native code for one component (or core module), or `None` when it does
/// not compile; the
/// layer is then compiled at start, where the error reaches the container log.
fn precompile(precompiler: &Precompiler, digest: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match precompiler.precompile(&format!("layer {digest}"), bytes) {
        Ok(code) => Some(code),
        Err(err) => {
            log::error!("precompiling layer {digest} failed: {err:#}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn layer(media_type: &str, bytes: &[u8], precompiled: bool) -> WasmLayer {
        use oci_spec::image::{Descriptor, MediaType};
        let digest = format!("sha256:{}", "0".repeat(64));
        WasmLayer {
            config: Descriptor::new(
                MediaType::Other(media_type.to_string()),
                bytes.len() as u64,
                oci_spec::image::Digest::try_from(digest).unwrap(),
            ),
            precompiled,
            layer: bytes.to_vec(),
        }
    }

    #[test]
    fn each_layer_gets_the_right_cache_entry() {
        use media_types::*;
        let core_module = b"\0asm\x01\x00\x00\x00";
        let native = b"\x7fELF\x02\x01\x01\x00";
        for (media_type, bytes, precompiled, expected) in [
            (WASM_LAYER, EMPTY_COMPONENT, false, CacheEntry::Compile),
            (WASM, EMPTY_COMPONENT, false, CacheEntry::Compile),
            (WASM_LAYER, b"\x7fELF our code", true, CacheEntry::AsIs),
            (WASM_LAYER, core_module, false, CacheEntry::Compile),
            (
                WASM_LAYER,
                b"\0asm\x02\x00\x00\x00",
                false,
                CacheEntry::AsIs,
            ),
            (WASM_LAYER, native, false, CacheEntry::Skip),
            (LOCKED_APP, b"{}", false, CacheEntry::AsIs),
            (DATA_LAYER, native, false, CacheEntry::AsIs),
            (ARCHIVE_LAYER, b"\x1f\x8b", false, CacheEntry::AsIs),
        ] {
            assert_eq!(
                cache_entry(&layer(media_type, bytes, precompiled)),
                expected,
                "{media_type} {bytes:?} precompiled={precompiled}"
            );
        }
    }
}
