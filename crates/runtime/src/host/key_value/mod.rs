//! Key-value: `fermyon:spin/key-value@2.0.0`, `spin:key-value@3.0.0` (async,
//! for WASIp3 guests) and `wasi:keyvalue@0.2.0-draft2` (store, atomics,
//! batch), all on one [`Store`] per label.
//!
//! The three tiers:
//! - app: every store some triggered component declares, opened at
//!   start-up (so a corrupt file or a Redis that is down stops start-up,
//!   naming the store), from `[key_value_store.<label>]` or, for `default`,
//!   `<state_dir>/sqlite_key_value.db` (in memory without a state dir);
//! - component: the labels its `key_value_stores` grants;
//! - instance: the stores it opened (resource handles).
//!
//! A label the component does not declare is `access-denied` at open; a
//! label it declares that no store defines stops start-up.

/// `From<OpenError>` for one interface version's `Error`, which must be in
/// scope where it is invoked (every Spin version has these cases).
macro_rules! open_error_conversion {
    () => {
        impl From<OpenError> for Error {
            fn from(err: OpenError) -> Self {
                match err {
                    OpenError::AccessDenied => Error::AccessDenied,
                    OpenError::NoSuchStore => Error::NoSuchStore,
                    OpenError::TableFull => Error::StoreTableFull,
                }
            }
        }
    };
}

mod redis_store;
mod spin_v1;
mod spin_v2;
mod spin_v3;
mod sqlite_store;
pub mod store;
mod wasi_keyvalue;

use std::collections::{HashMap, HashSet};

use spinshim_app::locked::LockedComponent;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
use redis_store::RedisStore;
use sqlite_store::SqliteStore;
pub use store::Store;

/// The label that always exists.
pub const DEFAULT_LABEL: &str = "default";

/// The default store's file in the state dir (Spin's name).
const DEFAULT_FILE: &str = "sqlite_key_value.db";

/// Stores one instance may hold open at once.
const MAX_OPEN_STORES: usize = 256;

/// `[key_value_store.<label>]`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StoreConfig {
    /// An SQLite file; `path` is relative to the runtime config's directory,
    /// and without one the store is in memory.
    Spin(SpinStoreConfig),
    /// A Redis database.
    Redis(RedisStoreConfig),
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SpinStoreConfig {
    path: Option<PathBuf>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RedisStoreConfig {
    url: String,
}

/// The key-value capability.
pub struct KeyValue;

/// The app's stores, by label.
pub struct AppStores {
    stores: HashMap<String, Arc<Store>>,
}

/// What one component may open.
pub struct ComponentStores {
    app: Arc<AppStores>,
    allowed: HashSet<String>,
}

/// Why `open` failed.
enum OpenError {
    AccessDenied,
    NoSuchStore,
    TableFull,
}

/// The stores one instance has open, and its compare-and-swap handles.
pub struct InstanceStores {
    component: Arc<ComponentStores>,
    table: ResourceTable,
    open: usize,
}

/// An open store: the resource behind `store` (both Spin versions) and
/// `bucket` (wasi:keyvalue).
pub struct OpenStore(Arc<Store>);

/// A `wasi:keyvalue/atomics.cas` handle: a key and the value read for it.
pub struct Cas {
    store: Arc<Store>,
    key: String,
    seen: Option<Vec<u8>>,
}

impl InstanceStores {
    fn open(&mut self, label: &str) -> Result<Resource<OpenStore>, OpenError> {
        if !self.component.allowed.contains(label) {
            return Err(OpenError::AccessDenied);
        }
        let store = self
            .component
            .app
            .stores
            .get(label)
            .ok_or(OpenError::NoSuchStore)?;
        if self.open >= MAX_OPEN_STORES {
            return Err(OpenError::TableFull);
        }
        let handle = self
            .table
            .push(OpenStore(store.clone()))
            .map_err(|_| OpenError::TableFull)?;
        self.open += 1;
        Ok(handle)
    }

    /// The store behind a handle the guest passed in.
    fn store(&self, handle: &Resource<OpenStore>) -> wasmtime::Result<Arc<Store>> {
        Ok(self.table.get(handle)?.0.clone())
    }

    fn close(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.open -= 1;
        Ok(())
    }
}

impl HasData for KeyValue {
    type Data<'a> = &'a mut InstanceStores;
}

impl Capability for KeyValue {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &["key_value_store"];
    type AppState = AppStores;
    type ComponentState = ComponentStores;
    type InstanceState = InstanceStores;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v1::add_to_linker(linker, get)?;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        wasi_keyvalue::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppStores> {
        let configs: IndexMap<String, StoreConfig> =
            ctx.runtime_config.labelled_section("key_value_store")?;
        let mut wanted = super::declared_labels(
            ctx,
            &super::LabelKind {
                field: "key_value_stores",
                noun: "store",
                section: "key_value_store",
            },
            LockedComponent::key_value_stores,
            |label| configs.contains_key(label),
        )?;
        if !ctx.seed.key_values.is_empty() {
            wanted.insert(DEFAULT_LABEL.to_string());
        }
        let mut stores = HashMap::new();
        for label in wanted {
            let store = open_store(ctx, &label, configs.get(&label))
                .await
                .with_context(|| format!("key-value store \"{label}\""))?;
            tracing::info!("key-value store \"{label}\": {}", store.location());
            stores.insert(label, Arc::new(store));
        }
        if let Some(default) = stores.get(DEFAULT_LABEL) {
            for (key, value) in &ctx.seed.key_values {
                default
                    .set(key, value.as_bytes())
                    .await
                    .map_err(|err| anyhow::anyhow!("--key-value {key}: {}", err.0))?;
            }
        }
        Ok(AppStores { stores })
    }

    fn component_state(
        app: &Arc<AppStores>,
        ctx: &ComponentContext<'_>,
    ) -> Result<ComponentStores> {
        Ok(ComponentStores {
            app: app.clone(),
            allowed: ctx.component.key_value_stores().into_iter().collect(),
        })
    }

    fn instance_state(component: &Arc<ComponentStores>) -> InstanceStores {
        InstanceStores {
            component: component.clone(),
            table: ResourceTable::new(),
            open: 0,
        }
    }
}

async fn open_store(
    ctx: &AppContext<'_>,
    label: &str,
    config: Option<&StoreConfig>,
) -> Result<Store> {
    Ok(match config {
        None => {
            let path = ctx.state_dir.map(|dir| dir.join(DEFAULT_FILE));
            Store::sqlite(label, SqliteStore::open(label, path.as_deref())?)
        }
        Some(StoreConfig::Spin(spin)) => {
            let path = spin
                .path
                .as_deref()
                .map(|p| ctx.runtime_config.resolve_path(p));
            Store::sqlite(label, SqliteStore::open(label, path.as_deref())?)
        }
        Some(StoreConfig::Redis(redis)) => {
            Store::redis(label, RedisStore::connect(&redis.url).await?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinshim_app::RuntimeConfig;

    fn stores(text: &str) -> spinshim_app::Result<IndexMap<String, StoreConfig>> {
        RuntimeConfig::from_toml_str(text, "rc.toml")
            .unwrap()
            .labelled_section("key_value_store")
    }

    #[test]
    fn store_sections_are_typed() {
        let parsed = stores(
            "[key_value_store.a]\ntype = \"spin\"\npath = \"a.db\"\n\
             [key_value_store.b]\ntype = \"spin\"\n\
             [key_value_store.c]\ntype = \"redis\"\nurl = \"redis://127.0.0.1\"\n",
        )
        .unwrap();
        assert_eq!(
            parsed["a"],
            StoreConfig::Spin(SpinStoreConfig {
                path: Some("a.db".into())
            })
        );
        assert_eq!(
            parsed["b"],
            StoreConfig::Spin(SpinStoreConfig { path: None })
        );
        assert_eq!(
            parsed["c"],
            StoreConfig::Redis(RedisStoreConfig {
                url: "redis://127.0.0.1".into()
            })
        );
    }

    #[test]
    fn bad_store_sections_name_the_file_section_and_field() {
        for (text, expected) in [
            (
                "[key_value_store.a]\ntype = \"spin\"\npth = \"a.db\"\n",
                "rc.toml: key_value_store.a: unknown field \"pth\", expected \"path\"",
            ),
            (
                "[key_value_store.a]\ntype = \"dynamo\"\n",
                "rc.toml: key_value_store.a.type: unknown variant \"dynamo\", expected \"spin\" or \"redis\"",
            ),
            (
                "[key_value_store.a]\npath = \"a.db\"\n",
                "rc.toml: key_value_store.a: missing field \"type\"",
            ),
            (
                "[key_value_store.a]\ntype = \"redis\"\n",
                "rc.toml: key_value_store.a: missing field \"url\"",
            ),
        ] {
            let err = stores(text).unwrap_err().to_string();
            assert_eq!(err, expected, "{text}");
        }
    }
}
