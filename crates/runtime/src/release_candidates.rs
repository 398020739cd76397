//! WASI release candidates that equal a release, renamed to that release
//! before compiling.
//!
//! Spin 4.0's Rust SDK (spin-sdk 6, wasip3 0.6) builds guests against
//! `wasi:*@0.3.0-rc-2026-03-15`. Those interfaces are the `@0.3.0` that
//! wasmtime 48 serves, function for function and type for type; only the
//! version in the names differs. wasmtime links prerelease versions only
//! by exact name, so rather than a second copy of every WASIp3 linker
//! entry (and a second HTTP handler path), the component's own top-level
//! import and export names are rewritten to the release. Everything else
//! is copied as it is: core modules byte for byte, nested components with
//! their names, because those are wired by name inside the component.
//!
//! The 2023 wasi:http candidates differ from 0.2 in their functions and
//! are served by their own bindings instead (not here).

use std::borrow::Cow;
use std::collections::HashSet;

use anyhow::{anyhow, Result};
use wasm_encoder::reencode::{self, ReencodeComponent};
use wasm_encoder::{ComponentExternName, ComponentSectionId, RawSection};

/// Version suffixes of candidates identical to a release, with that release.
const SAME_AS_RELEASE: &[(&str, &str)] = &[("@0.3.0-rc-2026-03-15", "@0.3.0")];

/// `component` with its top-level `wasi:` names at a candidate from
/// [`SAME_AS_RELEASE`] renamed to the release; borrowed when it has none.
/// A component that would then import or export one name twice (it used
/// the candidate and the release side by side) is refused; errors start
/// with `what`.
pub fn rename_to_releases<'a>(what: &str, component: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    let mentions_candidate = SAME_AS_RELEASE
        .iter()
        .any(|(candidate, _)| memchr::memmem::find(component, candidate.as_bytes()).is_some());
    if !mentions_candidate {
        return Ok(Cow::Borrowed(component));
    }
    let mut renamer = Renamer::default();
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

/// The release `name` equals, if it is a `wasi:` name at such a candidate.
fn release_name(name: &str) -> Option<String> {
    if !name.starts_with("wasi:") {
        return None;
    }
    SAME_AS_RELEASE.iter().find_map(|(candidate, release)| {
        name.strip_suffix(candidate)
            .map(|interface| format!("{interface}{release}"))
    })
}

/// Re-encodes a component, renaming at depth 0 only.
#[derive(Default)]
struct Renamer {
    depth: u32,
    renamed_any: bool,
    imports: HashSet<String>,
    exports: HashSet<String>,
}

impl Renamer {
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
        if let Some(release) = release_name(&original) {
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
    fn other_names_are_left_alone_without_copying() {
        for (import, export) in [
            (
                "wasi:clocks/monotonic-clock@0.3.0",
                "wasi:http/handler@0.3.0",
            ),
            (
                "wasi:io/poll@0.2.0-rc-2023-11-10",
                "wasi:http/incoming-handler@0.2.0-rc-2023-11-10",
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
