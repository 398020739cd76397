//! SQLite: `fermyon:spin/sqlite@2.0.0` and `spin:sqlite@3.1.0` (which also
//! serves `@3.0.0` guests), on rusqlite with SQLite bundled.
//!
//! The three tiers:
//! - app: every database some triggered component declares, opened at
//!   start-up, from `[sqlite_database.<label>]` or, for `default`,
//!   `<state_dir>/sqlite_db.db` (in memory without a state dir);
//! - component: the labels its `sqlite_databases` grants;
//! - instance: its open connections (resource handles).
//!
//! A label the component does not declare is `access-denied` at open; a
//! label it declares that no database defines stops start-up.

/// `From` conversions between [`OpenError`] / [`Value`] and one interface
/// version's `Error` and `sqlite::Value`, which must be in scope where it
/// is invoked (every version has the same cases).
macro_rules! version_conversions {
    () => {
        impl From<OpenError> for Error {
            fn from(err: OpenError) -> Self {
                match err {
                    OpenError::AccessDenied => Error::AccessDenied,
                    OpenError::NoSuchDatabase => Error::NoSuchDatabase,
                    OpenError::TooManyConnections => {
                        Error::Io("too many connections opened".into())
                    }
                    OpenError::Io(message) => Error::Io(message),
                }
            }
        }

        impl From<sqlite::Value> for Value {
            fn from(value: sqlite::Value) -> Self {
                match value {
                    sqlite::Value::Integer(i) => Value::Integer(i),
                    sqlite::Value::Real(r) => Value::Real(r),
                    sqlite::Value::Text(t) => Value::Text(t),
                    sqlite::Value::Blob(b) => Value::Blob(b),
                    sqlite::Value::Null => Value::Null,
                }
            }
        }

        impl From<Value> for sqlite::Value {
            fn from(value: Value) -> Self {
                match value {
                    Value::Integer(i) => sqlite::Value::Integer(i),
                    Value::Real(r) => sqlite::Value::Real(r),
                    Value::Text(t) => sqlite::Value::Text(t),
                    Value::Blob(b) => sqlite::Value::Blob(b),
                    Value::Null => sqlite::Value::Null,
                }
            }
        }
    };
}

mod database;
mod spin_v1;
mod spin_v2;
mod spin_v3;

use std::collections::{HashMap, HashSet};

use spinshim_app::locked::LockedComponent;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
pub use database::{Database, DbConnection, Rows, Value};

/// The label that always exists.
pub const DEFAULT_LABEL: &str = "default";

/// The default database's file in the state dir (Spin's name).
const DEFAULT_FILE: &str = "sqlite_db.db";

/// Connections one instance may hold open at once (Spin's limit).
const MAX_OPEN_CONNECTIONS: usize = 256;

/// `[sqlite_database.<label>]`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
enum DatabaseConfig {
    /// A local file; a relative `path` is taken from the working directory
    /// (as Spin does), and without one the database is in memory.
    Spin(SpinDatabaseConfig),
    /// A remote libSQL database: recognised, not served yet.
    Libsql(LibsqlDatabaseConfig),
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SpinDatabaseConfig {
    path: Option<PathBuf>,
    #[serde(default)]
    allow_attach_file: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct LibsqlDatabaseConfig {
    url: String,
    token: String,
}

/// The SQLite capability.
pub struct Sqlite;

/// The app's databases, by label.
pub struct AppDatabases {
    databases: HashMap<String, Arc<Database>>,
}

/// What one component may open.
pub struct ComponentDatabases {
    app: Arc<AppDatabases>,
    allowed: HashSet<String>,
}

/// Why `open` failed.
enum OpenError {
    AccessDenied,
    NoSuchDatabase,
    TooManyConnections,
    Io(String),
}

/// The connections one instance holds.
pub struct InstanceDatabases {
    component: Arc<ComponentDatabases>,
    table: ResourceTable,
    open: usize,
}

/// An open connection: the resource behind `connection` in every version.
/// Shared so that an async call can use it outside the store; it returns
/// to the pool when the guest drops the handle and no call is using it.
pub struct OpenConnection(Arc<DbConnection>);

/// Checks that `component` may use `label` and connects to it.
async fn connect(component: &ComponentDatabases, label: &str) -> Result<DbConnection, OpenError> {
    if !component.allowed.contains(label) {
        return Err(OpenError::AccessDenied);
    }
    let database = component
        .app
        .databases
        .get(label)
        .ok_or(OpenError::NoSuchDatabase)?;
    database
        .connect()
        .await
        .map_err(|err| OpenError::Io(format!("database \"{label}\": {err:#}")))
}

impl InstanceDatabases {
    async fn open(&mut self, label: &str) -> Result<Resource<OpenConnection>, OpenError> {
        if self.open >= MAX_OPEN_CONNECTIONS && self.component.allowed.contains(label) {
            return Err(OpenError::TooManyConnections);
        }
        let connection = connect(&self.component, label).await?;
        self.adopt(connection)
    }

    /// Hands a new connection to the guest.
    fn adopt(&mut self, connection: DbConnection) -> Result<Resource<OpenConnection>, OpenError> {
        if self.open >= MAX_OPEN_CONNECTIONS {
            return Err(OpenError::TooManyConnections);
        }
        let handle = self
            .table
            .push(OpenConnection(Arc::new(connection)))
            .map_err(|_| OpenError::TooManyConnections)?;
        self.open += 1;
        Ok(handle)
    }

    fn shared(&self, handle: &Resource<OpenConnection>) -> wasmtime::Result<Arc<DbConnection>> {
        Ok(self.table.get(handle)?.0.clone())
    }

    fn close(&mut self, handle: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        self.open -= 1;
        Ok(())
    }
}

impl HasData for Sqlite {
    type Data<'a> = &'a mut InstanceDatabases;
}

impl Capability for Sqlite {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &["sqlite_database"];
    type AppState = AppDatabases;
    type ComponentState = ComponentDatabases;
    type InstanceState = InstanceDatabases;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v1::add_to_linker(linker, get)?;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppDatabases> {
        let configs: IndexMap<String, DatabaseConfig> =
            ctx.runtime_config.labelled_section("sqlite_database")?;
        let mut wanted = super::declared_labels(
            ctx,
            &super::LabelKind {
                field: "sqlite_databases",
                noun: "database",
                section: "sqlite_database",
            },
            LockedComponent::sqlite_databases,
            |label| configs.contains_key(label),
        )?;
        for seed in &ctx.seed.sqlite_statements {
            if seed.database != DEFAULT_LABEL && !configs.contains_key(&seed.database) {
                bail!(
                    "--sqlite {}: no database is defined for label \"{}\" (define \
                     [sqlite_database.{}] in the runtime config)",
                    seed.origin,
                    seed.database,
                    seed.database
                );
            }
            wanted.insert(seed.database.clone());
        }
        let mut databases = HashMap::new();
        for label in wanted {
            let database = open_database(ctx, &label, configs.get(&label))
                .with_context(|| format!("SQLite database \"{label}\""))?;
            tracing::info!("SQLite database \"{label}\": {}", database.location());
            databases.insert(label, Arc::new(database));
        }
        for seed in &ctx.seed.sqlite_statements {
            let database = &databases[&seed.database];
            database
                .execute_batch(seed.sql.clone())
                .await
                .with_context(|| {
                    format!(
                        "--sqlite {}: on database \"{}\"",
                        seed.origin, seed.database
                    )
                })?;
        }
        Ok(AppDatabases { databases })
    }

    fn component_state(
        app: &Arc<AppDatabases>,
        ctx: &ComponentContext<'_>,
    ) -> Result<ComponentDatabases> {
        Ok(ComponentDatabases {
            app: app.clone(),
            allowed: ctx.component.sqlite_databases().into_iter().collect(),
        })
    }

    fn instance_state(component: &Arc<ComponentDatabases>) -> InstanceDatabases {
        InstanceDatabases {
            component: component.clone(),
            table: ResourceTable::new(),
            open: 0,
        }
    }
}

fn open_database(
    ctx: &AppContext<'_>,
    label: &str,
    config: Option<&DatabaseConfig>,
) -> Result<Database> {
    match config {
        None => {
            let path = ctx.state_dir.map(|dir| dir.join(DEFAULT_FILE));
            Database::open(label, path.as_deref(), false)
        }
        Some(DatabaseConfig::Spin(spin)) => {
            Database::open(label, spin.path.as_deref(), spin.allow_attach_file)
        }
        Some(DatabaseConfig::Libsql(libsql)) => bail!(
            "type \"libsql\" ({}) is not supported by this host yet; use type \"spin\"",
            libsql.url
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spinshim_app::RuntimeConfig;

    fn databases(text: &str) -> spinshim_app::Result<IndexMap<String, DatabaseConfig>> {
        RuntimeConfig::from_toml_str(text, "rc.toml")
            .unwrap()
            .labelled_section("sqlite_database")
    }

    #[test]
    fn database_sections_are_typed_and_checked() {
        let parsed = databases(
            "[sqlite_database.a]\ntype = \"spin\"\npath = \"a.db\"\nallow_attach_file = true\n\
             [sqlite_database.b]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"\n",
        )
        .unwrap();
        assert_eq!(
            parsed["a"],
            DatabaseConfig::Spin(SpinDatabaseConfig {
                path: Some("a.db".into()),
                allow_attach_file: true
            })
        );
        assert!(matches!(parsed["b"], DatabaseConfig::Libsql(_)));
        let err = databases("[sqlite_database.a]\ntype = \"spin\"\nfile = \"a.db\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "rc.toml: sqlite_database.a: unknown field \"file\", expected \"path\" or \"allow_attach_file\""
        );
    }
}
