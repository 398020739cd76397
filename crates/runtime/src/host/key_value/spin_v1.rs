//! `fermyon:spin/key-value` (Spin 1.x guests): stores are integer handles,
//! and a missing key is the error `no-such-key` rather than `none`.

use wasmtime::component::{Linker, Resource};

use super::store::StoreError;
use super::{InstanceStores, KeyValue, OpenError, OpenStore};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-key-value-host",
        imports: { default: async | trappable },
    });
}

use bindings::fermyon::spin::key_value::{self, Error, Store};

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Error::Io(err.0)
    }
}

open_error_conversion!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl InstanceStores {
    /// The store behind a Spin 1.x handle; one this instance never opened
    /// (or already closed) is `invalid-store`.
    fn legacy_store(&self, handle: Store) -> Result<std::sync::Arc<super::Store>, Error> {
        self.store(&Resource::<OpenStore>::new_borrow(handle))
            .map_err(|_| Error::InvalidStore)
    }
}

impl key_value::Host for InstanceStores {
    async fn open(&mut self, name: String) -> Answer<Store> {
        Ok(InstanceStores::open(self, &name)
            .map(|store| store.rep())
            .map_err(Error::from))
    }

    async fn get(&mut self, store: Store, key: String) -> Answer<Vec<u8>> {
        let store = match self.legacy_store(store) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(match store.get(&key).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error::NoSuchKey),
            Err(err) => Err(err.into()),
        })
    }

    async fn set(&mut self, store: Store, key: String, value: Vec<u8>) -> Answer<()> {
        Ok(match self.legacy_store(store) {
            Ok(store) => store.set(&key, &value).await.map_err(Error::from),
            Err(err) => Err(err),
        })
    }

    async fn delete(&mut self, store: Store, key: String) -> Answer<()> {
        Ok(match self.legacy_store(store) {
            Ok(store) => store.delete(&key).await.map_err(Error::from),
            Err(err) => Err(err),
        })
    }

    async fn exists(&mut self, store: Store, key: String) -> Answer<bool> {
        Ok(match self.legacy_store(store) {
            Ok(store) => store.exists(&key).await.map_err(Error::from),
            Err(err) => Err(err),
        })
    }

    async fn get_keys(&mut self, store: Store) -> Answer<Vec<String>> {
        Ok(match self.legacy_store(store) {
            Ok(store) => store.keys().await.map_err(Error::from),
            Err(err) => Err(err),
        })
    }

    /// Closing a handle that is not open does nothing: the function has no
    /// error to report it with.
    async fn close(&mut self, store: Store) -> wasmtime::Result<()> {
        if self.legacy_store(store).is_ok() {
            self.close(Resource::new_own(store))?;
        }
        Ok(())
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceStores,
) -> anyhow::Result<()> {
    key_value::add_to_linker::<InstanceState, KeyValue>(linker, get)?;
    Ok(())
}
