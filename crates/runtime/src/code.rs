//! Turning a component's code into something wasmtime can instantiate.
//!
//! Code reaches the host three ways: Wasm bytes (inline in a lock, or a
//! layer), a Wasm file named by the lock's `source`, or native code that
//! this host's own precompiler produced earlier (the shim's cache in
//! containerd's content store). Native code is the one input wasmtime must
//! trust blindly, so it is accepted only through [`ComponentCode::OwnPrecompiled`],
//! which the caller may use only for bytes [`Precompiler`] made.

use std::borrow::Cow;
use std::hash::{Hash, Hasher as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use spinshim_app::locked::{ContentRef, LockedComponent, LockedDependency};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use crate::compile_cache::CompileCache;
use crate::componentize::componentize;
use crate::compose;
use crate::engine::{build_engine, EngineOptions};
use crate::files::existing_local_path;
use crate::release_candidates::rename_to_releases;

/// A component's code as the caller has it.
pub enum ComponentCode<'a> {
    /// Wasm bytes (a component binary).
    Wasm(&'a [u8]),
    /// A Wasm file on disk.
    WasmFile(PathBuf),
    /// Native code from [`Precompiler::precompile`], read back from where
    /// the caller stored it. wasmtime still checks that the recorded
    /// version and settings match the engine's.
    OwnPrecompiled(&'a [u8]),
}

impl<'a> ComponentCode<'a> {
    /// The code of an image layer: native code only when the layer store
    /// says it holds our own precompiled output (`own_precompiled`) and
    /// the bytes are component code; anything else is treated as Wasm,
    /// which [`load`] refuses if it is native code after all.
    pub fn from_layer(bytes: &'a [u8], own_precompiled: bool) -> Self {
        match (own_precompiled, Engine::detect_precompiled(bytes)) {
            (true, Some(Precompiled::Component)) => Self::OwnPrecompiled(bytes),
            _ => Self::Wasm(bytes),
        }
    }
}

/// Where the start-up sequence gets each component's code.
pub trait CodeSource: Sync {
    /// The code of `component`.
    fn code<'a>(&'a self, component: &'a LockedComponent) -> Result<ComponentCode<'a>>;

    /// The Wasm of `component`'s dependency `key`. Sources that cannot hold
    /// dependencies keep the default, which says so.
    fn dependency_code<'a>(
        &'a self,
        component: &'a LockedComponent,
        key: &str,
        _dependency: &'a LockedDependency,
    ) -> Result<ComponentCode<'a>> {
        bail!(
            "component \"{}\": dependency \"{key}\": this code source does not carry \
             dependencies",
            component.id
        )
    }
}

/// Code named by the lock itself: inline bytes or a `file:` source.
pub struct FromLock;

impl CodeSource for FromLock {
    fn code<'a>(&'a self, component: &'a LockedComponent) -> Result<ComponentCode<'a>> {
        lock_content(&component.id, "wasm file", &component.source.content)
    }

    fn dependency_code<'a>(
        &'a self,
        component: &'a LockedComponent,
        key: &str,
        dependency: &'a LockedDependency,
    ) -> Result<ComponentCode<'a>> {
        let what = format!("dependency \"{key}\" wasm file");
        lock_content(&component.id, &what, &dependency.source.content)
    }
}

/// Inline bytes, or the local file a lock's `source` names; `what` names
/// it in errors after the component.
fn lock_content<'a>(id: &str, what: &str, content: &'a ContentRef) -> Result<ComponentCode<'a>> {
    if let Some(bytes) = &content.inline {
        return Ok(ComponentCode::Wasm(bytes));
    }
    let Some(source) = &content.source else {
        bail!("component \"{id}\": {what}: the lock gives no location");
    };
    Ok(ComponentCode::WasmFile(existing_local_path(
        id, what, source,
    )?))
}

/// Loads `component` from `code`, composed with its dependencies when it
/// has any, and through `cache` when there is one (Wasm only: our own
/// precompiled code needs no cache); errors name the component and the
/// dependency.
pub fn load_component(
    engine: &Engine,
    component: &LockedComponent,
    code: &dyn CodeSource,
    cache: Option<&CompileCache>,
) -> Result<Component> {
    let id = &component.id;
    let what = format!("component \"{id}\"");
    let composed = composed_wasm(component, code)?;
    let code = match &composed {
        Some(composed) => ComponentCode::Wasm(composed),
        None => code.code(component)?,
    };
    let cache = match (cache, &code) {
        (Some(cache), ComponentCode::Wasm(_) | ComponentCode::WasmFile(_)) => cache,
        _ => return load(engine, id, code),
    };
    let compiling = compiling_label(&code);
    let wasm = wasm_of(&what, code)?;
    cache.load_or_compile(engine, id, &wasm, || {
        compile(engine, &what, &compiling, &wasm)
    })
}

/// `component` composed with its dependencies, as one component binary;
/// `None` when it has no dependencies. `spinshim push` uses this to
/// pre-compose as `spin registry push` does.
pub fn composed_wasm(
    component: &LockedComponent,
    code: &dyn CodeSource,
) -> Result<Option<Vec<u8>>> {
    if component.dependencies.is_empty() {
        return Ok(None);
    }
    let what = format!("component \"{}\"", component.id);
    // Each part is made servable before composing: a candidate's renamed
    // members must match between a part's imports and what it is given.
    let root = servable_component(&what, &wasm_of(&what, code.code(component)?)?)?.into_owned();
    let dependencies = component
        .dependencies
        .iter()
        .map(|(key, dependency)| {
            let what = format!("{what}: dependency \"{key}\"");
            let wasm = wasm_of(&what, code.dependency_code(component, key, dependency)?)?;
            Ok(compose::Dependency {
                key,
                export: dependency.export.as_deref(),
                inherit: &dependency.inherit,
                component: servable_component(&what, &wasm)?.into_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    compose::compose(&component.id, root, dependencies).map(Some)
}

/// The Wasm bytes of `code` (its file read), refusing native code: only
/// [`load`] takes our own precompiled code, and composition needs Wasm.
fn wasm_of<'a>(what: &str, code: ComponentCode<'a>) -> Result<Cow<'a, [u8]>> {
    let bytes = match code {
        ComponentCode::Wasm(bytes) => Cow::Borrowed(bytes),
        ComponentCode::WasmFile(path) => Cow::Owned(
            std::fs::read(&path).with_context(|| format!("{what}: reading {}", path.display()))?,
        ),
        ComponentCode::OwnPrecompiled(_) => {
            bail!("{what}: has dependencies, so its code must be Wasm, not precompiled")
        }
    };
    if Engine::detect_precompiled(&bytes).is_some() {
        bail!("{what}: holds native code this host did not compile; images must carry Wasm");
    }
    Ok(bytes)
}

/// Loads `code` into `engine`; errors name the component.
pub fn load(engine: &Engine, id: &str, code: ComponentCode<'_>) -> Result<Component> {
    let what = format!("component \"{id}\"");
    if let ComponentCode::OwnPrecompiled(bytes) = code {
        if Engine::detect_precompiled(bytes) != Some(Precompiled::Component) {
            bail!("{what}: its precompiled code is not component code");
        }
        // SAFETY: the caller hands over only bytes our own `Precompiler`
        // produced (see `ComponentCode::OwnPrecompiled`); wasmtime checks
        // the version and settings recorded in them.
        return unsafe { Component::deserialize(engine, bytes) }
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{what}: loading its precompiled code"));
    }
    let compiling = compiling_label(&code);
    let wasm = wasm_of(&what, code)?;
    compile(engine, &what, &compiling, &wasm)
}

/// What compiling `code` is called in errors: the file, when there is one.
fn compiling_label(code: &ComponentCode<'_>) -> String {
    match code {
        ComponentCode::WasmFile(path) => format!("compiling {}", path.display()),
        _ => "compiling".to_owned(),
    }
}

/// Compiles `wasm` made servable; `what` and `compiling` name it in errors.
fn compile(engine: &Engine, what: &str, compiling: &str, wasm: &[u8]) -> Result<Component> {
    let component = servable_component(what, wasm)?;
    crate::allocator::cache_compile_threads();
    Component::new(engine, &component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{what}: {compiling}"))
}

/// The component wasmtime compiles for `wasm`: a core module made a
/// component, release-candidate names that match a release renamed to it.
/// The shim's precompiler, [`load`] and composition all go through here, so
/// cached code is the code `load` would have compiled.
fn servable_component<'a>(what: &str, wasm: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    match componentize(what, wasm)? {
        Cow::Borrowed(component) => rename_to_releases(what, component),
        Cow::Owned(component) => Ok(Cow::Owned(
            rename_to_releases(what, &component)?.into_owned(),
        )),
    }
}

/// A component binary starts with the Wasm magic and the component
/// version/layer fields (`0d 00 01 00`); core modules and native code don't.
pub fn is_component_binary(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [0x0d, 0x00, 0x01, 0x00]
}

/// Ahead-of-time compilation with an engine configured exactly like the
/// serving one, so that its output loads there.
pub struct Precompiler {
    engine: Engine,
}

impl Precompiler {
    /// A compile engine. It differs from the serving engine only in its
    /// allocator, which does not shape compiled code (a test keeps that true).
    pub fn new() -> Result<Self> {
        let engine = build_engine(&EngineOptions {
            disable_pooling: true,
            ..Default::default()
        })?;
        Ok(Self {
            engine: engine.engine().clone(),
        })
    }

    /// Native code for a component binary, or for the component a core
    /// module becomes (so the cache holds the component's code); `what`
    /// names the input in errors.
    pub fn precompile(&self, what: &str, wasm: &[u8]) -> Result<Vec<u8>> {
        let component = servable_component(what, wasm)?;
        crate::allocator::cache_compile_threads();
        Ok(self.engine.precompile_component(&component)?)
    }

    /// A hash of everything that makes native code loadable: wasmtime's
    /// version, the target and the code-shaping settings.
    pub fn compatibility_hash(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn precompiled_code_loads_in_the_serving_engine() {
        let code = Precompiler::new()
            .unwrap()
            .precompile("c", EMPTY_COMPONENT)
            .unwrap();
        for options in [
            EngineOptions::default(),
            EngineOptions {
                max_instance_memory: Some(16 << 20),
                ..Default::default()
            },
        ] {
            let serving = build_engine(&options).unwrap();
            let loaded = load(serving.engine(), "c", ComponentCode::OwnPrecompiled(&code));
            assert!(loaded.is_ok(), "{options:?}: {:?}", loaded.err());
        }
    }

    #[test]
    fn native_code_is_refused_as_wasm_and_wasm_as_native_code() {
        let engine = build_engine(&EngineOptions::default()).unwrap();
        let code = Precompiler::new()
            .unwrap()
            .precompile("c", EMPTY_COMPONENT)
            .unwrap();
        let err = load(engine.engine(), "c", ComponentCode::Wasm(&code)).unwrap_err();
        assert!(format!("{err:#}").contains("did not compile"), "{err:#}");
        let err = load(
            engine.engine(),
            "c",
            ComponentCode::OwnPrecompiled(EMPTY_COMPONENT),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("not component code"), "{err:#}");
        assert!(load(engine.engine(), "c", ComponentCode::Wasm(EMPTY_COMPONENT)).is_ok());
    }

    #[test]
    fn only_components_are_recognised() {
        assert!(is_component_binary(EMPTY_COMPONENT));
        assert!(!is_component_binary(b"\0asm\x01\x00\x00\x00"));
        assert!(!is_component_binary(b"\x7fELF\x02\x01\x01\x00"));
        assert!(!is_component_binary(b"\0asm"));
    }
}
