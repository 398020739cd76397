//! `wasi:keyvalue@0.2.0-draft2`: store, atomics and batch.
//!
//! A `cas` reads the key's value when it is made and `swap` writes only
//! if the value is still that one; a lost race returns `cas-failed` with a
//! fresh `cas` holding the newer value, ready for another attempt.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::{Linker, Resource};

use super::store::{unique_in_order, Store, StoreError, Swap};
use super::{Cas, InstanceStores, KeyValue, OpenError, OpenStore};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/wasi-keyvalue",
        world: "keyvalue-host",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::key_value::OpenStore,
            "wasi:keyvalue/atomics.cas": crate::host::key_value::Cas,
        },
    });
}

use bindings::wasi::keyvalue::atomics::{self, CasError};
use bindings::wasi::keyvalue::batch;
use bindings::wasi::keyvalue::store::{self, Error, KeyResponse};

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::Other(err.0)
    }
}

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl InstanceStores {
    /// A `cas` for `key`, holding its current value.
    async fn new_cas(&mut self, store: Arc<Store>, key: String) -> Answer<Resource<Cas>> {
        let seen = match store.get(&key).await {
            Ok(seen) => seen,
            Err(err) => return Ok(Err(err.into())),
        };
        Ok(Ok(self.table.push(Cas { store, key, seen })?))
    }
}

impl store::Host for InstanceStores {
    async fn open(&mut self, identifier: String) -> Answer<Resource<OpenStore>> {
        Ok(
            InstanceStores::open(self, &identifier).map_err(|err| match err {
                OpenError::AccessDenied => Error::AccessDenied,
                OpenError::NoSuchStore => Error::NoSuchStore,
                OpenError::TableFull => Error::Other("store table full".to_string()),
            }),
        )
    }
}

impl store::HostBucket for InstanceStores {
    async fn get(&mut self, bucket: Resource<OpenStore>, key: String) -> Answer<Option<Vec<u8>>> {
        let store = self.store(&bucket)?;
        Ok(store.get(&key).await.map_err(Error::from))
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        let store = self.store(&bucket)?;
        Ok(store.set(&key, &value).await.map_err(Error::from))
    }

    async fn delete(&mut self, bucket: Resource<OpenStore>, key: String) -> Answer<()> {
        let store = self.store(&bucket)?;
        Ok(store.delete(&key).await.map_err(Error::from))
    }

    async fn exists(&mut self, bucket: Resource<OpenStore>, key: String) -> Answer<bool> {
        let store = self.store(&bucket)?;
        Ok(store.exists(&key).await.map_err(Error::from))
    }

    /// All keys at once; a cursor is refused with Spin's message.
    async fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> Answer<KeyResponse> {
        if cursor.is_some() {
            return Ok(Err(Error::Other(
                "list_keys: cursor not supported".to_string(),
            )));
        }
        let store = self.store(&bucket)?;
        Ok(store
            .keys()
            .await
            .map(|keys| KeyResponse { keys, cursor: None })
            .map_err(Error::from))
    }

    async fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close(bucket)
    }
}

impl atomics::Host for InstanceStores {
    async fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Answer<i64> {
        let store = self.store(&bucket)?;
        Ok(store.increment(&key, delta).await.map_err(Error::from))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas { store, key, seen } = self.table.delete(cas)?;
        match store.compare_and_swap(&key, seen, value).await {
            Ok(Swap::Done) => Ok(Ok(())),
            Ok(Swap::Conflict) => Ok(Err(match self.new_cas(store, key).await? {
                Ok(fresh) => CasError::CasFailed(fresh),
                Err(err) => CasError::StoreError(err),
            })),
            Err(err) => Ok(Err(CasError::StoreError(err.into()))),
        }
    }
}

impl atomics::HostCas for InstanceStores {
    async fn new(&mut self, bucket: Resource<OpenStore>, key: String) -> Answer<Resource<Cas>> {
        let store = self.store(&bucket)?;
        self.new_cas(store, key).await
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Answer<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.seen.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceStores {
    /// Every key asked for, once each, in order: `none` where unset.
    async fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Answer<Vec<(String, Option<Vec<u8>>)>> {
        let store = self.store(&bucket)?;
        let keys = unique_in_order(keys);
        let mut found: HashMap<String, Vec<u8>> = match store.get_many(keys.clone()).await {
            Ok(found) => found.into_iter().collect(),
            Err(err) => return Ok(Err(err.into())),
        };
        Ok(Ok(keys
            .into_iter()
            .map(|key| {
                let value = found.remove(&key);
                (key, value)
            })
            .collect()))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let store = self.store(&bucket)?;
        Ok(store.set_many(key_values).await.map_err(Error::from))
    }

    async fn delete_many(&mut self, bucket: Resource<OpenStore>, keys: Vec<String>) -> Answer<()> {
        let store = self.store(&bucket)?;
        Ok(store.delete_many(keys).await.map_err(Error::from))
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceStores,
) -> anyhow::Result<()> {
    store::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    atomics::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    batch::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    Ok(())
}
