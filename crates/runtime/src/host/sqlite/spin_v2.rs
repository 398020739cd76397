//! `fermyon:spin/sqlite@2.0.0`: what spin-sdk 2 to 5 guests import.

use wasmtime::component::{Linker, Resource};

use super::{InstanceDatabases, OpenConnection, OpenError, Sqlite, Value};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "sqlite-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/sqlite.connection": crate::host::sqlite::OpenConnection },
    });
}

use bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult};

impl From<OpenError> for Error {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::AccessDenied => Error::AccessDenied,
            OpenError::NoSuchDatabase => Error::NoSuchDatabase,
            OpenError::TooManyConnections => Error::Io("too many connections opened".into()),
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

impl sqlite::Host for InstanceDatabases {}

impl sqlite::HostConnection for InstanceDatabases {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        Ok(InstanceDatabases::open(self, &database)
            .await
            .map_err(Error::from))
    }

    async fn execute(
        &mut self,
        connection: Resource<OpenConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let connection = self.shared(&connection)?;
        let parameters = parameters.into_iter().map(Value::from).collect();
        Ok(match connection.execute(statement, parameters).await {
            Ok(rows) => Ok(QueryResult {
                columns: rows.columns,
                rows: rows
                    .rows
                    .into_iter()
                    .map(|values| RowResult {
                        values: values.into_iter().map(Into::into).collect(),
                    })
                    .collect(),
            }),
            Err(message) => Err(Error::Io(message)),
        })
    }

    async fn drop(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceDatabases,
) -> anyhow::Result<()> {
    sqlite::add_to_linker::<InstanceState, Sqlite>(linker, get)?;
    Ok(())
}
