//! Variables: `fermyon:spin/variables@2.0.0`, `spin:variables@3.0.0` (async,
//! for WASIp3 guests), `wasi:config/store` and Spin 1.x's
//! `fermyon:spin/config`.
//!
//! A guest sees only its own component's `variables` table, each entry a
//! template over the application's variables. Values come from providers
//! that do not change while the app runs, so every component's table is
//! rendered once at start-up and shared by all of its instances.

use std::sync::Arc;

use anyhow::Result;
use indexmap::IndexMap;
use spinshim_app::variables::validate_variable_name;
use wasmtime::component::{Accessor, HasData, Linker};

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "variables-host",
        imports: { default: trappable },
    });
}

mod v3_bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-variables-v3",
        world: "variables-host",
        imports: { default: trappable },
    });
}

mod wasi_config_bindings {
    wasmtime::component::bindgen!({
        path: "wit/wasi-config",
        world: "config-host",
        imports: { default: trappable },
    });
}

mod v1_bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-config-host",
        imports: { default: trappable },
    });
}

use bindings::fermyon::spin::variables::{self as spin_variables, Error};
use v1_bindings::fermyon::spin::config as spin_config_v1;
use v3_bindings::spin::variables::variables as spin_variables_v3;
use wasi_config_bindings::wasi::config::store as wasi_config;

/// A component's rendered variables, shared by all its instances.
pub struct ComponentVariables {
    values: IndexMap<String, String>,
}

impl ComponentVariables {
    /// Wraps the rendered `name -> value` table of one component.
    pub fn new(values: IndexMap<String, String>) -> Arc<Self> {
        Arc::new(Self { values })
    }

    fn get(&self, name: &str) -> Result<String, Error> {
        if validate_variable_name(name).is_err() {
            return Err(Error::InvalidName(name.to_string()));
        }
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Undefined(format!("no variable for \"{name}\"")))
    }
}

/// Per-instance view of the component's variables.
pub struct VariablesState {
    variables: Arc<ComponentVariables>,
}

impl VariablesState {
    /// The state for one instance of a component.
    pub fn new(variables: Arc<ComponentVariables>) -> Self {
        Self { variables }
    }
}

impl spin_variables::Host for VariablesState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.variables.get(&name))
    }
}

/// `fermyon:spin/config` (Spin 1.x): Spin answers an undefined variable
/// with `provider`, as its 1.x providers did.
impl spin_config_v1::Host for VariablesState {
    fn get_config(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<String, spin_config_v1::Error>> {
        Ok(self.variables.get(&key).map_err(|err| match err {
            Error::InvalidName(m) => spin_config_v1::Error::InvalidKey(m),
            Error::Undefined(m) => spin_config_v1::Error::Provider(m),
            Error::Provider(m) | Error::Other(m) => spin_config_v1::Error::Other(m),
        }))
    }
}

/// `wasi:config/store`: an undefined or invalid name is simply absent.
impl wasi_config::Host for VariablesState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(self.variables.values.get(&key).cloned()))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        let all = self.variables.values.iter();
        Ok(Ok(all.map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}

/// `spin:variables@3.0.0`: the same answers, from an async function.
impl spin_variables_v3::Host for &mut VariablesState {}

impl<T> spin_variables_v3::HostWithStore<T> for Variables {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, spin_variables_v3::Error>> {
        let answer = accessor.with(|mut view| view.get().variables.get(&name));
        Ok(answer.map_err(|err| match err {
            Error::InvalidName(m) => spin_variables_v3::Error::InvalidName(m),
            Error::Undefined(m) => spin_variables_v3::Error::Undefined(m),
            Error::Provider(m) => spin_variables_v3::Error::Provider(m),
            Error::Other(m) => spin_variables_v3::Error::Other(m),
        }))
    }
}

/// The variables capability.
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a mut VariablesState;
}

impl Capability for Variables {
    type AppState = ();
    type ComponentState = ComponentVariables;
    type InstanceState = VariablesState;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_variables::add_to_linker::<InstanceState, Variables>(linker, get)?;
        spin_variables_v3::add_to_linker::<InstanceState, Variables>(linker, get)?;
        wasi_config::add_to_linker::<InstanceState, Variables>(linker, get)?;
        spin_config_v1::add_to_linker::<InstanceState, Variables>(linker, get)?;
        Ok(())
    }

    async fn app_state(_ctx: &AppContext<'_>) -> Result<()> {
        Ok(())
    }

    fn component_state(_app: &Arc<()>, ctx: &ComponentContext<'_>) -> Result<ComponentVariables> {
        Ok(ComponentVariables {
            values: ctx.variables.component_config(ctx.component)?,
        })
    }

    fn instance_state(component: &Arc<ComponentVariables>) -> VariablesState {
        VariablesState::new(component.clone())
    }
}
