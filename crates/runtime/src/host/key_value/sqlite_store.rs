//! The `spin` key-value store: a table in an SQLite file (or in memory).
//!
//! The table is Spin's own, `spin_key_value(store, key, value)` with the
//! label in `store`, so a state dir written by `spin up` reads back here and
//! the other way round. One connection per store, used by one blocking
//! task at a time: writers never race each other inside the process, so
//! there is no "database is locked"; the busy timeout covers another
//! process on the same file. WAL with `synchronous = FULL` makes each
//! committed write durable when the call returns, at one fsync per write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use rusqlite::{params, Connection, OptionalExtension as _};

use super::store::{unique_in_order, Swap};

/// How long a write waits for another process holding the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (store, key)
)";

/// An SQLite-backed store.
pub struct SqliteStore {
    label: Arc<str>,
    path: Option<PathBuf>,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path`, or an in-memory
    /// database when `path` is `None`. Errors name the file.
    pub fn open(label: &str, path: Option<&Path>) -> Result<Self> {
        let connection = match path {
            Some(path) => open_file(path)
                .with_context(|| format!("opening the SQLite file {}", path.display()))?,
            None => {
                let connection = Connection::open_in_memory()?;
                connection.execute_batch(CREATE_TABLE)?;
                connection
            }
        };
        Ok(Self {
            label: label.into(),
            path: path.map(Path::to_owned),
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The file, or that the store is in memory.
    pub fn location(&self) -> String {
        match &self.path {
            Some(path) => format!("\"{}\"", path.display()),
            None => "a temporary in-memory store".to_string(),
        }
    }

    /// Runs `work` on the connection on an SQLite thread, so that SQLite
    /// never blocks the async runtime.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let connection = self.connection.clone();
        let label = self.label.clone();
        crate::host::sqlite_threads::run(move || {
            let connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            work(&connection, &label)
        })
        .await?
    }

    /// A point read: run in place when the connection is free (a B-tree
    /// lookup in SQLite's page cache; a hand-off to
    /// another thread costs more than the read), else on an SQLite thread.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &str) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if let Ok(connection) = self.connection.try_lock() {
            return work(&connection, &self.label);
        }
        self.with(work).await
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.read(move |db, store| get(db, store, &key)).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        let key = key.to_string();
        self.read(move |db, store| {
            let mut stmt =
                db.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            Ok(stmt.exists(params![store, key])?)
        })
        .await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.with(move |db, store| set(db, store, &key, &value))
            .await
    }

    pub async fn keys(&self) -> Result<Vec<String>> {
        self.with(|db, store| {
            let mut stmt = db.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?;
            let keys = stmt.query_map([store], |row| row.get(0))?;
            Ok(keys.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    pub async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>> {
        self.with(move |db, store| {
            let mut found = Vec::new();
            for key in unique_in_order(keys) {
                if let Some(value) = get(db, store, &key)? {
                    found.push((key, value));
                }
            }
            Ok(found)
        })
        .await
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.with(move |db, store| {
            let tx = db.unchecked_transaction()?;
            for (key, value) in &pairs {
                set(&tx, store, key, value)?;
            }
            Ok(tx.commit()?)
        })
        .await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<()> {
        self.with(move |db, store| {
            let tx = db.unchecked_transaction()?;
            {
                let mut stmt =
                    tx.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
                for key in &keys {
                    stmt.execute(params![store, key])?;
                }
            }
            Ok(tx.commit()?)
        })
        .await
    }

    /// Counters are 8-byte little-endian integers, as Spin stores them.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let key = key.to_string();
        self.with(move |db, store| {
            let tx = db.unchecked_transaction()?;
            let current = match get(&tx, store, &key)? {
                None => 0,
                Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                    Ok(bytes) => i64::from_le_bytes(bytes),
                    Err(_) => bail!(
                        "the value of \"{key}\" is not a counter (a counter is 8 bytes, \
                         a little-endian integer; this value has {})",
                        bytes.len()
                    ),
                },
            };
            let Some(next) = current.checked_add(delta) else {
                bail!("incrementing \"{key}\" ({current}) by {delta} overflows a 64-bit integer");
            };
            set(&tx, store, &key, &next.to_le_bytes())?;
            tx.commit()?;
            Ok(next)
        })
        .await
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        seen: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<Swap> {
        let key = key.to_string();
        self.with(move |db, store| {
            let changed = match seen {
                Some(old) => db.execute(
                    "UPDATE spin_key_value SET value = ?4 \
                     WHERE store = ?1 AND key = ?2 AND value = ?3",
                    params![store, key, old, new],
                )?,
                None => db.execute(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (store, key) DO NOTHING",
                    params![store, key, new],
                )?,
            };
            Ok(if changed == 1 {
                Swap::Done
            } else {
                Swap::Conflict
            })
        })
        .await
    }
}

fn open_file(path: &Path) -> Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the directory {}", parent.display()))?;
    }
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the journal mode is the first access to the file: a file
    // that is not a database fails here, at start-up.
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    connection.execute_batch("PRAGMA synchronous = FULL")?;
    connection.execute_batch(CREATE_TABLE)?;
    Ok(connection)
}

fn get(db: &Connection, store: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let mut stmt =
        db.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
    Ok(stmt
        .query_row(params![store, key], |row| row.get(0))
        .optional()?)
}

fn set(db: &Connection, store: &str, key: &str, value: &[u8]) -> Result<()> {
    let mut stmt = db.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?;
    stmt.execute(params![store, key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn values_persist_in_the_file_and_labels_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kv.db");
        runtime().block_on(async {
            let a = SqliteStore::open("a", Some(&path)).unwrap();
            let b = SqliteStore::open("b", Some(&path)).unwrap();
            a.set("k", b"1").await.unwrap();
            b.set("k", b"2").await.unwrap();
            assert_eq!(a.get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
            assert_eq!(b.keys().await.unwrap(), ["k"]);
            a.delete_many(vec!["k".into(), "absent".into()])
                .await
                .unwrap();
            assert!(!a.exists("k").await.unwrap());
            a.set("x", b"kept").await.unwrap();
        });
        let reopened = SqliteStore::open("a", Some(&path)).unwrap();
        let value = runtime().block_on(reopened.get("x")).unwrap();
        assert_eq!(value.as_deref(), Some(&b"kept"[..]));
    }

    #[test]
    fn counters_are_little_endian_and_reject_other_values() {
        let store = SqliteStore::open("c", None).unwrap();
        runtime().block_on(async {
            assert_eq!(store.increment("n", 5).await.unwrap(), 5);
            assert_eq!(store.increment("n", -2).await.unwrap(), 3);
            assert_eq!(
                store.get("n").await.unwrap(),
                Some(3i64.to_le_bytes().to_vec())
            );
            store.set("s", b"abc").await.unwrap();
            let err = store.increment("s", 1).await.unwrap_err();
            assert!(err.to_string().contains("not a counter"), "{err}");
        });
    }

    #[test]
    fn compare_and_swap_fails_when_the_value_moved() {
        let store = SqliteStore::open("c", None).unwrap();
        runtime().block_on(async {
            let swap = |seen: Option<&[u8]>, new: &[u8]| {
                store.compare_and_swap("k", seen.map(<[u8]>::to_vec), new.to_vec())
            };
            assert_eq!(swap(None, b"1").await.unwrap(), Swap::Done);
            assert_eq!(swap(None, b"2").await.unwrap(), Swap::Conflict);
            assert_eq!(swap(Some(b"0"), b"2").await.unwrap(), Swap::Conflict);
            assert_eq!(swap(Some(b"1"), b"2").await.unwrap(), Swap::Done);
            assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
    }

    #[test]
    fn a_file_that_is_not_a_database_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = SqliteStore::open("default", Some(&path)).err().unwrap();
        let message = format!("{err:#}");
        assert!(message.contains("kv.db"), "{message}");
        assert!(message.contains("not a database"), "{message}");
    }
}
