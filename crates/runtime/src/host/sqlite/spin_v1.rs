//! `fermyon:spin/sqlite` (Spin 1.x guests): connections are integer
//! handles; otherwise 2.0's answers.

use wasmtime::component::{Linker, Resource};

use super::{InstanceDatabases, OpenConnection, OpenError, Sqlite, Value};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-sqlite-host",
        imports: { default: async | trappable },
    });
}

use bindings::fermyon::spin::sqlite::{self, Connection, Error, QueryResult, RowResult};

version_conversions!();

/// The connection behind a Spin 1.x handle, if this instance has it open.
fn borrowed(handle: Connection) -> Resource<OpenConnection> {
    Resource::new_borrow(handle)
}

impl sqlite::Host for InstanceDatabases {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Connection, Error>> {
        Ok(InstanceDatabases::open(self, &database)
            .await
            .map(|connection| connection.rep())
            .map_err(Error::from))
    }

    async fn execute(
        &mut self,
        conn: Connection,
        statement: String,
        parameters: Vec<sqlite::Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Ok(connection) = self.shared(&borrowed(conn)) else {
            return Ok(Err(Error::InvalidConnection));
        };
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

    /// Closing a handle that is not open does nothing: the function has no
    /// error to report it with.
    async fn close(&mut self, conn: Connection) -> wasmtime::Result<()> {
        if self.shared(&borrowed(conn)).is_ok() {
            InstanceDatabases::close(self, Resource::new_own(conn))?;
        }
        Ok(())
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceDatabases,
) -> anyhow::Result<()> {
    sqlite::add_to_linker::<InstanceState, Sqlite>(linker, get)?;
    Ok(())
}
