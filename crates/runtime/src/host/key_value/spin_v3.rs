//! `spin:key-value@3.0.0`: the async interface of WASIp3 guests (spin-sdk 7).

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::store::StoreError;
use super::{InstanceStores, KeyValue, OpenError, OpenStore};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-key-value-v3",
        world: "key-value-host",
        imports: { default: trappable },
        with: { "spin:key-value/key-value.store": crate::host::key_value::OpenStore },
    });
}

use bindings::spin::key_value::key_value::{self, Error};

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::Other(err.0)
    }
}

open_error_conversion!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

fn store_of<T>(
    accessor: &Accessor<T, KeyValue>,
    handle: &Resource<OpenStore>,
) -> wasmtime::Result<std::sync::Arc<super::Store>> {
    accessor.with(|mut view| view.get().store(handle))
}

impl key_value::Host for InstanceStores {}

impl key_value::HostStore for InstanceStores {
    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close(store)
    }
}

impl<T> key_value::HostStoreWithStore<T> for KeyValue {
    async fn open(accessor: &Accessor<T, Self>, label: String) -> Answer<Resource<OpenStore>> {
        Ok(accessor
            .with(|mut view| view.get().open(&label))
            .map_err(Error::from))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Answer<Option<Vec<u8>>> {
        let store = store_of(accessor, &store)?;
        Ok(store.get(&key).await.map_err(Error::from))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        let store = store_of(accessor, &store)?;
        Ok(store.set(&key, &value).await.map_err(Error::from))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Answer<()> {
        let store = store_of(accessor, &store)?;
        Ok(store.delete(&key).await.map_err(Error::from))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
        key: String,
    ) -> Answer<bool> {
        let store = store_of(accessor, &store)?;
        Ok(store.exists(&key).await.map_err(Error::from))
    }

    /// The keys are read first, then streamed; the future reports a
    /// failure to read them (the stream is then empty).
    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let store = store_of(accessor, &store)?;
        let (keys, outcome) = match store.keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(err) => (Vec::new(), Err(Error::from(err))),
        };
        accessor.with(|mut view| {
            let keys = StreamReader::new(&mut view, keys)?;
            let outcome =
                FutureReader::new(&mut view, async move { Ok::<_, wasmtime::Error>(outcome) })?;
            Ok((keys, outcome))
        })
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceStores,
) -> anyhow::Result<()> {
    key_value::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    Ok(())
}
