//! `fermyon:spin/postgres@2.0.0` (spin-sdk 2 to 5 `pg`): the 4.2 client
//! with the shared `rdbms-types` (no dates, no unsigned integers in
//! PostgreSQL). Spin 1.x's unversioned `fermyon:spin/postgres` has the
//! same types and answers; each of its calls names the server and takes a
//! pooled connection for itself.

use wasmtime::component::{Linker, Resource};

use super::{client, v4, Connection, InstancePg, OutboundPg};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "postgres-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/postgres.connection": crate::host::outbound_pg::Connection },
    });
}

mod legacy_bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-postgres-host",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/rdbms-types": crate::host::outbound_pg::spin_v2::bindings::fermyon::spin::rdbms_types,
        },
    });
}

use bindings::fermyon::spin::postgres;
use bindings::fermyon::spin::rdbms_types::{
    self, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};
use legacy_bindings::fermyon::spin::postgres::{self as legacy_postgres, PgError};

type Answer<T> = wasmtime::Result<Result<T, Error>>;

from_v4!();

fn parameters(params: Vec<ParameterValue>) -> Result<Vec<v4::ParameterValue>, Error> {
    params
        .into_iter()
        .map(|p| {
            Ok(match p {
                ParameterValue::Boolean(v) => v4::ParameterValue::Boolean(v),
                ParameterValue::Int8(v) => v4::ParameterValue::Int8(v),
                ParameterValue::Int16(v) => v4::ParameterValue::Int16(v),
                ParameterValue::Int32(v) => v4::ParameterValue::Int32(v),
                ParameterValue::Int64(v) => v4::ParameterValue::Int64(v),
                ParameterValue::Uint8(_)
                | ParameterValue::Uint16(_)
                | ParameterValue::Uint32(_)
                | ParameterValue::Uint64(_) => {
                    return Err(Error::ValueConversionFailed(
                        "Postgres does not support unsigned integers".into(),
                    ))
                }
                ParameterValue::Floating32(v) => v4::ParameterValue::Floating32(v),
                ParameterValue::Floating64(v) => v4::ParameterValue::Floating64(v),
                ParameterValue::Str(v) => v4::ParameterValue::Str(v),
                ParameterValue::Binary(v) => v4::ParameterValue::Binary(v),
                ParameterValue::DbNull => v4::ParameterValue::DbNull,
            })
        })
        .collect()
}

fn value(v: v4::DbValue) -> DbValue {
    use v4::DbValue as Value4;
    same_variant!(v, Value4 => DbValue,
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary],
        [DbNull], _ => DbValue::Unsupported)
}

fn data_type(t: v4::DbDataType) -> DbDataType {
    use v4::DbDataType as DataType4;
    same_variant!(t, DataType4 => DbDataType, [],
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary],
        _ => DbDataType::Other)
}

impl rdbms_types::Host for InstancePg {}

impl postgres::Host for InstancePg {}

impl postgres::HostConnection for InstancePg {
    async fn open(&mut self, address: String) -> Answer<Resource<Connection>> {
        let opened = self.component.open(&address, None).await;
        Ok(opened.and_then(|c| self.push(c)).map_err(Error::from))
    }

    async fn query(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<RowSet> {
        let client = self.client(&handle)?;
        let params = match parameters(params) {
            Ok(params) => params,
            Err(err) => return Ok(Err(err)),
        };
        let rows = client::query(&client, &statement, &params).await;
        Ok(rows.map(row_set).map_err(Error::from))
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<u64> {
        let client = self.client(&handle)?;
        let params = match parameters(params) {
            Ok(params) => params,
            Err(err) => return Ok(Err(err)),
        };
        Ok(client::execute(&client, &statement, &params)
            .await
            .map_err(Error::from))
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

fn legacy_error(err: Error) -> PgError {
    match err {
        Error::ConnectionFailed(m) => PgError::ConnectionFailed(m),
        Error::BadParameter(m) => PgError::BadParameter(m),
        Error::QueryFailed(m) => PgError::QueryFailed(m),
        Error::ValueConversionFailed(m) => PgError::ValueConversionFailed(m),
        Error::Other(m) => PgError::OtherError(m),
    }
}

impl InstancePg {
    /// Runs one Spin 1.x call on a connection of its own to `address`.
    async fn legacy_call<T, F>(
        &mut self,
        address: &str,
        params: Vec<ParameterValue>,
        call: impl FnOnce(std::sync::Arc<super::PooledClient>, Vec<v4::ParameterValue>) -> F,
    ) -> wasmtime::Result<Result<T, PgError>>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let params = match parameters(params) {
            Ok(params) => params,
            Err(err) => return Ok(Err(legacy_error(err))),
        };
        let answer = match self.component.open(address, None).await {
            Ok(connection) => call(std::sync::Arc::clone(&connection.client), params).await,
            Err(err) => Err(Error::from(err)),
        };
        Ok(answer.map_err(legacy_error))
    }
}

impl legacy_postgres::Host for InstancePg {
    async fn query(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, PgError>> {
        self.legacy_call(&address, params, |client, params| async move {
            let rows = client::query(&client, &statement, &params).await;
            rows.map(row_set).map_err(Error::from)
        })
        .await
    }

    async fn execute(
        &mut self,
        address: String,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, PgError>> {
        self.legacy_call(&address, params, |client, params| async move {
            let count = client::execute(&client, &statement, &params).await;
            count.map_err(Error::from)
        })
        .await
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstancePg,
) -> anyhow::Result<()> {
    rdbms_types::add_to_linker::<InstanceState, OutboundPg>(linker, get)?;
    postgres::add_to_linker::<InstanceState, OutboundPg>(linker, get)?;
    // Spin 1.x's rdbms-types has only types, but a guest using them
    // imports the (empty) instance all the same.
    linker.instance("fermyon:spin/rdbms-types")?;
    legacy_postgres::add_to_linker::<InstanceState, OutboundPg>(linker, get)?;
    Ok(())
}
