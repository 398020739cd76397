//! One SQLite database of the app and the connections guests hold on it.
//!
//! Each guest `open` holds its own connection until it drops the handle,
//! so a guest's transaction, `changes` and `last-insert-rowid` are its
//! own. File connections are pooled between opens (opening one costs a
//! file open and a schema read, too much per request); WAL lets readers
//! run beside a writer, and the busy timeout makes a writer wait for
//! another instead of failing with "database is locked". An in-memory
//! database is one connection that every open shares, so it keeps its
//! data (and `--sqlite` seeds) for the life of the process.
//!
//! Statements run on the SQLite threads (`host::sqlite_threads`), never on
//! the async runtime's threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;

/// How long a writer waits for another.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle file connections kept per database.
const MAX_IDLE: usize = 16;

/// The most a query result may hold, as in Spin.
pub const MAX_RESULT_BYTES: usize = 128 << 20;

/// A value as guests pass and receive it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

/// A statement's result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A database of the app.
pub struct Database {
    label: Arc<str>,
    path: Option<PathBuf>,
    allow_attach_file: bool,
    /// In memory: the one shared connection. A file: idle connections.
    idle: Mutex<Vec<Arc<Mutex<Connection>>>>,
}

impl Database {
    /// Opens the database (creating the file and its directory if
    /// needed) and checks that it is one; errors name the file.
    pub fn open(label: &str, path: Option<&Path>, allow_attach_file: bool) -> Result<Self> {
        let database = Self {
            label: label.into(),
            path: path.map(Path::to_owned),
            allow_attach_file,
            idle: Mutex::new(Vec::new()),
        };
        let first = database.new_connection()?;
        database.lock_idle().push(Arc::new(Mutex::new(first)));
        Ok(database)
    }

    /// The file, or that the database is in memory.
    pub fn location(&self) -> String {
        match &self.path {
            Some(path) => format!("\"{}\"", path.display()),
            None => "a temporary in-memory database".to_string(),
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Mutex<Connection>>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_connection(&self) -> Result<Connection> {
        let mut connection = match &self.path {
            None => Connection::open_in_memory()?,
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating the directory {}", parent.display()))?;
                }
                let connection = Connection::open(path)
                    .with_context(|| format!("opening the SQLite file {}", path.display()))?;
                connection.busy_timeout(BUSY_TIMEOUT)?;
                connection
                    .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                    .with_context(|| format!("opening the SQLite file {}", path.display()))?;
                connection.execute_batch("PRAGMA synchronous = FULL")?;
                connection
            }
        };
        if !self.allow_attach_file {
            connection.authorizer(Some(deny_attaching_files))?;
        }
        Ok(connection)
    }

    /// A connection for one guest `open`, held until dropped.
    pub async fn connect(self: &Arc<Self>) -> Result<DbConnection> {
        let reused = match self.path {
            None => self.lock_idle().first().cloned(),
            Some(_) => self.lock_idle().pop(),
        };
        let connection = match reused {
            Some(connection) => connection,
            None => {
                let database = self.clone();
                let connection =
                    crate::host::sqlite_threads::run(move || database.new_connection()).await??;
                Arc::new(Mutex::new(connection))
            }
        };
        DbConnection::new(self.clone(), connection).await
    }

    /// Runs a batch of statements (`--sqlite`), all of them.
    pub async fn execute_batch(self: &Arc<Self>, sql: String) -> Result<()> {
        let connection = self.connect().await?;
        connection
            .with(move |db| Ok(db.execute_batch(&sql)?))
            .await
            .map_err(|message| anyhow::anyhow!("{message}"))
    }

    /// Returns a file connection to the pool, unless it is still in use
    /// (a cancelled call) or its holder left a transaction that cannot be
    /// rolled back; such a connection is closed instead.
    fn give_back(&self, connection: Arc<Mutex<Connection>>) {
        if self.path.is_none() {
            return;
        }
        {
            let Ok(db) = connection.try_lock() else {
                return;
            };
            if !db.is_autocommit() && db.execute_batch("ROLLBACK").is_err() {
                return;
            }
        }
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }
}

/// `ATTACH` of a file is refused unless the runtime config allows it
/// (temporary and in-memory databases are fine), as in Spin.
fn deny_attaching_files(context: AuthContext<'_>) -> Authorization {
    match context.action {
        AuthAction::Attach { filename } if !filename.is_empty() && filename != ":memory:" => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

/// A connection a guest holds.
///
/// A pooled connection remembers its previous holder's last insert and
/// change count; `last-insert-rowid` and `changes` report 0 until this
/// holder's own statements move them, as on a fresh connection.
pub struct DbConnection {
    database: Arc<Database>,
    connection: Option<Arc<Mutex<Connection>>>,
    rowid_at_open: i64,
    total_changes_at_open: u64,
}

impl DbConnection {
    async fn new(database: Arc<Database>, connection: Arc<Mutex<Connection>>) -> Result<Self> {
        fn counters(db: &Connection) -> (i64, u64) {
            (db.last_insert_rowid(), db.total_changes())
        }
        // Another holder of a shared in-memory connection may be running
        // a statement: then wait for it off the async threads.
        let now = connection.try_lock().ok().map(|db| counters(&db));
        let (rowid_at_open, total_changes_at_open) = match now {
            Some(counters) => counters,
            None => {
                let shared = connection.clone();
                crate::host::sqlite_threads::run(move || {
                    counters(&shared.lock().unwrap_or_else(|e| e.into_inner()))
                })
                .await?
            }
        };
        Ok(Self {
            database,
            connection: Some(connection),
            rowid_at_open,
            total_changes_at_open,
        })
    }

    /// Runs `work` on the connection on an SQLite thread; an error is the
    /// message guests see in `io(...)`.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let Some(connection) = self.connection.clone() else {
            return Err("the connection is closed".to_string());
        };
        crate::host::sqlite_threads::run(move || {
            let connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            work(&connection).map_err(|err| guest_message(&err))
        })
        .await
        .unwrap_or_else(|_| Err("internal runtime error".to_string()))
    }

    fn with_now<T>(&self, work: impl FnOnce(&Connection) -> T) -> Option<T> {
        let connection = self.connection.as_ref()?;
        let connection = connection.lock().unwrap_or_else(|e| e.into_inner());
        Some(work(&connection))
    }

    /// Runs one statement with positional parameters.
    ///
    /// A query (`SELECT`/`WITH`/`VALUES` that SQLite says changes nothing,
    /// outside a transaction) runs in place when the connection is free:
    /// it reads SQLite's page cache, and a hand-off to another thread costs
    /// more than the query. Everything else runs on an SQLite thread.
    pub async fn execute(&self, statement: String, parameters: Vec<Value>) -> Result<Rows, String> {
        if let Some(connection) = &self.connection {
            if let Ok(db) = connection.try_lock() {
                if is_plain_query(&db, &statement) {
                    return execute(&db, &statement, parameters).map_err(|err| guest_message(&err));
                }
            }
        }
        self.with(move |db| execute(db, &statement, parameters))
            .await
    }

    /// The rowid of this holder's last insert (0 before any).
    pub fn last_insert_rowid(&self) -> i64 {
        self.with_now(|db| match db.last_insert_rowid() {
            rowid if rowid == self.rowid_at_open => 0,
            rowid => rowid,
        })
        .unwrap_or(0)
    }

    /// Rows changed by this holder's last INSERT, UPDATE or DELETE.
    pub fn changes(&self) -> u64 {
        self.with_now(|db| {
            if db.total_changes() == self.total_changes_at_open {
                0
            } else {
                db.changes()
            }
        })
        .unwrap_or(0)
    }

    /// The database's label, for logs.
    pub fn label(&self) -> &str {
        &self.database.label
    }
}

impl Drop for DbConnection {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.database.give_back(connection);
        }
    }
}

/// The text of `io(...)`: SQLite's own message, as Spin reports it
/// (rusqlite's Display adds the result code's generic description).
fn guest_message(err: &anyhow::Error) -> String {
    match err.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(_, Some(message))) => message.clone(),
        Some(rusqlite::Error::SqlInputError {
            msg, sql, offset, ..
        }) => format!("{msg} in {sql} at offset {offset}"),
        _ => err.to_string(),
    }
}

/// Whether `sql` only reads: no writes, no transaction control, no attach,
/// and no transaction open on the connection (whose end would fsync).
fn is_plain_query(db: &Connection, sql: &str) -> bool {
    let first_word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    let query = ["select", "with", "values"]
        .iter()
        .any(|word| first_word.eq_ignore_ascii_case(word));
    query
        && db.is_autocommit()
        && db
            .prepare_cached(sql)
            .is_ok_and(|statement| statement.readonly())
}

fn execute(db: &Connection, sql: &str, parameters: Vec<Value>) -> Result<Rows> {
    let mut statement = db.prepare_cached(sql)?;
    let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
    let parameters = parameters.into_iter().map(SqlValue::from);
    let mut rows = statement.query(rusqlite::params_from_iter(parameters))?;
    let mut result = Rows {
        columns,
        rows: Vec::new(),
    };
    let mut size = 0usize;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(result.columns.len());
        for index in 0..result.columns.len() {
            let value = Value::from(row.get_ref(index)?);
            size += value.size();
            values.push(value);
        }
        if size > MAX_RESULT_BYTES {
            anyhow::bail!("query result exceeds limit of {MAX_RESULT_BYTES} bytes");
        }
        result.rows.push(values);
    }
    Ok(result)
}

impl Value {
    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                Value::Text(text) => text.len(),
                Value::Blob(blob) => blob.len(),
                _ => 0,
            }
    }
}

impl From<Value> for SqlValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Integer(i) => SqlValue::Integer(i),
            Value::Real(r) => SqlValue::Real(r),
            Value::Text(t) => SqlValue::Text(t),
            Value::Blob(b) => SqlValue::Blob(b),
            Value::Null => SqlValue::Null,
        }
    }
}

impl From<ValueRef<'_>> for Value {
    /// Text that is not UTF-8 is passed on with replacement characters.
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            ValueRef::Null => Value::Null,
        }
    }
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
    fn values_round_trip_with_their_types() {
        let db = Arc::new(Database::open("default", None, false).unwrap());
        runtime().block_on(async {
            let c = db.connect().await.unwrap();
            c.execute("CREATE TABLE t (v)".into(), vec![])
                .await
                .unwrap();
            let values = vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("é".into()),
                Value::Blob(vec![0, 255]),
                Value::Null,
            ];
            for v in &values {
                c.execute("INSERT INTO t VALUES (?)".into(), vec![v.clone()])
                    .await
                    .unwrap();
            }
            assert_eq!(c.last_insert_rowid(), 5);
            assert_eq!(c.changes(), 1);
            let rows = c
                .execute("SELECT v AS value FROM t ORDER BY rowid".into(), vec![])
                .await
                .unwrap();
            assert_eq!(rows.columns, ["value"]);
            let got: Vec<Value> = rows.rows.into_iter().map(|mut r| r.remove(0)).collect();
            assert_eq!(got, values);
        });
    }

    #[test]
    fn statement_errors_carry_sqlites_message() {
        let db = Arc::new(Database::open("default", None, false).unwrap());
        runtime().block_on(async {
            let c = db.connect().await.unwrap();
            let err = c.execute("SELEC 1".into(), vec![]).await.unwrap_err();
            assert!(err.contains("syntax error"), "{err}");
            let err = c
                .execute("ATTACH DATABASE '/tmp/x.db' AS x".into(), vec![])
                .await
                .unwrap_err();
            assert!(err.contains("not authorized"), "{err}");
        });
    }

    #[test]
    fn file_connections_are_pooled_and_each_open_has_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db/sqlite_db.db");
        let db = Arc::new(Database::open("default", Some(&path), false).unwrap());
        runtime().block_on(async {
            let a = db.connect().await.unwrap();
            let b = db.connect().await.unwrap();
            a.execute("CREATE TABLE t (v)".into(), vec![])
                .await
                .unwrap();
            a.execute("BEGIN".into(), vec![]).await.unwrap();
            a.execute("INSERT INTO t VALUES (1)".into(), vec![])
                .await
                .unwrap();
            let seen = b
                .execute("SELECT count(*) FROM t".into(), vec![])
                .await
                .unwrap();
            assert_eq!(
                seen.rows,
                [[Value::Integer(0)]],
                "b sees a's open transaction"
            );
            a.execute("COMMIT".into(), vec![]).await.unwrap();
            let seen = b
                .execute("SELECT count(*) FROM t".into(), vec![])
                .await
                .unwrap();
            assert_eq!(seen.rows, [[Value::Integer(1)]]);
        });
        assert_eq!(db.lock_idle().len(), 2);
    }

    #[test]
    fn a_pooled_connection_starts_like_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open("d", Some(&dir.path().join("d.db")), false).unwrap());
        runtime().block_on(async {
            let first = db.connect().await.unwrap();
            first
                .execute("CREATE TABLE t (v)".into(), vec![])
                .await
                .unwrap();
            first
                .execute("INSERT INTO t VALUES (1)".into(), vec![])
                .await
                .unwrap();
            first.execute("BEGIN".into(), vec![]).await.unwrap();
            first
                .execute("INSERT INTO t VALUES (2)".into(), vec![])
                .await
                .unwrap();
            assert_eq!((first.last_insert_rowid(), first.changes()), (2, 1));
            drop(first);
            let second = db.connect().await.unwrap();
            assert_eq!((second.last_insert_rowid(), second.changes()), (0, 0));
            let rows = second
                .execute("SELECT count(*) FROM t".into(), vec![])
                .await
                .unwrap();
            assert_eq!(
                rows.rows,
                [[Value::Integer(1)]],
                "the open transaction was rolled back"
            );
        });
    }

    #[test]
    fn only_plain_queries_run_in_place() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (v)").unwrap();
        assert!(is_plain_query(&db, "SELECT v FROM t"));
        assert!(is_plain_query(
            &db,
            "  with x AS (SELECT 1) SELECT * FROM x"
        ));
        for sql in [
            "INSERT INTO t VALUES (1)",
            "BEGIN",
            "COMMIT",
            "SELEC 1",
            "PRAGMA user_version",
        ] {
            assert!(!is_plain_query(&db, sql), "{sql}");
        }
        db.execute_batch("BEGIN").unwrap();
        assert!(
            !is_plain_query(&db, "SELECT v FROM t"),
            "inside a transaction"
        );
    }
}
