//! What a guest instance's [`Store`] holds, and how one is made.
//!
//! A [`ComponentInstancer`] is built once per component at start-up with
//! everything that does not change between requests (the linked
//! [`InstancePre`], environment, stdio, mounts, variables, outbound rules); per
//! request it only assembles a fresh store from those parts.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use wasmtime::component::{InstancePre, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::files::Mount;
use crate::host::outbound_http::OutboundHttp;
use crate::host::variables::{ComponentVariables, VariablesState};
use crate::stdio::PrefixedOutput;

/// The data of one guest instance's store.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) outbound_http: OutboundHttp,
    limits: StoreLimits,
    pub(crate) variables: VariablesState,
    /// When the current request must have finished; checked on every epoch
    /// tick while the guest runs.
    pub(crate) deadline: Option<Instant>,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound_http,
        }
    }
}

/// Everything needed to instantiate one component, prepared once by
/// [`crate::prepare`].
pub struct ComponentInstancer {
    pub(crate) id: String,
    pub(crate) pre: InstancePre<InstanceState>,
    pub(crate) env: Vec<(String, String)>,
    /// The guest's stdout and stderr, prefixed with the component id.
    pub(crate) stdout: PrefixedOutput,
    pub(crate) stderr: PrefixedOutput,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) variables: Arc<ComponentVariables>,
    pub(crate) outbound_http: OutboundHttp,
    pub(crate) max_memory: Option<usize>,
}

impl ComponentInstancer {
    /// The component id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The linked component.
    pub fn pre(&self) -> &InstancePre<InstanceState> {
        &self.pre
    }

    /// The engine the component was compiled with.
    pub fn engine(&self) -> &Engine {
        self.pre.engine()
    }

    /// A fresh store for one instance, with WASI set up as Spin does: only
    /// the component's own environment, its files read-only, stdio
    /// prefixed with the component id.
    pub fn new_store(&self) -> Result<Store<InstanceState>> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&self.env)
            .stdout(self.stdout.clone())
            .stderr(self.stderr.clone());
        for mount in &self.mounts {
            wasi.preopened_dir(&mount.host, &mount.guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component \"{}\": mounting {} at {}",
                        self.id,
                        mount.host.display(),
                        mount.guest
                    )
                })?;
        }
        let mut limits = StoreLimitsBuilder::new().trap_on_grow_failure(false);
        if let Some(max) = self.max_memory {
            limits = limits.memory_size(max);
        }
        let state = InstanceState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound_http: self.outbound_http.clone(),
            limits: limits.build(),
            variables: VariablesState::new(self.variables.clone()),
            deadline: None,
        };
        let mut store = Store::new(self.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| match store.data().deadline {
            Some(deadline) if Instant::now() >= deadline => Err(wasmtime::Trap::Interrupt.into()),
            _ => Ok(UpdateDeadline::Yield(1)),
        });
        Ok(store)
    }
}
