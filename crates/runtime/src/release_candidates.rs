//! WASI release candidates that (nearly) equal a release, renamed to that
//! release before compiling.
//!
//! wasmtime links prerelease versions only by exact name. Rather than a
//! second copy of every linker entry (and a second HTTP handler path) for
//! each candidate, the component's own top-level import and export names
//! are rewritten to the release, so the release's host serves it:
//!
//! - Spin 4.0's Rust SDK (spin-sdk 6, wasip3 0.6) builds against
//!   `wasi:*@0.3.0-rc-2026-03-15`: the `@0.3.0` of wasmtime 48, function
//!   for function and type for type.
//! - Spin 2.1-era guests use `wasi:*@0.2.0-rc-2023-11-10`. Its io, clocks,
//!   random, cli and filesystem are 0.2's; its wasi:http differs in
//!   seven functions of `types`: the request-options accessors end in `-ms`
//!   (same types), renamed here to 0.2's names, and `future-trailers.get`
//!   has one result layer less, renamed to [`FUTURE_TRAILERS_GET_RC_2023_11_10`],
//!   which [`add_to_linker`] serves. (Its sockets differ more; a guest
//!   importing them fails to link, naming the function.)
//!
//! - Spin 2.0-era guests (spin-sdk 2.x) use `wasi:http@0.2.0-rc-2023-10-18`,
//!   which differs from 0.2 throughout. Only its `incoming-handler` export
//!   is renamed (to 0.2's, whose function has the same shape); its imports
//!   keep their names and are served by [`rc_2023_10_18`], whose resources
//!   are 0.2's host types, so the 0.2 handler path serves the export.
//!
//! Everything else is copied as it is: core modules byte for byte, nested
//! components with their names, because those are wired by name inside
//! the component.

use std::borrow::Cow;
use std::collections::HashSet;

use anyhow::{anyhow, Result};
use wasm_encoder::reencode::{self, ReencodeComponent};
use wasm_encoder::{ComponentExternName, ComponentSectionId, RawSection};
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi_http::p2::bindings::http::types::{self, ErrorCode};
use wasmtime_wasi_http::p2::body;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::store::InstanceState;

mod rc_2023_10_18;

/// A candidate served as a release.
struct Candidate {
    /// Its version suffix.
    suffix: &'static str,
    /// The release's.
    release: &'static str,
    /// Whether only exports are renamed (the imports being served as
    /// they are).
    exports_only: bool,
    /// Function names (inside its imported instances) that differ from the
    /// release's, with the names they get.
    renamed_members: &'static [(&'static str, &'static str)],
}

const CANDIDATES: &[Candidate] = &[
    Candidate {
        suffix: "@0.3.0-rc-2026-03-15",
        release: "@0.3.0",
        exports_only: false,
        renamed_members: &[],
    },
    Candidate {
        suffix: "@0.2.0-rc-2023-11-10",
        release: "@0.2.0",
        exports_only: false,
        renamed_members: &[
            (
                "[method]request-options.connect-timeout-ms",
                "[method]request-options.connect-timeout",
            ),
            (
                "[method]request-options.set-connect-timeout-ms",
                "[method]request-options.set-connect-timeout",
            ),
            (
                "[method]request-options.first-byte-timeout-ms",
                "[method]request-options.first-byte-timeout",
            ),
            (
                "[method]request-options.set-first-byte-timeout-ms",
                "[method]request-options.set-first-byte-timeout",
            ),
            (
                "[method]request-options.between-bytes-timeout-ms",
                "[method]request-options.between-bytes-timeout",
            ),
            (
                "[method]request-options.set-between-bytes-timeout-ms",
                "[method]request-options.set-between-bytes-timeout",
            ),
            (
                "[method]future-trailers.get",
                FUTURE_TRAILERS_GET_RC_2023_11_10,
            ),
        ],
    },
    Candidate {
        suffix: "@0.2.0-rc-2023-10-18",
        release: "@0.2.0",
        exports_only: true,
        renamed_members: &[],
    },
];

/// The name 2023-11-10's `future-trailers.get` is linked under: it returns
/// `option<result<option<trailers>, error-code>>`, where 0.2 wraps the
/// inner result in one more `result`.
pub const FUTURE_TRAILERS_GET_RC_2023_11_10: &str = "[method]future-trailers.get-rc20231110";

/// The wasi:http types instance wasmtime-wasi-http 48 links (0.2 imports
/// match it by semver).
const LINKED_HTTP_TYPES: &str = "wasi:http/types@0.2.12";

/// `component` with its top-level `wasi:` names at a candidate from
/// [`CANDIDATES`] renamed to the release (and the candidate's differing
/// members renamed); borrowed when it has none.
/// A component that would then import or export one name twice (it used
/// the candidate and the release side by side) is refused; errors start
/// with `what`.
pub fn rename_to_releases<'a>(what: &str, component: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if !CANDIDATES
        .iter()
        .any(|c| memchr::memmem::find(component, c.suffix.as_bytes()).is_some())
    {
        return Ok(Cow::Borrowed(component));
    }
    let top_level = top_level_names(component)
        .map_err(|err| anyhow!("{what}: reading its import and export names: {err}"))?;
    let mentioned: Vec<&'static Candidate> = CANDIDATES
        .iter()
        .filter(|c| top_level.iter().any(|name| name.ends_with(c.suffix)))
        .collect();
    if mentioned.is_empty() {
        return Ok(Cow::Borrowed(component));
    }
    let mut renamer = Renamer {
        candidates: mentioned,
        ..Renamer::default()
    };
    let mut renamed = wasm_encoder::Component::new();
    renamer
        .parse_component(&mut renamed, wasmparser::Parser::new(0), component)
        .map_err(|err| match err {
            reencode::Error::UserError(message) => anyhow!("{what}: {message}"),
            other => anyhow!("{what}: reading its import and export names: {other}"),
        })?;
    if !renamer.renamed_any {
        return Ok(Cow::Borrowed(component));
    }
    Ok(Cow::Owned(renamed.finish()))
}

/// The component's own (top-level) import and export names: a candidate
/// is served only where the component itself names it, not where a
/// component nested inside it does.
fn top_level_names(component: &[u8]) -> wasmparser::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut depth = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    names.push(import?.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    names.push(export?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Re-encodes a component: top-level names at a mentioned candidate
/// become the release's, and the candidates' differing members are
/// renamed in the outer component's types and aliases.
#[derive(Default)]
struct Renamer {
    candidates: Vec<&'static Candidate>,
    /// Nesting of everything (types included): 0 is the top level.
    depth: u32,
    /// Nesting of components only.
    component_depth: u32,
    renamed_any: bool,
    imports: HashSet<String>,
    exports: HashSet<String>,
}

impl Renamer {
    /// The release `name` equals, if it is a `wasi:` name at a candidate
    /// that renames `kind`s ("import" or "export").
    fn release_name(&self, kind: &str, name: &str) -> Option<String> {
        if !name.starts_with("wasi:") {
            return None;
        }
        self.candidates
            .iter()
            .filter(|c| kind == "export" || !c.exports_only)
            .find_map(|c| {
                name.strip_suffix(c.suffix)
                    .map(|interface| format!("{interface}{}", c.release))
            })
    }

    /// A member name of the outer component's instances, renamed when a
    /// mentioned candidate renames it.
    fn member<'n>(&self, name: &'n str) -> &'n str {
        if self.component_depth > 0 {
            return name;
        }
        self.candidates
            .iter()
            .flat_map(|c| c.renamed_members)
            .find(|(from, _)| *from == name)
            .map_or(name, |(_, to)| to)
    }

    /// `name`, renamed when it is a top-level candidate name; `kind` is
    /// "import" or "export". Top-level names are remembered per kind to
    /// catch a rename that collides.
    fn rename<'n>(
        &mut self,
        kind: &str,
        name: wasmparser::ComponentExternName<'n>,
    ) -> Result<ComponentExternName<'n>, reencode::Error<String>> {
        let mut encoded = ComponentExternName::from(name);
        if self.depth > 0 {
            return Ok(encoded);
        }
        let original = encoded.name.to_string();
        if let Some(release) = self.release_name(kind, &original) {
            encoded.name = Cow::Owned(release);
            self.renamed_any = true;
        }
        let seen = if kind == "import" {
            &mut self.imports
        } else {
            &mut self.exports
        };
        if !seen.insert(encoded.name.to_string()) {
            return Err(reencode::Error::UserError(format!(
                "it {kind}s {} twice, once as {original}; a component may use the release \
                 candidate or the release of an interface, not both",
                encoded.name
            )));
        }
        Ok(encoded)
    }
}

impl reencode::Reencode for Renamer {
    type Error = String;
}

impl ReencodeComponent for Renamer {
    fn push_depth(&mut self) {
        self.depth += 1;
    }

    fn pop_depth(&mut self) {
        self.depth -= 1;
    }

    fn parse_component_subcomponent(
        &mut self,
        component: &mut wasm_encoder::Component,
        parser: wasmparser::Parser,
        subcomponent: &[u8],
        whole_component: &[u8],
    ) -> Result<(), reencode::Error<String>> {
        self.component_depth += 1;
        let parsed = reencode::component_utils::parse_component_subcomponent(
            self,
            component,
            parser,
            subcomponent,
            whole_component,
        );
        self.component_depth -= 1;
        parsed
    }

    fn parse_component_instance_type_declaration(
        &mut self,
        instance: &mut wasm_encoder::InstanceType,
        decl: wasmparser::InstanceTypeDeclaration<'_>,
    ) -> Result<(), reencode::Error<String>> {
        match decl {
            wasmparser::InstanceTypeDeclaration::Export { name, ty } => {
                let ty = self.component_type_ref(ty)?;
                let mut encoded = ComponentExternName::from(name);
                encoded.name = Cow::Owned(self.member(&encoded.name).to_owned());
                instance.export(encoded, ty);
                Ok(())
            }
            other => reencode::component_utils::parse_component_instance_type_declaration(
                self, instance, other,
            ),
        }
    }

    fn component_alias<'a>(
        &mut self,
        alias: wasmparser::ComponentAlias<'a>,
    ) -> Result<wasm_encoder::Alias<'a>, reencode::Error<String>> {
        match alias {
            wasmparser::ComponentAlias::InstanceExport {
                kind,
                instance_index,
                name,
            } => Ok(wasm_encoder::Alias::InstanceExport {
                instance: self.component_instance_index(instance_index),
                kind: kind.into(),
                name: self.member(name),
            }),
            other => reencode::component_utils::component_alias(self, other),
        }
    }

    /// Core modules are copied as they are: nothing in them is renamed and
    /// re-encoding their code would only cost time.
    fn parse_component_submodule(
        &mut self,
        component: &mut wasm_encoder::Component,
        _parser: wasmparser::Parser,
        module: &[u8],
    ) -> Result<(), reencode::Error<String>> {
        component.section(&RawSection {
            id: ComponentSectionId::CoreModule.into(),
            data: module,
        });
        Ok(())
    }

    fn parse_component_import_section(
        &mut self,
        imports: &mut wasm_encoder::ComponentImportSection,
        section: wasmparser::ComponentImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<String>> {
        for import in section {
            let import = import?;
            let name = self.rename("import", import.name)?;
            imports.import(name, self.component_type_ref(import.ty)?);
        }
        Ok(())
    }

    fn parse_component_export(
        &mut self,
        exports: &mut wasm_encoder::ComponentExportSection,
        export: wasmparser::ComponentExport<'_>,
    ) -> Result<(), reencode::Error<String>> {
        let name = self.rename("export", export.name)?;
        let ty = export
            .ty
            .map(|ty| self.component_type_ref(ty))
            .transpose()?;
        let index = self.component_external_index(export.kind, export.index);
        exports.export(name, export.kind.into(), index, ty);
        Ok(())
    }
}

/// Links what the candidates need beyond the release: 2023-11-10's
/// `future-trailers.get`, answered from 0.2's, and 2023-10-18's imports.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    rc_2023_10_18::add_to_linker(linker)?;
    linker.instance(LINKED_HTTP_TYPES)?.func_wrap(
        FUTURE_TRAILERS_GET_RC_2023_11_10,
        |mut store: StoreContextMut<'_, InstanceState>,
         (trailers,): (Resource<body::HostFutureTrailers>,)| {
            let mut http = store.data_mut().http();
            let got = types::HostFutureTrailers::get(&mut http, trailers)?;
            let got = got.map(|once| match once {
                Ok(result) => result,
                Err(()) => Err(ErrorCode::InternalError(Some(
                    "the trailers were taken already".into(),
                ))),
            });
            Ok((got,))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component importing an interface instance named `import` and
    /// exporting a nested instance of one function named `export`, with a
    /// core module inside, all in WAT.
    fn component(import: &str, export: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                 (import "{import}" (instance))
                 (core module $m (func (export "f")))
                 (core instance $i (instantiate $m))
                 (func $f (canon lift (core func $i "f")))
                 (instance $out (export "f" (func $f)))
                 (export "{export}" (instance $out)))"#
        ))
        .unwrap()
    }

    fn names(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                wasmparser::Payload::ComponentImportSection(section) => imports.extend(
                    section
                        .into_iter()
                        .map(|i| i.unwrap().name.name.to_string()),
                ),
                wasmparser::Payload::ComponentExportSection(section) => exports.extend(
                    section
                        .into_iter()
                        .map(|e| e.unwrap().name.name.to_string()),
                ),
                _ => {}
            }
        }
        (imports, exports)
    }

    /// The member names in a component's instance types and aliases.
    fn members(bytes: &[u8]) -> Vec<String> {
        let mut members = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                wasmparser::Payload::ComponentTypeSection(types) => {
                    for ty in types {
                        if let wasmparser::ComponentType::Instance(decls) = ty.unwrap() {
                            for decl in decls.iter() {
                                if let wasmparser::InstanceTypeDeclaration::Export {
                                    name, ..
                                } = decl
                                {
                                    members.push(name.name.to_string());
                                }
                            }
                        }
                    }
                }
                wasmparser::Payload::ComponentAliasSection(aliases) => {
                    for alias in aliases {
                        if let wasmparser::ComponentAlias::InstanceExport { name, .. } =
                            alias.unwrap()
                        {
                            members.push(format!("alias {name}"));
                        }
                    }
                }
                _ => {}
            }
        }
        members
    }

    #[test]
    fn candidate_names_become_the_release_and_the_component_stays_valid() {
        let bytes = component(
            "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15",
            "wasi:http/handler@0.3.0-rc-2026-03-15",
        );
        let renamed = rename_to_releases("c", &bytes).unwrap();
        assert!(matches!(renamed, Cow::Owned(_)));
        wasmparser::Validator::new().validate_all(&renamed).unwrap();
        assert_eq!(
            names(&renamed),
            (
                vec!["wasi:clocks/monotonic-clock@0.3.0".to_string()],
                vec!["wasi:http/handler@0.3.0".to_string()]
            )
        );
    }

    #[test]
    fn the_2023_10_18_handler_export_becomes_0_2_and_its_imports_stay() {
        let bytes = component(
            "wasi:io/poll@0.2.0-rc-2023-10-18",
            "wasi:http/incoming-handler@0.2.0-rc-2023-10-18",
        );
        let renamed = rename_to_releases("c", &bytes).unwrap();
        wasmparser::Validator::new().validate_all(&renamed).unwrap();
        assert_eq!(
            names(&renamed),
            (
                vec!["wasi:io/poll@0.2.0-rc-2023-10-18".to_string()],
                vec!["wasi:http/incoming-handler@0.2.0".to_string()]
            )
        );
    }

    #[test]
    fn a_candidate_named_only_inside_a_nested_component_renames_nothing_outside() {
        let bytes = wat::parse_str(
            r#"(component
                 (type $types (instance
                   (export "future-trailers" (type $ft (sub resource)))
                   (export "[method]future-trailers.get" (func (param "self" (borrow $ft)) (result u32)))))
                 (import "wasi:http/types@0.2.0" (instance $i (type $types)))
                 (import "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15" (instance))
                 (alias export $i "[method]future-trailers.get" (func $get))
                 (component $nested
                   (import "wasi:http/types@0.2.0-rc-2023-11-10" (instance))))"#,
        )
        .unwrap();
        let renamed = rename_to_releases("c", &bytes).unwrap();
        wasmparser::Validator::new().validate_all(&renamed).unwrap();
        // The nested component keeps its candidate name (listed last).
        assert_eq!(
            names(&renamed).0,
            [
                "wasi:http/types@0.2.0",
                "wasi:clocks/monotonic-clock@0.3.0",
                "wasi:http/types@0.2.0-rc-2023-11-10"
            ]
        );
        let members = members(&renamed);
        assert!(
            members.contains(&"[method]future-trailers.get".to_string())
                && members.contains(&"alias [method]future-trailers.get".to_string()),
            "{members:?}"
        );
    }

    #[test]
    fn other_names_are_left_alone_without_copying() {
        for (import, export) in [
            (
                "wasi:clocks/monotonic-clock@0.3.0",
                "wasi:http/handler@0.3.0",
            ),
            (
                "my:pkg/iface@0.3.0-rc-2026-03-15",
                "wasi:http/incoming-handler@0.2.6",
            ),
        ] {
            let bytes = component(import, export);
            assert!(matches!(
                rename_to_releases("c", &bytes).unwrap(),
                Cow::Borrowed(_)
            ));
        }
    }

    #[test]
    fn members_2023_11_10_names_differently_are_renamed_in_types_and_aliases() {
        let bytes = wat::parse_str(
            r#"(component
                 (type $types (instance
                   (export "future-trailers" (type $ft (sub resource)))
                   (export "request-options" (type $ro (sub resource)))
                   (export "[method]future-trailers.get" (func (param "self" (borrow $ft)) (result u32)))
                   (export "[method]request-options.connect-timeout-ms" (func (param "self" (borrow $ro)) (result (option u64))))))
                 (import "wasi:http/types@0.2.0-rc-2023-11-10" (instance $i (type $types)))
                 (alias export $i "[method]future-trailers.get" (func $get))
                 (alias export $i "[method]request-options.connect-timeout-ms" (func $timeout)))"#,
        )
        .unwrap();
        let renamed = rename_to_releases("c", &bytes).unwrap();
        wasmparser::Validator::new().validate_all(&renamed).unwrap();
        assert_eq!(names(&renamed).0, ["wasi:http/types@0.2.0"]);
        let members = members(&renamed);
        assert_eq!(
            members,
            [
                "future-trailers",
                "request-options",
                FUTURE_TRAILERS_GET_RC_2023_11_10,
                "[method]request-options.connect-timeout",
                "alias [method]future-trailers.get-rc20231110",
                "alias [method]request-options.connect-timeout",
            ]
        );
    }

    #[test]
    fn the_candidate_beside_its_release_is_refused_naming_both() {
        let bytes = wat::parse_str(
            r#"(component
                 (import "wasi:random/random@0.3.0" (instance))
                 (import "wasi:random/random@0.3.0-rc-2026-03-15" (instance)))"#,
        )
        .unwrap();
        let err = rename_to_releases("component \"api\"", &bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "component \"api\": it imports wasi:random/random@0.3.0 twice, once as \
             wasi:random/random@0.3.0-rc-2026-03-15; a component may use the release \
             candidate or the release of an interface, not both"
        );
    }
}
