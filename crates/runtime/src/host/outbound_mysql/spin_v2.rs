//! `fermyon:spin/mysql@2.0.0` (spin-sdk 2 to 5 `mysql`): the 3.0 client
//! with the shared `rdbms-types`, whose values are the same as 3.0's, and
//! rows read in full. Spin 1.x's unversioned `fermyon:spin/mysql` has the
//! same types and answers; each of its calls names the server and takes a
//! pooled connection for itself.

use wasmtime::component::{Linker, Resource};

use super::{client, v3, Connection, InstanceMysql, OutboundMysql};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "mysql-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/mysql.connection": crate::host::outbound_mysql::Connection },
    });
}

mod legacy_bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-mysql-host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/rdbms-types": crate::host::outbound_mysql::spin_v2::bindings::fermyon::spin::rdbms_types,
        },
    });
}

use bindings::fermyon::spin::mysql;
use bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use legacy_bindings::fermyon::spin::mysql::{self as legacy_mysql, MysqlError};

type Answer<T> = wasmtime::Result<Result<T, Error>>;

use v3::ParameterValue as Parameter3;
use v3::{DbDataType as DataType3, DbValue as Value3, Error as Error3};

fn error(err: Error3) -> Error {
    same_variant!(err, Error3 => Error,
        [ConnectionFailed, BadParameter, QueryFailed, ValueConversionFailed, Other], [])
}

fn parameter(p: ParameterValue) -> Parameter3 {
    same_variant!(p, ParameterValue => Parameter3,
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64,
         Floating32, Floating64, Str, Binary],
        [DbNull])
}

fn value(v: Value3) -> DbValue {
    same_variant!(v, Value3 => DbValue,
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64,
         Floating32, Floating64, Str, Binary],
        [DbNull, Unsupported])
}

fn data_type(t: DataType3) -> DbDataType {
    same_variant!(t, DataType3 => DbDataType, [],
        [Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64,
         Floating32, Floating64, Str, Binary, Other])
}

fn row_set(rows: client::RowSet) -> RowSet {
    RowSet {
        columns: rows
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data_type: data_type(c.data_type),
            })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value).collect())
            .collect(),
    }
}

impl rdbms_types::Host for InstanceMysql {}

impl mysql::Host for InstanceMysql {}

impl mysql::HostConnection for InstanceMysql {
    async fn open(&mut self, address: String) -> Answer<Resource<Connection>> {
        let opened = self.component.open(&address).await;
        Ok(opened.and_then(|c| self.push(c)).map_err(error))
    }

    async fn query(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<RowSet> {
        let conn = self.conn(&handle)?;
        let params = params.into_iter().map(parameter).collect();
        let rows = client::query(&conn, &statement, params).await;
        Ok(rows.map(row_set).map_err(error))
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<()> {
        let conn = self.conn(&handle)?;
        let params = params.into_iter().map(parameter).collect();
        Ok(client::execute(&conn, &statement, params)
            .await
            .map_err(error))
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

fn legacy_error(err: Error3) -> MysqlError {
    match err {
        Error3::ConnectionFailed(m) => MysqlError::ConnectionFailed(m),
        Error3::BadParameter(m) => MysqlError::BadParameter(m),
        Error3::QueryFailed(m) => MysqlError::QueryFailed(m),
        Error3::ValueConversionFailed(m) => MysqlError::ValueConversionFailed(m),
        Error3::Other(m) => MysqlError::OtherError(m),
    }
}

impl legacy_mysql::Host for InstanceMysql {
    async fn query(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, MysqlError>> {
        let params = params.into_iter().map(parameter).collect();
        let rows = match self.component.open(&address).await {
            Ok(connection) => client::query(&connection.conn, &statement, params).await,
            Err(err) => Err(err),
        };
        Ok(rows.map(row_set).map_err(legacy_error))
    }

    async fn execute(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<(), MysqlError>> {
        let params = params.into_iter().map(parameter).collect();
        let done = match self.component.open(&address).await {
            Ok(connection) => client::execute(&connection.conn, &statement, params).await,
            Err(err) => Err(err),
        };
        Ok(done.map_err(legacy_error))
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceMysql,
) -> anyhow::Result<()> {
    // rdbms-types has no functions; adding it again after PostgreSQL's
    // 2.0 interface only reopens the same (empty) instance.
    rdbms_types::add_to_linker::<InstanceState, OutboundMysql>(linker, get)?;
    mysql::add_to_linker::<InstanceState, OutboundMysql>(linker, get)?;
    // Spin 1.x's rdbms-types has only types, but a guest using them
    // imports the (empty) instance all the same.
    linker.instance("fermyon:spin/rdbms-types")?;
    legacy_mysql::add_to_linker::<InstanceState, OutboundMysql>(linker, get)?;
    Ok(())
}
