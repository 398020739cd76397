//! Host capabilities: one module per capability, registered in one list.
//!
//! A capability (variables, key-value, SQLite, ...) is a type implementing
//! [`Capability`]. It owns, in its own module:
//!
//! - its runtime-config sections ([`Capability::RUNTIME_CONFIG_KEYS`], read
//!   with [`spinshim_app::RuntimeConfig::section`] into its own serde types);
//! - its state in three tiers: the app's (stores, pools, parsed config,
//!   made once at start-up), a component's (what its manifest grants it,
//!   checked at start-up) and an instance's (open handles, per store);
//! - its linker wiring, for every interface version it serves.
//!
//! [`capabilities!`] below is the one registration list: it generates the
//! three tier structs that the rest of the runtime carries around without
//! knowing what is inside. Adding a capability is its module plus one line
//! there.

/// `$value` as the same-named variant of another interface version's type:
/// variants carrying a value (`[...]`), then unit variants (`[...]`), then,
/// optionally, what every other variant becomes. `$from` and `$to` are
/// type names in scope.
macro_rules! same_variant {
    ($value:expr, $from:ident => $to:ident, [$($with:ident),*], [$($unit:ident),*] $(, _ => $other:expr)?) => {
        match $value {
            $($from::$with(x) => $to::$with(x),)*
            $($from::$unit => $to::$unit,)*
            $(_ => $other,)?
        }
    };
}

mod channel_stream;
pub(crate) mod denied;
pub mod key_value;
pub mod outbound_http;
pub mod outbound_mqtt;
pub mod outbound_mysql;
pub mod outbound_networking;
pub mod outbound_pg;
pub mod outbound_redis;
pub mod sqlite;
mod sqlite_threads;
pub mod variables;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use spinshim_app::locked::{LockedApp, LockedComponent};
use spinshim_app::outbound::AllowedHostsConfig;
use spinshim_app::variables::ResolvedVariables;
use spinshim_app::RuntimeConfig;
use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;

use crate::store::InstanceState;

/// The most a host call buffers for a guest (a Redis value, a query's
/// rows, a legacy HTTP response), as in Spin.
pub const MAX_HOST_BUFFERED_BYTES: usize = 128 << 20;

/// What every capability sees when the app starts.
pub struct AppContext<'a> {
    /// The app as locked (after `SPIN_COMPONENTS_TO_RETAIN`).
    pub app: &'a LockedApp,
    /// The runtime config (empty when there is none).
    pub runtime_config: &'a RuntimeConfig,
    /// Where state lives; `None` keeps stores in memory.
    pub state_dir: Option<&'a Path>,
    /// The app's variables, resolved from every provider.
    pub variables: &'a ResolvedVariables,
    /// Data to put into the default stores at start-up (`spin up --key-value`,
    /// `--sqlite`).
    pub seed: &'a StateSeed,
    /// The network rules every outbound client follows (made first, by
    /// [`outbound_networking::NetworkPolicy::from_runtime_config`]).
    pub network: &'a Arc<outbound_networking::NetworkPolicy>,
}

/// What a capability sees of one component at start-up.
pub struct ComponentContext<'a> {
    /// The component as locked.
    pub component: &'a LockedComponent,
    /// The app's variables.
    pub variables: &'a ResolvedVariables,
    /// Its `allowed_outbound_hosts`, templates resolved: every outbound
    /// client checks this one list.
    pub allowed_hosts: &'a Arc<AllowedHostsConfig>,
}

/// Data for the default stores, written before the app serves (as
/// `spin up --key-value` and `--sqlite` do).
#[derive(Clone, Debug, Default)]
pub struct StateSeed {
    /// `KEY=VALUE` pairs for the `default` key-value store.
    pub key_values: Vec<(String, String)>,
    /// SQL to run before serving, in order.
    pub sqlite_statements: Vec<SqlSeed>,
}

/// SQL to run on one database at start-up (`--sqlite`).
#[derive(Clone, Debug)]
pub struct SqlSeed {
    /// The database's label (`default` unless `@FILE:LABEL` names one).
    pub database: String,
    /// The statements (an `@FILE`'s contents, already read).
    pub sql: String,
    /// How the user wrote it, for error messages.
    pub origin: String,
}

/// A host capability. See the module documentation.
pub trait Capability: Sized + 'static {
    /// Top-level runtime-config keys this capability reads.
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[];
    /// Made once per app.
    type AppState: Send + Sync + 'static;
    /// Made once per component the triggers use; shared by its instances.
    type ComponentState: Send + Sync + 'static;
    /// Made for each instance (each guest `Store`).
    type InstanceState: Send + 'static;

    /// Adds this capability's interfaces to the linker.
    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>;

    /// Reads its runtime config and builds the app-wide state; an error
    /// stops start-up.
    fn app_state(ctx: &AppContext<'_>) -> impl Future<Output = Result<Self::AppState>> + Send;

    /// Checks what the manifest grants `ctx.component` and builds its
    /// state; an error stops start-up naming the component.
    fn component_state(
        app: &Arc<Self::AppState>,
        ctx: &ComponentContext<'_>,
    ) -> Result<Self::ComponentState>;

    /// The state of one new instance.
    fn instance_state(component: &Arc<Self::ComponentState>) -> Self::InstanceState;

    /// Adjusts a new instance's WASI context (sockets permissions, say).
    fn configure_wasi(_component: &Arc<Self::ComponentState>, _wasi: &mut WasiCtxBuilder) {}
}

/// Reaches a capability's instance state inside a guest's store data.
pub trait HasCapability<C: Capability> {
    /// The capability's part of the store data.
    fn capability(&mut self) -> &mut C::InstanceState;
}

/// What a manifest permission list is checked against at start-up.
pub(crate) struct LabelKind<'a> {
    /// The manifest field, e.g. `key_value_stores`.
    pub field: &'a str,
    /// What a label names, e.g. `store`.
    pub noun: &'a str,
    /// The runtime-config section that defines labels, e.g. `key_value_store`.
    pub section: &'a str,
}

/// The labels the triggered components list under `kind.field`
/// (`labels_of` reads them); each must be `default` or `defined`,
/// otherwise start-up stops naming the component and the label.
pub(crate) fn declared_labels(
    ctx: &AppContext<'_>,
    kind: &LabelKind<'_>,
    labels_of: fn(&LockedComponent) -> Vec<String>,
    defined: impl Fn(&str) -> bool,
) -> Result<std::collections::HashSet<String>> {
    const DEFAULT_LABEL: &str = "default";
    let mut labels = std::collections::HashSet::new();
    for id in crate::prepare::triggered_component_ids(ctx.app) {
        let Some(component) = ctx.app.component(&id) else {
            continue;
        };
        for label in labels_of(component) {
            if label != DEFAULT_LABEL && !defined(&label) {
                anyhow::bail!(
                    "component \"{id}\": {}: no {} is defined for label \"{label}\" (define \
                     [{}.{label}] in the runtime config; only \"{DEFAULT_LABEL}\" exists without one)",
                    kind.field,
                    kind.noun,
                    kind.section
                );
            }
            labels.insert(label);
        }
    }
    Ok(labels)
}

/// A capability's part of a store's data, as a function pointer for
/// bindgen's `add_to_linker` getters.
pub(crate) fn state_of<C: Capability>(state: &mut InstanceState) -> &mut C::InstanceState
where
    InstanceState: HasCapability<C>,
{
    state.capability()
}

/// Runtime-config sections that belong to capabilities this host does not
/// serve yet. They are accepted (Spin accepts them) and reported once.
const NOT_YET_SERVED_SECTIONS: &[&str] = &["llm_compute"];

/// Generates the three tier structs and the registry functions from the
/// list of capabilities.
macro_rules! capabilities {
    ($($field:ident: $capability:ty),* $(,)?) => {
        /// Every capability's app-wide state.
        pub struct AppHost {
            $($field: Arc<<$capability as Capability>::AppState>,)*
        }

        /// Every capability's state for one component.
        pub struct ComponentHost {
            $($field: Arc<<$capability as Capability>::ComponentState>,)*
        }

        /// Every capability's state for one instance.
        pub struct InstanceHost {
            $(pub(crate) $field: <$capability as Capability>::InstanceState,)*
        }

        $(impl HasCapability<$capability> for InstanceState {
            fn capability(&mut self) -> &mut <$capability as Capability>::InstanceState {
                &mut self.host.$field
            }
        })*

        /// Top-level runtime-config keys some capability reads.
        pub fn runtime_config_keys() -> Vec<&'static str> {
            let mut keys = Vec::new();
            $(keys.extend_from_slice(<$capability as Capability>::RUNTIME_CONFIG_KEYS);)*
            keys
        }

        fn add_capabilities_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
            $(<$capability as Capability>::add_to_linker(linker)?;)*
            Ok(())
        }

        impl AppHost {
            /// Builds every capability's app state (runtime config first:
            /// an unknown section stops start-up, naming it).
            pub async fn new(ctx: &AppContext<'_>) -> Result<Self> {
                let mut known = runtime_config_keys();
                known.extend_from_slice(NOT_YET_SERVED_SECTIONS);
                ctx.runtime_config.check_sections(&known)?;
                for key in NOT_YET_SERVED_SECTIONS {
                    if ctx.runtime_config.raw_section(key).is_some() {
                        tracing::warn!(
                            "{}: [{key}] is not supported by this host yet; ignored",
                            ctx.runtime_config.label
                        );
                    }
                }
                Ok(Self {
                    $($field: Arc::new(<$capability as Capability>::app_state(ctx).await?),)*
                })
            }

            /// Builds every capability's state for one component.
            pub fn component(&self, ctx: &ComponentContext<'_>) -> Result<ComponentHost> {
                Ok(ComponentHost {
                    $($field: Arc::new(
                        <$capability as Capability>::component_state(&self.$field, ctx)?
                    ),)*
                })
            }
        }

        impl ComponentHost {
            /// Every capability's state for a new instance.
            pub fn instance(&self) -> InstanceHost {
                InstanceHost {
                    $($field: <$capability as Capability>::instance_state(&self.$field),)*
                }
            }

            /// Lets every capability adjust a new instance's WASI context.
            pub fn configure_wasi(&self, wasi: &mut WasiCtxBuilder) {
                $(<$capability as Capability>::configure_wasi(&self.$field, wasi);)*
            }
        }
    };
}

capabilities! {
    outbound_networking: outbound_networking::OutboundNetworking,
    outbound_http: outbound_http::OutboundHttp,
    variables: variables::Variables,
    key_value: key_value::KeyValue,
    sqlite: sqlite::Sqlite,
    outbound_redis: outbound_redis::OutboundRedis,
    outbound_mqtt: outbound_mqtt::OutboundMqtt,
    outbound_pg: outbound_pg::OutboundPg,
    outbound_mysql: outbound_mysql::OutboundMysql,
}

impl AppHost {
    /// Where self requests and service chaining are served from.
    pub fn local_http(&self) -> &outbound_http::local::LocalSlot {
        self.outbound_http.local()
    }
}

/// Links every interface the host serves: WASI (0.2 and 0.3), WASI HTTP
/// (0.2 and 0.3) and each capability's.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    denied::add_to_linker(linker)?;
    crate::release_candidates::add_to_linker(linker)?;
    // wasi:http/types 0.2 here; its outgoing-handler is outbound HTTP's.
    let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<_, wasmtime_wasi_http::WasiHttp>(
        linker,
        &options.into(),
        <InstanceState as wasmtime_wasi_http::WasiHttpView>::http,
    )?;
    // wasi:http/types 0.3 here; its client is outbound HTTP's.
    wasmtime_wasi_http::p3::bindings::http::types::add_to_linker::<_, wasmtime_wasi_http::WasiHttp>(
        linker,
        <InstanceState as wasmtime_wasi_http::WasiHttpView>::http,
    )?;
    add_capabilities_to_linker(linker)?;
    // Spin 1.x HTTP guests import this interface for its types alone; it
    // has no functions, but the instance must exist for them to link.
    linker.instance("fermyon:spin/http-types")?;
    Ok(())
}
