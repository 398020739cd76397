//! Capabilities a dependency does not inherit, answered as Spin's deny
//! adapter answers them (spec §1.2).
//!
//! [`crate::compose`] plugs such an import of a dependency with an import
//! of the composition named by [`denied_name`], so the dependency and its
//! parent reach different host functions although they import the same
//! interface. Two kinds of answer serve those names:
//!
//! - WASI 0.2's environment and preopens, linked once by
//!   [`add_to_linker`]: no variables, arguments or working directory, no
//!   preopened directories.
//! - Every other capability interface, linked for the component that
//!   imports it by [`link_denials`], function by function from the types
//!   the component imports: what lists or may be absent answers empty or
//!   none, what can fail fails with the interface's own denial
//!   (`access-denied`, `HTTP-request-denied`, `destination-not-allowed`,
//!   `invalid-address`, `connection-failed`, `invalid-input`, `undefined`;
//!   Spin 1.x's `provider` and `error`),
//!   what returns nothing does nothing, and anything else (a method of a
//!   resource the dependency cannot have obtained) traps.

use anyhow::Result;
use spinshim_app::dependencies::capability_group;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, Resource, ResourceType, Val};
use wasmtime::Engine;
use wasmtime_wasi::filesystem::Descriptor;

use crate::store::InstanceState;

/// The namespace of the renamed imports.
const NAMESPACE: &str = "spinshim-denied";

/// WASI 0.2 interfaces answered here, and the version linked (later 0.2
/// imports match it by semver).
const SERVED: &[&str] = &["wasi:cli/environment", "wasi:filesystem/preopens"];
const LINKED_VERSION: &str = "0.2.12";

/// `spinshim-denied:wasi-cli/environment@0.2.3` for
/// `wasi:cli/environment@0.2.3`, and so for every capability interface;
/// `None` for other imports.
pub(crate) fn denied_name(import: &str) -> Option<String> {
    capability_group(import)?;
    let (interface, version) = match import.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (import, None),
    };
    let (package, name) = interface.split_once('/')?;
    let version = version.map_or(String::new(), |v| format!("@{v}"));
    Some(format!(
        "{NAMESPACE}:{}/{name}{version}",
        package.replace(':', "-")
    ))
}

/// The import a denied name stands for, as people wrote it
/// (`fermyon:spin/variables@2.0.0` for
/// `spinshim-denied:fermyon-spin/variables@2.0.0`).
fn original_name(denied: &str) -> String {
    let name = denied
        .strip_prefix(NAMESPACE)
        .and_then(|n| n.strip_prefix(':'))
        .unwrap_or(denied);
    name.replacen('-', ":", 1)
}

/// Whether [`add_to_linker`] serves the denied `name` itself.
fn linked_once(name: &str) -> bool {
    SERVED.iter().any(|interface| {
        let (package, iface) = interface.split_once('/').unwrap_or((interface, ""));
        let prefix = format!("{NAMESPACE}:{}/{iface}@0.2.", package.replace(':', "-"));
        name.starts_with(&prefix)
    })
}

/// The error cases that mean "denied", best first.
const DENIALS: &[&str] = &[
    "access-denied",
    "HTTP-request-denied",
    "destination-not-allowed",
    "invalid-address",
    "connection-failed",
    "invalid-input",
    "undefined",
    // Spin 1.x's config and Redis, which have no more specific case.
    "provider",
    "error",
];

/// Links, on a copy of `linker`, the denied interfaces `component`
/// imports beyond those [`add_to_linker`] serves; `None` when it imports
/// none, so the shared linker serves it.
pub(crate) fn link_denials(
    linker: &Linker<InstanceState>,
    engine: &Engine,
    component: &Component,
) -> Result<Option<Linker<InstanceState>>> {
    let ty = component.component_type();
    let denied: Vec<_> = ty
        .imports(engine)
        .filter(|(name, _)| name.starts_with(NAMESPACE) && !linked_once(name))
        .collect();
    if denied.is_empty() {
        return Ok(None);
    }
    let mut linker = linker.clone();
    for (name, import) in denied {
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            continue;
        };
        let mut linked = linker.instance(name)?;
        for (member, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::Resource(_) => linked.resource(
                    member,
                    ResourceType::host::<DeniedResource>(),
                    |_, _| Ok(()),
                ),
                ComponentItem::ComponentFunc(func) => {
                    let answer = DeniedAnswer::of(name, member, &func);
                    if func.async_() {
                        linked.func_new_concurrent(member, move |_, _, _, results| {
                            let answer = answer.clone();
                            Box::pin(async move { answer.write(results) })
                        })
                    } else {
                        linked.func_new(member, move |_, _, _, results| answer.write(results))
                    }
                }
                _ => Ok(()),
            }
            .map_err(|err| anyhow::anyhow!("denying {member} of {name}: {err:#}"))?;
        }
    }
    Ok(Some(linker))
}

/// The host type behind resources of denied interfaces; none is ever made.
struct DeniedResource;

/// What a denied function answers: a value, or a trap naming it.
#[derive(Clone)]
enum DeniedAnswer {
    Value(Option<Val>),
    Trap(String),
}

impl DeniedAnswer {
    /// The answer for `function` of denied interface `interface`.
    fn of(interface: &str, function: &str, func: &ComponentFunc) -> Self {
        let why = format!(
            "{} {function}: denied to a dependency that does not inherit the configuration",
            original_name(interface)
        );
        let mut results = func.results();
        match (results.next(), results.next()) {
            (None, _) => Self::Value(None),
            (Some(ty), None) => match nothing_or_denied(&ty, &why) {
                Some(value) => Self::Value(Some(value)),
                None => Self::Trap(why),
            },
            _ => Self::Trap(why),
        }
    }

    fn write(&self, results: &mut [Val]) -> wasmtime::Result<()> {
        match (self, results.first_mut()) {
            (Self::Value(Some(value)), Some(slot)) => *slot = value.clone(),
            (Self::Value(_), _) => {}
            (Self::Trap(why), _) => wasmtime::bail!("{why}"),
        }
        Ok(())
    }
}

/// Empty or none where `ty` can say so, else its denial; `None` when it
/// can say neither.
fn nothing_or_denied(ty: &Type, why: &str) -> Option<Val> {
    if let Some(nothing) = nothing(ty) {
        return Some(nothing);
    }
    match ty {
        Type::Result(result) => {
            if let Some(ok) = result.ok() {
                if let Some(nothing) = nothing(&ok) {
                    return Some(Val::Result(Ok(Some(Box::new(nothing)))));
                }
            }
            let denial = denial(&result.err()?, why)?;
            Some(Val::Result(Err(Some(Box::new(denial)))))
        }
        _ => None,
    }
}

/// Empty or none, where `ty` is a list or an option.
fn nothing(ty: &Type) -> Option<Val> {
    match ty {
        Type::List(_) => Some(Val::List(Vec::new())),
        Type::Option(_) => Some(Val::Option(None)),
        _ => None,
    }
}

/// The denial case of error type `ty`, a message as its payload if it
/// takes a string.
fn denial(ty: &Type, why: &str) -> Option<Val> {
    match ty {
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().collect();
            DENIALS.iter().find_map(|denied| {
                let case = cases.iter().find(|c| c.name == *denied)?;
                let payload = match &case.ty {
                    None => None,
                    Some(Type::String) => Some(Box::new(Val::String(why.to_string()))),
                    Some(_) => return None,
                };
                Some(Val::Variant(case.name.to_string(), payload))
            })
        }
        Type::Enum(names) => {
            let names: Vec<&str> = names.names().collect();
            DENIALS
                .iter()
                .find(|denied| names.contains(denied))
                .map(|denied| Val::Enum(denied.to_string()))
        }
        _ => None,
    }
}

/// Links the denied interfaces.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    let mut environment = linker.instance(&format!(
        "{NAMESPACE}:wasi-cli/environment@{LINKED_VERSION}"
    ))?;
    environment.func_wrap("get-environment", |_, ()| {
        Ok((Vec::<(String, String)>::new(),))
    })?;
    environment.func_wrap("get-arguments", |_, ()| Ok((Vec::<String>::new(),)))?;
    environment.func_wrap("initial-cwd", |_, ()| Ok((None::<String>,)))?;
    let mut preopens = linker.instance(&format!(
        "{NAMESPACE}:wasi-filesystem/preopens@{LINKED_VERSION}"
    ))?;
    preopens.func_wrap("get-directories", |_, ()| {
        Ok((Vec::<(Resource<Descriptor>, String)>::new(),))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_imports_get_denied_names_and_others_none() {
        for (import, denied) in [
            (
                "wasi:cli/environment@0.2.3",
                "spinshim-denied:wasi-cli/environment@0.2.3",
            ),
            (
                "wasi:http/outgoing-handler@0.2.6",
                "spinshim-denied:wasi-http/outgoing-handler@0.2.6",
            ),
            (
                "fermyon:spin/key-value@2.0.0",
                "spinshim-denied:fermyon-spin/key-value@2.0.0",
            ),
            ("fermyon:spin/config", "spinshim-denied:fermyon-spin/config"),
        ] {
            assert_eq!(denied_name(import).as_deref(), Some(denied), "{import}");
        }
        assert_eq!(denied_name("wasi:random/random@0.2.3"), None);
        assert!(linked_once("spinshim-denied:wasi-cli/environment@0.2.3"));
        assert!(!linked_once("spinshim-denied:wasi-cli/environment@0.3.0"));
        assert!(!linked_once("spinshim-denied:fermyon-spin/key-value@2.0.0"));
        assert_eq!(
            original_name("spinshim-denied:fermyon-spin/variables@2.0.0"),
            "fermyon:spin/variables@2.0.0"
        );
    }
}
