//! From a locked app to components ready to instantiate.
//!
//! Start-up does all the work that can be done once: resolve variables
//! (failing on a required one nobody set), compile and link each component
//! a trigger references (failing on an import the host does not serve),
//! render outbound rules, and stage files. Components no trigger
//! references are neither compiled nor linked.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use indexmap::IndexSet;
use spinshim_app::locked::{LockedApp, LockedComponent};
use spinshim_app::runtime_config::VariablesProvider;
use spinshim_app::variables::{resolve_app_variables_with, Providers, ResolvedVariables};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use crate::engine::RuntimeEngine;
use crate::files::{existing_local_path, prepare_mounts};
use crate::host;
use crate::host::outbound_http::OutboundHttp;
use crate::host::variables::ComponentVariables;
use crate::stdio::{PrefixedOutput, Target};
use crate::store::{ComponentInstancer, InstanceState};

/// Trigger types this host runs.
pub const SUPPORTED_TRIGGER_TYPES: &[&str] = &["http"];

/// How a component's code is turned into a [`Component`]: compiled from
/// its `source` by default; the shim supplies its own precompiled code.
pub type ComponentLoader<'a> = &'a (dyn Fn(&Engine, &LockedComponent) -> Result<Component> + Sync);

/// Inputs to [`PreparedApp::prepare`] beyond the app itself.
pub struct PrepareOptions<'a> {
    /// `--variable` values and the process environment.
    pub providers: &'a Providers,
    /// Variables providers from runtime-config.toml, in file order.
    pub runtime_providers: &'a [VariablesProvider],
    /// Cap on each instance's linear memory, in bytes.
    pub max_instance_memory: Option<u64>,
    /// How component code is loaded.
    pub loader: ComponentLoader<'a>,
    /// Where component files are staged; the system temp dir when `None`.
    /// The shim points this into the container's state dir, because a
    /// Wasm image's root filesystem has no `/tmp`.
    pub staging_root: Option<&'a std::path::Path>,
}

/// An app whose triggered components are compiled, linked and configured.
pub struct PreparedApp {
    locked: LockedApp,
    engine: RuntimeEngine,
    components: HashMap<String, Arc<ComponentInstancer>>,
    _staging: tempfile::TempDir,
}

impl PreparedApp {
    /// Prepares every component a trigger references.
    pub fn prepare(
        locked: LockedApp,
        engine: RuntimeEngine,
        options: &PrepareOptions<'_>,
    ) -> Result<Self> {
        check_trigger_types(&locked)?;
        let variables =
            resolve_app_variables_with(&locked, options.providers, options.runtime_providers)?;
        let mut linker = Linker::new(engine.engine());
        host::add_to_linker(&mut linker).context("linking host interfaces")?;
        let mut staging = tempfile::Builder::new();
        staging.prefix("spinshim-files-");
        let staging = match options.staging_root {
            Some(root) => staging.tempdir_in(root),
            None => staging.tempdir(),
        }
        .context("creating a directory for component files")?;
        let mut components = HashMap::new();
        for id in triggered_component_ids(&locked) {
            let component = locked.component(&id).with_context(|| {
                format!("a trigger names component \"{id}\", which the app does not define")
            })?;
            let instancer = prepare_component(
                component,
                &engine,
                &linker,
                &variables,
                options,
                staging.path(),
            )?;
            components.insert(id, Arc::new(instancer));
        }
        Ok(Self {
            locked,
            engine,
            components,
            _staging: staging,
        })
    }

    /// The app as locked.
    pub fn locked(&self) -> &LockedApp {
        &self.locked
    }

    /// The engine the components were compiled with.
    pub fn engine(&self) -> &RuntimeEngine {
        &self.engine
    }

    /// A prepared component, by id.
    pub fn component(&self, id: &str) -> Option<Arc<ComponentInstancer>> {
        self.components.get(id).cloned()
    }
}

/// Compiles a component from its `source` (a `file:` URL or inline bytes).
pub fn compile_from_source(engine: &Engine, component: &LockedComponent) -> Result<Component> {
    let content = &component.source.content;
    if let Some(bytes) = &content.inline {
        return Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component \"{}\": compiling inline source", component.id));
    }
    let Some(source) = &content.source else {
        bail!("component \"{}\": source has no location", component.id);
    };
    let path = existing_local_path(&component.id, "wasm file", source)?;
    Component::from_file(engine, &path)
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "component \"{}\": compiling {}",
                component.id,
                path.display()
            )
        })
}

fn check_trigger_types(app: &LockedApp) -> Result<()> {
    for trigger in &app.triggers {
        if !SUPPORTED_TRIGGER_TYPES.contains(&trigger.trigger_type.as_str()) {
            bail!(
                "trigger \"{}\": trigger type \"{}\" is not supported (supported: {})",
                trigger.id,
                trigger.trigger_type,
                SUPPORTED_TRIGGER_TYPES.join(", ")
            );
        }
    }
    Ok(())
}

fn triggered_component_ids(app: &LockedApp) -> IndexSet<String> {
    app.triggers
        .iter()
        .filter_map(|t| t.trigger_config.get("component")?.as_str())
        .map(str::to_string)
        .collect()
}

fn prepare_component(
    component: &LockedComponent,
    engine: &RuntimeEngine,
    linker: &Linker<InstanceState>,
    variables: &ResolvedVariables,
    options: &PrepareOptions<'_>,
    staging: &std::path::Path,
) -> Result<ComponentInstancer> {
    let id = &component.id;
    if !component.dependencies.is_empty() {
        bail!("component \"{id}\": component dependencies are not supported yet");
    }
    let compiled = (options.loader)(engine.engine(), component)?;
    let pre = linker
        .instantiate_pre(&compiled)
        .map_err(|err| anyhow::anyhow!("component \"{id}\": {err:#}"))?;
    let config = variables.component_config(component)?;
    Ok(ComponentInstancer {
        id: id.clone(),
        pre,
        env: component
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        stdout: PrefixedOutput::new(id, Target::Stdout),
        stderr: PrefixedOutput::new(id, Target::Stderr),
        mounts: prepare_mounts(component, staging)?,
        variables: ComponentVariables::new(config),
        outbound_http: OutboundHttp::new(id, variables.allowed_outbound_hosts(component)?),
        max_memory: options
            .max_instance_memory
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
    })
}
