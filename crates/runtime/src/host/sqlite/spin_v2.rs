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

version_conversions!();

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
