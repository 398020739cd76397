//! One SQLite database of the app and the connections guests hold on it.
//!
//! Each guest `open` holds its own connection until it drops the handle,
//! so a guest's transaction, `changes` and `last-insert-rowid` are its
//! own. Connections are pooled between opens (opening one costs a file
//! open and a schema read, too much per request): a returned connection
//! has any open transaction rolled back, and one whose holder changed
//! state that would outlive it (a PRAGMA, ATTACH/DETACH, TEMP objects; the
//! authorizer watches) is closed instead. WAL lets readers run beside a
//! writer, and the busy timeout makes a writer wait for another instead of
//! failing with "database is locked". An in-memory database is an SQLite
//! `memdb` shared by its connections, kept for the life of the process, so
//! it keeps its data (and `--sqlite` seeds).
//!
//! Statements run on the SQLite threads (`host::sqlite_threads`), except
//! short read-only queries, which run in place (see [`DbConnection::execute`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;

use crate::host::sqlite_threads;

/// How long a writer waits for another.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept per database.
const MAX_IDLE: usize = 16;

/// SQLite VM steps between two calls of the progress handler.
const STEPS_PER_CHECK: i32 = 1000;

/// Progress-handler calls a query run in place may take (100,000 VM steps)
/// before it is interrupted and run again on an SQLite thread.
const IN_PLACE_CHECKS: i64 = 100;

/// The most a query result may hold, as in Spin.
pub const MAX_RESULT_BYTES: usize = crate::host::MAX_HOST_BUFFERED_BYTES;

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

/// One connection and what its hooks report about it.
struct Pooled {
    connection: Mutex<Connection>,
    /// Set by the authorizer when a holder changed state that would
    /// outlive it; such a connection is not pooled again.
    tainted: Arc<AtomicBool>,
    /// Progress-handler calls the running statement may still take; the
    /// handler interrupts it at 0. Unlimited except for in-place queries.
    checks_left: Arc<AtomicI64>,
}

impl Pooled {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a database lives.
enum Location {
    File(PathBuf),
    /// A `memdb` URI, and one connection that keeps the database alive.
    Memory {
        uri: String,
        _keeper: Mutex<Connection>,
    },
}

/// A database of the app.
pub struct Database {
    label: Arc<str>,
    location: Location,
    allow_attach_file: bool,
    idle: Mutex<Vec<Arc<Pooled>>>,
}

impl Database {
    /// Opens the database (creating the file and its directory if
    /// needed) and checks that it is one; errors name the file.
    pub fn open(label: &str, path: Option<&Path>, allow_attach_file: bool) -> Result<Self> {
        let location = match path {
            Some(path) => Location::File(path.to_owned()),
            None => {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let uri = format!(
                    "file:/spinshim-{}-{n}-{label}?vfs=memdb",
                    std::process::id()
                );
                let keeper = Connection::open(&uri).context("creating an in-memory database")?;
                Location::Memory {
                    uri,
                    _keeper: Mutex::new(keeper),
                }
            }
        };
        let database = Self {
            label: label.into(),
            location,
            allow_attach_file,
            idle: Mutex::new(Vec::new()),
        };
        let first = database.new_connection()?;
        database.lock_idle().push(Arc::new(first));
        Ok(database)
    }

    /// The file, or that the database is in memory.
    pub fn location(&self) -> String {
        match &self.location {
            Location::File(path) => format!("\"{}\"", path.display()),
            Location::Memory { .. } => "a temporary in-memory database".to_string(),
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Pooled>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_connection(&self) -> Result<Pooled> {
        let mut connection = match &self.location {
            Location::Memory { uri, .. } => {
                let connection = Connection::open(uri).context("opening the in-memory database")?;
                connection.busy_timeout(BUSY_TIMEOUT)?;
                connection
            }
            Location::File(path) => {
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
        let tainted = Arc::new(AtomicBool::new(false));
        let checks_left = Arc::new(AtomicI64::new(i64::MAX));
        let allow_attach_file = self.allow_attach_file;
        let taint = tainted.clone();
        connection.authorizer(Some(move |context: AuthContext<'_>| {
            authorize(context, allow_attach_file, &taint)
        }))?;
        let budget = checks_left.clone();
        connection.progress_handler(
            STEPS_PER_CHECK,
            Some(move || budget.fetch_sub(1, Ordering::Relaxed) <= 0),
        )?;
        Ok(Pooled {
            connection: Mutex::new(connection),
            tainted,
            checks_left,
        })
    }

    /// A connection for one guest `open`, held until dropped.
    pub async fn connect(self: &Arc<Self>) -> Result<DbConnection> {
        let reused = self.lock_idle().pop();
        let pooled = match reused {
            Some(pooled) => pooled,
            None => {
                let database = self.clone();
                Arc::new(sqlite_threads::run(move || database.new_connection()).await??)
            }
        };
        DbConnection::new(self.clone(), pooled).await
    }

    /// Runs a batch of statements (`--sqlite`), all of them.
    pub async fn execute_batch(self: &Arc<Self>, sql: String) -> Result<()> {
        let connection = self.connect().await?;
        connection
            .with(move |db| Ok(db.execute_batch(&sql)?))
            .await
            .map_err(|message| anyhow::anyhow!("{message}"))
    }

    /// Returns a connection to the pool, unless it is still in use (a
    /// cancelled call), tainted, or left in a transaction that cannot be
    /// rolled back; such a connection is closed instead.
    fn give_back(&self, pooled: Arc<Pooled>) {
        if pooled.tainted.load(Ordering::Relaxed) {
            return;
        }
        {
            let Ok(db) = pooled.connection.try_lock() else {
                return;
            };
            if !db.is_autocommit() && db.execute_batch("ROLLBACK").is_err() {
                return;
            }
        }
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE {
            idle.push(pooled);
        }
    }
}

/// The authorizer of every connection: `ATTACH` of a file is refused
/// unless the runtime config allows it (temporary and in-memory databases
/// are fine), as in Spin; statements whose effect outlives the holder
/// taint the connection.
fn authorize(
    context: AuthContext<'_>,
    allow_attach_file: bool,
    tainted: &AtomicBool,
) -> Authorization {
    match context.action {
        AuthAction::Attach { filename } => {
            if !allow_attach_file && !filename.is_empty() && filename != ":memory:" {
                return Authorization::Deny;
            }
            tainted.store(true, Ordering::Relaxed);
        }
        AuthAction::Detach { .. }
        | AuthAction::Pragma { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. } => tainted.store(true, Ordering::Relaxed),
        _ => {}
    }
    Authorization::Allow
}

/// A connection a guest holds.
///
/// `last-insert-rowid` starts at 0 for every holder, and `changes` reads
/// 0 until the holder's own statements change rows, as on a fresh
/// connection.
pub struct DbConnection {
    database: Arc<Database>,
    pooled: Option<Arc<Pooled>>,
    total_changes_at_open: u64,
}

impl DbConnection {
    async fn new(database: Arc<Database>, pooled: Arc<Pooled>) -> Result<Self> {
        fn start_fresh(db: &Connection) -> u64 {
            // SAFETY: the handle belongs to `db`, which the caller holds
            // locked; the call only sets an integer on the connection.
            unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(db.handle(), 0) };
            db.total_changes()
        }
        // A connection whose last holder's call was cancelled may still be
        // running it: then wait for it off the async threads.
        let now = pooled.connection.try_lock().ok().map(|db| start_fresh(&db));
        let total_changes_at_open = match now {
            Some(total) => total,
            None => {
                let shared = pooled.clone();
                sqlite_threads::run(move || start_fresh(&shared.lock())).await?
            }
        };
        Ok(Self {
            database,
            pooled: Some(pooled),
            total_changes_at_open,
        })
    }

    /// Runs `work` on the connection on an SQLite thread; an error is the
    /// message guests see in `io(...)`.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let Some(pooled) = self.pooled.clone() else {
            return Err("the connection is closed".to_string());
        };
        sqlite_threads::run(move || work(&pooled.lock()).map_err(|err| guest_message(&err)))
            .await
            .unwrap_or_else(|_| Err("internal runtime error".to_string()))
    }

    fn with_now<T>(&self, work: impl FnOnce(&Connection) -> T) -> Option<T> {
        Some(work(&self.pooled.as_ref()?.lock()))
    }

    /// Runs one statement with positional parameters (only the first of
    /// several, as in Spin).
    ///
    /// A query (`SELECT`/`WITH`/`VALUES` that SQLite says changes nothing,
    /// outside a transaction) runs in place when the connection is free:
    /// it reads SQLite's page cache, and a hand-off to another thread costs
    /// more than the query. A query that takes longer than
    /// [`IN_PLACE_CHECKS`] progress checks is interrupted and run again on
    /// an SQLite thread (it changed nothing). Everything else runs on an
    /// SQLite thread.
    pub async fn execute(&self, statement: String, parameters: Vec<Value>) -> Result<Rows, String> {
        if let Some(pooled) = &self.pooled {
            if let Ok(db) = pooled.connection.try_lock() {
                if is_plain_query(&db, &statement) {
                    pooled.checks_left.store(IN_PLACE_CHECKS, Ordering::Relaxed);
                    let result = execute(&db, &statement, parameters.clone());
                    pooled.checks_left.store(i64::MAX, Ordering::Relaxed);
                    match result {
                        Err(err) if was_interrupted(&err) => {}
                        result => return result.map_err(|err| guest_message(&err)),
                    }
                }
            }
        }
        self.with(move |db| execute(db, &statement, parameters))
            .await
    }

    /// The rowid of this holder's last insert (0 before any).
    pub fn last_insert_rowid(&self) -> i64 {
        self.with_now(Connection::last_insert_rowid).unwrap_or(0)
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
        if let Some(pooled) = self.pooled.take() {
            self.database.give_back(pooled);
        }
    }
}

fn was_interrupted(err: &anyhow::Error) -> bool {
    err.downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        == Some(rusqlite::ErrorCode::OperationInterrupted)
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
    match db.prepare_cached(sql) {
        Ok(mut statement) => run_statement(&mut statement, parameters),
        // As in Spin, of several statements only the first runs.
        Err(rusqlite::Error::MultipleStatement) => {
            let mut statements = rusqlite::Batch::new(db, sql);
            match statements.next()? {
                Some(mut statement) => run_statement(&mut statement, parameters),
                None => Ok(Rows::default()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

fn run_statement(statement: &mut rusqlite::Statement<'_>, parameters: Vec<Value>) -> Result<Rows> {
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

    #[test]
    fn in_memory_holders_share_data_but_not_transactions() {
        let db = Arc::new(Database::open("m", None, false).unwrap());
        runtime().block_on(async {
            let a = db.connect().await.unwrap();
            let b = db.connect().await.unwrap();
            a.execute("CREATE TABLE t (v)".into(), vec![])
                .await
                .unwrap();
            a.execute("INSERT INTO t VALUES (1)".into(), vec![])
                .await
                .unwrap();
            a.execute("BEGIN".into(), vec![]).await.unwrap();
            a.execute("INSERT INTO t VALUES (2)".into(), vec![])
                .await
                .unwrap();
            // (A memdb reader waits for an open write transaction, so b
            // looks only once a is gone.)
            drop(a);
            let seen = b
                .execute("SELECT count(*) FROM t".into(), vec![])
                .await
                .unwrap();
            assert_eq!(
                seen.rows,
                [[Value::Integer(1)]],
                "a's transaction was rolled back"
            );
        });
    }

    #[test]
    fn a_connection_whose_holder_left_state_behind_is_not_pooled() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open("d", Some(&dir.path().join("d.db")), false).unwrap());
        runtime().block_on(async {
            let a = db.connect().await.unwrap();
            a.execute("CREATE TABLE t (v)".into(), vec![])
                .await
                .unwrap();
            a.execute(
                "CREATE TEMP TRIGGER wipe AFTER INSERT ON t BEGIN DELETE FROM t; END".into(),
                vec![],
            )
            .await
            .unwrap();
            drop(a);
            assert!(
                db.lock_idle().is_empty(),
                "the tainted connection was closed"
            );
            let b = db.connect().await.unwrap();
            b.execute("INSERT INTO t VALUES (1)".into(), vec![])
                .await
                .unwrap();
            let seen = b
                .execute("SELECT count(*) FROM t".into(), vec![])
                .await
                .unwrap();
            assert_eq!(seen.rows, [[Value::Integer(1)]]);
        });
    }

    #[test]
    fn of_several_statements_only_the_first_runs() {
        let db = Arc::new(Database::open("m", None, false).unwrap());
        runtime().block_on(async {
            let c = db.connect().await.unwrap();
            c.execute("CREATE TABLE t (v); CREATE TABLE u (v)".into(), vec![])
                .await
                .unwrap();
            let tables = c
                .execute(
                    "SELECT name FROM sqlite_master ORDER BY name".into(),
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(tables.rows, [[Value::Text("t".into())]]);
        });
    }

    #[test]
    fn a_long_query_leaves_the_async_thread_and_still_answers() {
        let db = Arc::new(Database::open("m", None, false).unwrap());
        runtime().block_on(async {
            let c = db.connect().await.unwrap();
            let sql = "WITH RECURSIVE n(x) AS (VALUES(1) UNION ALL SELECT x + 1 FROM n WHERE x < 300000) \
                       SELECT count(*) FROM n";
            let rows = c.execute(sql.into(), vec![]).await.unwrap();
            assert_eq!(rows.rows, [[Value::Integer(300000)]]);
        });
    }
}
