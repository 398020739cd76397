//! `fermyon:spin/key-value@2.0.0`: what spin-sdk 2 to 5 guests import.

use wasmtime::component::{Linker, Resource};

use super::store::StoreError;
use super::{InstanceStores, KeyValue, OpenError, OpenStore};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "key-value-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/key-value.store": crate::host::key_value::OpenStore },
    });
}

use bindings::fermyon::spin::key_value::{self, Error};

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::Other(err.0)
    }
}

open_error_conversion!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl key_value::Host for InstanceStores {}

impl key_value::HostStore for InstanceStores {
    async fn open(&mut self, label: String) -> Answer<Resource<OpenStore>> {
        Ok(InstanceStores::open(self, &label).map_err(Error::from))
    }

    async fn get(&mut self, store: Resource<OpenStore>, key: String) -> Answer<Option<Vec<u8>>> {
        let store = self.store(&store)?;
        Ok(store.get(&key).await.map_err(Error::from))
    }

    async fn set(&mut self, store: Resource<OpenStore>, key: String, value: Vec<u8>) -> Answer<()> {
        let store = self.store(&store)?;
        Ok(store.set(&key, &value).await.map_err(Error::from))
    }

    async fn delete(&mut self, store: Resource<OpenStore>, key: String) -> Answer<()> {
        let store = self.store(&store)?;
        Ok(store.delete(&key).await.map_err(Error::from))
    }

    async fn exists(&mut self, store: Resource<OpenStore>, key: String) -> Answer<bool> {
        let store = self.store(&store)?;
        Ok(store.exists(&key).await.map_err(Error::from))
    }

    async fn get_keys(&mut self, store: Resource<OpenStore>) -> Answer<Vec<String>> {
        let store = self.store(&store)?;
        Ok(store.keys().await.map_err(Error::from))
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close(store)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceStores,
) -> anyhow::Result<()> {
    key_value::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    Ok(())
}
