//! From a locked app to components ready to instantiate.
//!
//! Start-up does all the work that can be done once: compile and link each
//! component a trigger references (failing on an import the host does not
//! serve), build every capability's component state (failing on a
//! permission the app cannot grant), and stage files. Components no
//! trigger references are neither compiled nor linked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use indexmap::IndexSet;
use spinshim_app::locked::{LockedApp, LockedComponent};
use spinshim_app::variables::ResolvedVariables;
use wasmtime::component::Linker;

use crate::code::{self, CodeSource};
use crate::compile_cache::CompileCache;
use crate::engine::RuntimeEngine;
use crate::files::prepare_mounts;
use crate::host::{self, AppHost, ComponentContext};
use crate::stdio::{PrefixedOutput, Target};
use crate::store::{ComponentInstancer, InstanceState};

/// Inputs to [`PreparedApp::prepare`] beyond the app itself.
pub struct PrepareOptions<'a> {
    /// The app's variables, resolved.
    pub variables: &'a ResolvedVariables,
    /// Every capability's app state.
    pub host: &'a AppHost,
    /// Cap on each instance's linear memory, in bytes.
    pub max_instance_memory: Option<u64>,
    /// Where component code comes from.
    pub code: &'a dyn CodeSource,
    /// Where compiled code is kept between starts (`spinshim up`).
    pub compile_cache: Option<&'a CompileCache>,
    /// Where component files are staged; the system temp dir when `None`.
    /// The shim points this into the container's state dir, because a
    /// Wasm image's root filesystem has no `/tmp`.
    pub staging_root: Option<&'a Path>,
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
            let instancer =
                prepare_component(component, &engine, &linker, options, staging.path())?;
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

/// The components some trigger runs, in trigger order.
pub fn triggered_component_ids(app: &LockedApp) -> IndexSet<String> {
    app.triggers
        .iter()
        .filter_map(|t| t.component())
        .map(str::to_string)
        .collect()
}

fn prepare_component(
    component: &LockedComponent,
    engine: &RuntimeEngine,
    linker: &Linker<InstanceState>,
    options: &PrepareOptions<'_>,
    staging: &Path,
) -> Result<ComponentInstancer> {
    let id = &component.id;
    let allowed_hosts = Arc::new(options.variables.allowed_outbound_hosts(component)?);
    let host = options.host.component(&ComponentContext {
        component,
        variables: options.variables,
        allowed_hosts: &allowed_hosts,
    })?;
    let compiled = code::load_component(
        engine.engine(),
        component,
        options.code,
        options.compile_cache,
    )?;
    let with_denials = host::denied::link_denials(linker, engine.engine(), &compiled)
        .with_context(|| format!("component \"{id}\": linking what its dependencies are denied"))?;
    let pre = with_denials
        .as_ref()
        .unwrap_or(linker)
        .instantiate_pre(&compiled)
        .map_err(|err| anyhow::anyhow!("component \"{id}\": {err:#}"))?;
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
        host,
        halt: engine.halt().clone(),
        max_memory: options
            .max_instance_memory
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
    })
}
