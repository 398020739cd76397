//! Core wasm modules, turned into components before they are compiled
//! (spec §1.2), so `spinshim up` and the shim's precompiler run them like
//! any component and the shim's cache holds the component's code.
//!
//! A WASI preview1 module gets wasmtime's preview1 adapter: the command
//! adapter when it exports `_start` (a WASI command: WAGI, the command
//! trigger), the reactor adapter otherwise. Spin 1.x modules (wit-bindgen
//! 0.2 exports such as `handle-http-request`) need Spin's own adapter for
//! their old calling convention, which this host does not have yet; they
//! are refused with a line saying so.

use std::borrow::Cow;

use anyhow::{bail, Context as _, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

/// A core module's header: the Wasm magic and version 1.
const CORE_MODULE_HEADER: &[u8] = b"\0asm\x01\x00\x00\x00";

/// Exports of Spin 1.x (wit-bindgen 0.2) modules.
const SPIN_1_EXPORTS: &[&str] = &["handle-http-request", "handle-redis-message"];

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
    if let Some(spin_1) = exports
        .iter()
        .find(|name| SPIN_1_EXPORTS.contains(&name.as_str()))
    {
        bail!(
            "{what} is a Spin 1.x core module (it exports {spin_1}): running these is not \
             supported yet; rebuild it with a current Spin SDK"
        );
    }
    let adapter = if exports.iter().any(|name| name == "_start") {
        WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
    } else {
        WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
    };
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
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
