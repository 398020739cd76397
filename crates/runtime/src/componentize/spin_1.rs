//! Spin 1.x (wit-bindgen 0.2) core modules, given the component type that
//! makes them ordinary reactor modules.
//!
//! Such a module imports `spin-config.get-config`, `key-value.open`, ...
//! and exports `handle-http-request`, with no component type embedded.
//! Their argument and result passing is the canonical ABI's, so renaming
//! each import and handler to its unversioned `fermyon:spin` name and
//! embedding the `spin-1-module` world (`wit/spin-legacy/module.wit`) is
//! nearly all wit-component needs.
//!
//! The exception is the realloc. wasi-libc wraps each export of a command
//! module, `canonical_abi_realloc` included, in calls that run the module's
//! constructors before and destructors after; the constructors read the
//! environment through WASI. Spin 1.x called the realloc as any export, but
//! the canonical ABI forbids a realloc to call out of the component (it
//! traps with "cannot leave component instance"). So those two calls are
//! overwritten with `nop`s in the realloc alone ([`realloc_wrapper_calls`]);
//! the handler's own wrapper still runs the constructors before the
//! handler does.

use std::borrow::Cow;

use anyhow::{bail, Context as _, Result};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ExportSection, ImportSection, Module, RawSection};
use wasmparser::{Parser, Payload};
use wit_parser::{Resolve, SourceMap, WorldKey};

/// A handler export, the world export it belongs to and its new name.
struct Handler {
    export: &'static str,
    interface: &'static str,
    renamed: &'static str,
}

const HANDLERS: &[Handler] = &[
    Handler {
        export: "handle-http-request",
        interface: "inbound-http",
        renamed: "fermyon:spin/inbound-http#handle-request",
    },
    Handler {
        export: "handle-redis-message",
        interface: "inbound-redis",
        renamed: "fermyon:spin/inbound-redis#handle-message",
    },
];

/// Each Spin 1.x import module and the interface it is now.
const IMPORT_MODULES: &[(&str, &str)] = &[
    ("spin-config", "fermyon:spin/config"),
    ("wasi-outbound-http", "fermyon:spin/http"),
    ("outbound-redis", "fermyon:spin/redis"),
    ("key-value", "fermyon:spin/key-value"),
    ("sqlite", "fermyon:spin/sqlite"),
    ("outbound-pg", "fermyon:spin/postgres"),
    ("outbound-mysql", "fermyon:spin/mysql"),
];

/// The one function whose name changed with its interface.
const RENAMED_FUNCTIONS: &[(&str, &str, &str)] =
    &[("wasi-outbound-http", "request", "send-request")];

/// The WIT of the world and every interface it names.
const WIT_FILES: &[(&str, &str)] = &[
    (
        "module.wit",
        include_str!("../../wit/spin-legacy/module.wit"),
    ),
    (
        "config.wit",
        include_str!("../../wit/spin-legacy/config.wit"),
    ),
    (
        "inbound-http.wit",
        include_str!("../../wit/spin-legacy/inbound-http.wit"),
    ),
    ("redis.wit", include_str!("../../wit/spin-legacy/redis.wit")),
    (
        "key-value.wit",
        include_str!("../../wit/spin-legacy/key-value.wit"),
    ),
    (
        "sqlite.wit",
        include_str!("../../wit/spin-legacy/sqlite.wit"),
    ),
    ("rdbms.wit", include_str!("../../wit/spin-legacy/rdbms.wit")),
];

const WORLD: &str = "spin-1-module";

/// Whether a module exporting `exports` is a Spin 1.x module.
pub fn is_spin_1_module(exports: &[String]) -> bool {
    exports
        .iter()
        .any(|name| HANDLERS.iter().any(|h| h.export == name))
}

/// The module with its imports and handlers renamed and the component
/// type embedded.
pub fn as_typed_module(module: &[u8]) -> Result<Vec<u8>> {
    let mut module = module.to_vec();
    for call in realloc_wrapper_calls(&module)? {
        module[call].fill(NOP);
    }
    let (mut renamed, handlers) = renamed(&module)?;
    let (resolve, world) = world_exporting(&handlers)?;
    wit_component::embed_component_metadata(
        &mut renamed,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    Ok(renamed)
}

/// The `nop` instruction's opcode.
const NOP: u8 = 0x01;

/// Where the realloc export calls the module's constructors and
/// destructors: a call to a function taking and returning nothing that is
/// its first instruction, or its last call when only `local.get`s follow
/// it. Empty when the realloc is not wrapped.
fn realloc_wrapper_calls(module: &[u8]) -> Result<Vec<std::ops::Range<usize>>> {
    use wasmparser::{Operator, TypeRef};

    let mut types = Vec::new();
    let mut function_types = Vec::new();
    let mut realloc = None;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    types.push(ty.params().is_empty() && ty.results().is_empty());
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(ty) = import?.ty {
                        function_types.push(ty);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    function_types.push(ty?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.name == "canonical_abi_realloc" {
                        realloc = Some(export.index);
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }
    let Some(realloc) = realloc else {
        return Ok(Vec::new());
    };
    let imported = function_types.len() - bodies.len();
    let Some(body) = (realloc as usize)
        .checked_sub(imported)
        .and_then(|i| bodies.get(i))
    else {
        return Ok(Vec::new());
    };
    let takes_nothing = |function: u32| {
        function_types
            .get(function as usize)
            .and_then(|ty| types.get(*ty as usize))
            .copied()
            .unwrap_or(false)
    };

    let mut operators = Vec::new();
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let (operator, offset) = reader.read_with_offset()?;
        operators.push((operator, offset));
    }
    let end = reader.original_position();
    let span = |i: usize| operators[i].1..operators.get(i + 1).map_or(end, |next| next.1);

    let mut calls = Vec::new();
    if let Some((Operator::Call { function_index }, _)) = operators.first() {
        if takes_nothing(*function_index) {
            calls.push(span(0));
        }
    }
    let last_call = operators
        .iter()
        .rposition(|(op, _)| !matches!(op, Operator::LocalGet { .. } | Operator::End));
    if let Some(i) = last_call.filter(|i| *i > 0) {
        if let (Operator::Call { function_index }, _) = operators[i] {
            if takes_nothing(function_index) {
                calls.push(span(i));
            }
        }
    }
    Ok(calls)
}

/// The module with new names, and the handlers it exports.
fn renamed(module: &[u8]) -> Result<(Vec<u8>, Vec<&'static Handler>)> {
    let mut out = Module::new();
    let mut handlers = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import?;
                    let (module, name) = import_name(import.module, import.name);
                    imports.import(module, &name, RoundtripReencoder.entity_type(import.ty)?);
                }
                out.section(&imports);
            }
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export?;
                    let handler = HANDLERS.iter().find(|h| h.export == export.name);
                    let name = match handler {
                        Some(handler) => {
                            handlers.push(handler);
                            handler.renamed
                        }
                        None => export.name,
                    };
                    exports.export(
                        name,
                        RoundtripReencoder.export_kind(export.kind)?,
                        export.index,
                    );
                }
                out.section(&exports);
            }
            payload => {
                if let Some((id, range)) = payload.as_section() {
                    out.section(&RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    Ok((out.finish(), handlers))
}

/// What a Spin 1.x import is called now; others keep their names (WASI
/// goes to the adapter, anything else fails naming itself).
fn import_name<'a>(module: &'a str, name: &'a str) -> (&'a str, Cow<'a, str>) {
    let Some((_, interface)) = IMPORT_MODULES.iter().find(|(old, _)| *old == module) else {
        return (module, Cow::Borrowed(name));
    };
    let function = RENAMED_FUNCTIONS
        .iter()
        .find(|(m, old, _)| *m == module && *old == name)
        .map_or(name, |(_, _, new)| new);
    (interface, Cow::Borrowed(function))
}

/// The `spin-1-module` world, exporting only `handlers`' interfaces.
fn world_exporting(handlers: &[&Handler]) -> Result<(Resolve, wit_parser::WorldId)> {
    let mut sources = SourceMap::new();
    for (path, text) in WIT_FILES {
        sources.push_str(path, *text);
    }
    let group = sources
        .parse()
        .map_err(|(_, err)| anyhow::anyhow!("{err}"))
        .context("parsing the Spin 1.x WIT")?;
    let mut resolve = Resolve::default();
    let package = resolve
        .push_group(group)
        .map_err(|err| anyhow::anyhow!("{err:?}"))
        .context("resolving the Spin 1.x WIT")?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    let interface_name = |key: &WorldKey| match key {
        WorldKey::Name(name) => Some(name.clone()),
        WorldKey::Interface(id) => resolve.interfaces[*id].name.clone(),
    };
    let kept: Vec<WorldKey> = resolve.worlds[world]
        .exports
        .keys()
        .filter(|key| {
            interface_name(key).is_some_and(|name| handlers.iter().any(|h| h.interface == name))
        })
        .cloned()
        .collect();
    if kept.is_empty() {
        bail!("exports no Spin 1.x handler");
    }
    resolve.worlds[world]
        .exports
        .retain(|key, _| kept.contains(key));
    Ok((resolve, world))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_take_their_interface_names_and_wasi_stays() {
        assert_eq!(
            import_name("wasi-outbound-http", "request"),
            ("fermyon:spin/http", Cow::Borrowed("send-request"))
        );
        assert_eq!(
            import_name("key-value", "get-keys"),
            ("fermyon:spin/key-value", Cow::Borrowed("get-keys"))
        );
        assert_eq!(
            import_name("wasi_snapshot_preview1", "fd_write"),
            ("wasi_snapshot_preview1", Cow::Borrowed("fd_write"))
        );
    }

    #[test]
    fn the_world_exports_only_the_handlers_present() {
        let http = &HANDLERS[0];
        let (resolve, world) = world_exporting(&[http]).unwrap();
        assert_eq!(resolve.worlds[world].exports.len(), 1);
        assert!(resolve.worlds[world].imports.len() >= 7);
        assert!(world_exporting(&[]).is_err());
    }
}
