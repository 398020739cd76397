//! One key-value store as every interface version sees it, whatever backs it.
//!
//! The interfaces (`fermyon:spin/key-value@2.0.0`, `spin:key-value@3.0.0`,
//! `wasi:keyvalue`) differ only in how they spell the same operations, so
//! they all call [`Store`]. Backend errors come back as text naming the
//! store; each interface wraps that text in its own `other` variant.

use std::sync::Arc;

use super::redis_store::RedisStore;
use super::sqlite_store::SqliteStore;

/// A backend failure, already worded for the guest and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

/// What a store operation returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of a compare-and-swap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// The value was still the one read; the new value is stored.
    Done,
    /// Someone changed the value in between; nothing was written.
    Conflict,
}

/// A key-value store of the app, shared by every instance that opens it.
pub struct Store {
    label: Arc<str>,
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

impl Store {
    pub(super) fn sqlite(label: &str, store: SqliteStore) -> Self {
        Self {
            label: label.into(),
            backend: Backend::Sqlite(store),
        }
    }

    pub(super) fn redis(label: &str, store: RedisStore) -> Self {
        Self {
            label: label.into(),
            backend: Backend::Redis(store),
        }
    }

    /// The store's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where the data lives, for the start-up summary.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(store) => store.location(),
            Backend::Redis(store) => store.location(),
        }
    }

    fn named<T>(&self, result: anyhow::Result<T>) -> StoreResult<T> {
        result.map_err(|err| StoreError(format!("key-value store \"{}\": {err:#}", self.label)))
    }

    /// The value of `key`, if set.
    pub async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.get(key).await,
            Backend::Redis(store) => store.get(key).await,
        };
        self.named(result)
    }

    /// Sets `key`; durable once this returns.
    pub async fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.set(key, value).await,
            Backend::Redis(store) => store.set(key, value).await,
        };
        self.named(result)
    }

    /// Removes `key`; removing an absent key succeeds.
    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.delete_many(vec![key.to_string()]).await,
            Backend::Redis(store) => store.delete_many(vec![key.to_string()]).await,
        };
        self.named(result)
    }

    /// Whether `key` is set.
    pub async fn exists(&self, key: &str) -> StoreResult<bool> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.exists(key).await,
            Backend::Redis(store) => store.exists(key).await,
        };
        self.named(result)
    }

    /// Every key of the store.
    pub async fn keys(&self) -> StoreResult<Vec<String>> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.keys().await,
            Backend::Redis(store) => store.keys().await,
        };
        self.named(result)
    }

    /// The values of `keys` that are set, in the order asked, each key once.
    pub async fn get_many(&self, keys: Vec<String>) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.get_many(keys).await,
            Backend::Redis(store) => store.get_many(keys).await,
        };
        self.named(result)
    }

    /// Sets every pair, all or none.
    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> StoreResult<()> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.set_many(pairs).await,
            Backend::Redis(store) => store.set_many(pairs).await,
        };
        self.named(result)
    }

    /// Removes every key given.
    pub async fn delete_many(&self, keys: Vec<String>) -> StoreResult<()> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.delete_many(keys).await,
            Backend::Redis(store) => store.delete_many(keys).await,
        };
        self.named(result)
    }

    /// Adds `delta` to the counter at `key` (absent counts as 0) and
    /// returns the new value, atomically.
    pub async fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.increment(key, delta).await,
            Backend::Redis(store) => store.increment(key, delta).await,
        };
        self.named(result)
    }

    /// Writes `new` at `key` if its value is still `seen` (`None`: still
    /// absent), atomically.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        seen: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> StoreResult<Swap> {
        let result = match &self.backend {
            Backend::Sqlite(store) => store.compare_and_swap(key, seen, new).await,
            Backend::Redis(store) => store.compare_and_swap(key, seen, new).await,
        };
        self.named(result)
    }
}

/// Keys in the order first asked, each once.
pub(super) fn unique_in_order(keys: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}
