//! `spin:sqlite@3.1.0`: adds `last-insert-rowid`, `changes` and, for
//! WASIp3 guests, async variants whose rows arrive as a stream. Guests of
//! `@3.0.0` link to it too (semver-compatible).

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::{InstanceDatabases, OpenConnection, OpenError, Rows, Sqlite, Value};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-sqlite-v3",
        world: "sqlite-host",
        imports: {
            "spin:sqlite/sqlite.[static]connection.open": async | trappable,
            "spin:sqlite/sqlite.[method]connection.execute": async | trappable,
            default: trappable,
        },
        with: { "spin:sqlite/sqlite.connection": crate::host::sqlite::OpenConnection },
    });
}

use bindings::spin::sqlite::sqlite::{self, Error, QueryResult, RowResult};

version_conversions!();

fn row_results(rows: Vec<Vec<Value>>) -> Vec<RowResult> {
    rows.into_iter()
        .map(|values| RowResult {
            values: values.into_iter().map(Into::into).collect(),
        })
        .collect()
}

fn query_result(rows: Rows) -> QueryResult {
    QueryResult {
        columns: rows.columns,
        rows: row_results(rows.rows),
    }
}

/// The connection behind a handle, out of the store for an async call.
fn shared<T>(
    accessor: &Accessor<T, Sqlite>,
    handle: &Resource<OpenConnection>,
) -> wasmtime::Result<std::sync::Arc<super::DbConnection>> {
    accessor.with(|mut view| view.get().shared(handle))
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
        Ok(connection
            .execute(statement, parameters)
            .await
            .map(query_result)
            .map_err(Error::Io))
    }

    fn last_insert_rowid(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<i64> {
        Ok(self.shared(&connection)?.last_insert_rowid())
    }

    fn changes(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<u64> {
        Ok(self.shared(&connection)?.changes())
    }

    fn drop(&mut self, connection: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.close(connection)
    }
}

impl<T> sqlite::HostConnectionWithStore<T> for Sqlite {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        let (component, label) = accessor.with(|mut view| {
            let state = view.get();
            (state.component.clone(), database)
        });
        let connection = match super::connect(&component, &label).await {
            Ok(connection) => connection,
            Err(err) => return Ok(Err(err.into())),
        };
        Ok(accessor
            .with(|mut view| view.get().adopt(connection))
            .map_err(Error::from))
    }

    /// The statement runs to completion first; its rows are then streamed
    /// and the future reports how it ended. As in Spin, a statement that
    /// fails is reported through the future, with no columns and no rows.
    async fn execute_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenConnection>,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<RowResult>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let connection = shared(accessor, &connection)?;
        let parameters = parameters.into_iter().map(Value::from).collect();
        let (columns, rows, outcome) = match connection.execute(statement, parameters).await {
            Ok(rows) => (rows.columns, row_results(rows.rows), Ok(())),
            Err(message) => (Vec::new(), Vec::new(), Err(Error::Io(message))),
        };
        accessor.with(|mut view| {
            let rows = StreamReader::new(&mut view, rows)?;
            let outcome =
                FutureReader::new(&mut view, async move { Ok::<_, wasmtime::Error>(outcome) })?;
            Ok(Ok((columns, rows, outcome)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenConnection>,
    ) -> wasmtime::Result<i64> {
        Ok(shared(accessor, &connection)?.last_insert_rowid())
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        connection: Resource<OpenConnection>,
    ) -> wasmtime::Result<u64> {
        Ok(shared(accessor, &connection)?.changes())
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceDatabases,
) -> anyhow::Result<()> {
    sqlite::add_to_linker::<InstanceState, Sqlite>(linker, get)?;
    Ok(())
}
