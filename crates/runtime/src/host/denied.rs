//! Capabilities a dependency does not inherit, answered as Spin's deny
//! adapter answers them (spec §1.2): no environment variables, arguments
//! or working directory, and no preopened directories.
//!
//! [`crate::compose`] plugs such an import of a dependency with an import
//! of the composition named by [`denied_name`], so the dependency and its
//! parent reach different host functions although they import the same
//! interface; [`add_to_linker`] serves those names. Capabilities without
//! an answer here are refused at start-up instead.

use anyhow::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;

use crate::store::InstanceState;

/// The namespace of the renamed imports.
const NAMESPACE: &str = "spinshim-denied";

/// WASI 0.2 interfaces answered here, and the version linked (later 0.2
/// imports match it by semver).
const SERVED: &[&str] = &["wasi:cli/environment", "wasi:filesystem/preopens"];
const LINKED_VERSION: &str = "0.2.12";

/// `spinshim-denied:wasi-cli/environment@0.2.3` for
/// `wasi:cli/environment@0.2.3`; `None` for interfaces not answered here.
pub(crate) fn denied_name(import: &str) -> Option<String> {
    let (interface, version) = import.split_once('@')?;
    if !SERVED.contains(&interface) || !version.starts_with("0.2.") {
        return None;
    }
    let (package, name) = interface.split_once('/')?;
    Some(format!(
        "{NAMESPACE}:{}/{name}@{version}",
        package.replace(':', "-")
    ))
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
    fn only_wasi_0_2_environment_and_preopens_are_renamed() {
        assert_eq!(
            denied_name("wasi:cli/environment@0.2.3").as_deref(),
            Some("spinshim-denied:wasi-cli/environment@0.2.3")
        );
        assert_eq!(
            denied_name("wasi:filesystem/preopens@0.2.12").as_deref(),
            Some("spinshim-denied:wasi-filesystem/preopens@0.2.12")
        );
        assert_eq!(denied_name("wasi:cli/environment@0.3.0"), None);
        assert_eq!(denied_name("wasi:http/outgoing-handler@0.2.6"), None);
    }
}
