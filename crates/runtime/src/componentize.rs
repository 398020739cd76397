//! Core wasm modules, turned into components before they are compiled
//! (spec §1.2), so `spinshim up` and the shim's precompiler run them like
//! any component and the shim's cache holds the component's code.
//!
//! A WASI preview1 module gets wasmtime's preview1 adapter: the command
//! adapter when it exports `_start` (a WASI command: WAGI, the command
//! trigger), the reactor adapter otherwise.
//!
//! A Spin 1.x module (wit-bindgen 0.2: it exports `handle-http-request` or
//! `handle-redis-message` and imports `spin-config`, `key-value`, ...)
//! carries no component type, but its calls already follow the canonical
//! ABI that the unversioned `fermyon:spin` interfaces lower to, and
//! wit-component takes its `canonical_abi_realloc` as the realloc. So
//! [`spin_1`] renames its imports and handler exports to those interfaces'
//! names and gives it their world as its component type; then it is
//! adapted like any reactor module.

use std::borrow::Cow;

use anyhow::{Context as _, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

mod spin_1;

/// A core module's header: the Wasm magic and version 1.
const CORE_MODULE_HEADER: &[u8] = b"\0asm\x01\x00\x00\x00";

/// Whether `bytes` are a core module (not a component).
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.starts_with(CORE_MODULE_HEADER)
}

/// `bytes` as a component: components as they are, core modules adapted.
/// Errors start with `what` (`component "api"`, `layer sha256:…`) and say
/// what the module needs.
pub fn componentize<'a>(what: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if !is_core_module(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let exports =
        export_names(bytes).with_context(|| format!("{what}: reading its core module"))?;
    let spin_1_module;
    let (module, adapter) = if spin_1::is_spin_1_module(&exports) {
        spin_1_module = spin_1::as_typed_module(bytes)
            .map_err(|err| anyhow::anyhow!("{what}: reading its Spin 1.x module: {err:#}"))?;
        (&spin_1_module[..], WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
    } else if exports.iter().any(|name| name == "_start") {
        (bytes, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER)
    } else {
        (bytes, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
    };
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .and_then(|encoder| encoder.adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, adapter))
        .and_then(|mut encoder| encoder.encode())
        .map_err(|err| {
            anyhow::anyhow!("{what}: cannot make a component of its core module: {err:#}")
        })?;
    Ok(Cow::Owned(component))
}

/// The names a core module exports.
fn export_names(bytes: &[u8]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::ExportSection(exports) = payload? {
            for export in exports {
                names.push(export.map_err(anyhow::Error::from)?.name.to_string());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (memory (export "memory") 1) (func (export "_start")))`.
    const COMMAND_MODULE: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
        0x03, 0x02, 0x01, 0x00, // function section: one of type 0
        0x05, 0x03, 0x01, 0x00, 0x01, // memory section: one page
        0x07, 0x13, 0x02, // export section, two exports:
        0x06, b'_', b's', b't', b'a', b'r', b't', 0x00, 0x00, // _start
        0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, // memory
        0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: empty body
    ];

    #[test]
    fn a_command_module_becomes_a_component_and_components_stay() {
        let component = componentize("component \"c\"", COMMAND_MODULE).unwrap();
        assert!(crate::code::is_component_binary(&component));
        let again = componentize("component \"c\"", &component).unwrap();
        assert!(matches!(again, Cow::Borrowed(_)));
    }

    #[test]
    fn a_module_importing_what_no_adapter_provides_is_one_line_naming_it() {
        // `(module (import "env" "mystery" (func)))`
        let module: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
            0x02, 0x0f, 0x01, 0x03, b'e', b'n', b'v', 0x07, b'm', b'y', b's', b't', b'e', b'r',
            b'y', 0x00, 0x00,
        ];
        let err = componentize("component \"c\"", module)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("component \"c\": cannot make a component"),
            "{err}"
        );
        assert!(err.contains("env") && !err.contains('\n'), "{err}");
    }
}
