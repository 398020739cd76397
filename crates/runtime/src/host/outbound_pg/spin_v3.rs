//! `spin:postgres@3.0.0`: the 4.2 client with 3.0's types (date and time
//! values, but none of 4.x's) and a text `query-failed`.

use wasmtime::component::{Linker, Resource};

use super::{client, v4, Connection, InstancePg, OutboundPg};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-postgres-v3",
        world: "postgres-host",
        imports: { default: async | trappable },
        with: { "spin:postgres/postgres.connection": crate::host::outbound_pg::Connection },
    });
}

use bindings::spin::postgres::postgres::{
    self as v3, Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl From<v4::Error> for Error {
    fn from(err: v4::Error) -> Self {
        match err {
            v4::Error::ConnectionFailed(m) => Error::ConnectionFailed(m),
            v4::Error::BadParameter(m) => Error::BadParameter(m),
            v4::Error::QueryFailed(v4::QueryError::Text(m)) => Error::QueryFailed(m),
            v4::Error::QueryFailed(v4::QueryError::DbError(e)) => Error::QueryFailed(e.as_text),
            v4::Error::ValueConversionFailed(m) => Error::ValueConversionFailed(m),
            v4::Error::Other(m) => Error::Other(m),
        }
    }
}

fn parameter(p: ParameterValue) -> v4::ParameterValue {
    match p {
        ParameterValue::Boolean(v) => v4::ParameterValue::Boolean(v),
        ParameterValue::Int8(v) => v4::ParameterValue::Int8(v),
        ParameterValue::Int16(v) => v4::ParameterValue::Int16(v),
        ParameterValue::Int32(v) => v4::ParameterValue::Int32(v),
        ParameterValue::Int64(v) => v4::ParameterValue::Int64(v),
        ParameterValue::Floating32(v) => v4::ParameterValue::Floating32(v),
        ParameterValue::Floating64(v) => v4::ParameterValue::Floating64(v),
        ParameterValue::Str(v) => v4::ParameterValue::Str(v),
        ParameterValue::Binary(v) => v4::ParameterValue::Binary(v),
        ParameterValue::Date(v) => v4::ParameterValue::Date(v),
        ParameterValue::Time(v) => v4::ParameterValue::Time(v),
        ParameterValue::Datetime(v) => v4::ParameterValue::Datetime(v),
        ParameterValue::Timestamp(v) => v4::ParameterValue::Timestamp(v),
        ParameterValue::DbNull => v4::ParameterValue::DbNull,
    }
}

fn value(v: v4::DbValue) -> DbValue {
    match v {
        v4::DbValue::Boolean(v) => DbValue::Boolean(v),
        v4::DbValue::Int8(v) => DbValue::Int8(v),
        v4::DbValue::Int16(v) => DbValue::Int16(v),
        v4::DbValue::Int32(v) => DbValue::Int32(v),
        v4::DbValue::Int64(v) => DbValue::Int64(v),
        v4::DbValue::Floating32(v) => DbValue::Floating32(v),
        v4::DbValue::Floating64(v) => DbValue::Floating64(v),
        v4::DbValue::Str(v) => DbValue::Str(v),
        v4::DbValue::Binary(v) => DbValue::Binary(v),
        v4::DbValue::Date(v) => DbValue::Date(v),
        v4::DbValue::Time(v) => DbValue::Time(v),
        v4::DbValue::Datetime(v) => DbValue::Datetime(v),
        v4::DbValue::Timestamp(v) => DbValue::Timestamp(v),
        v4::DbValue::DbNull => DbValue::DbNull,
        _ => DbValue::Unsupported,
    }
}

fn data_type(t: v4::DbDataType) -> DbDataType {
    match t {
        v4::DbDataType::Boolean => DbDataType::Boolean,
        v4::DbDataType::Int8 => DbDataType::Int8,
        v4::DbDataType::Int16 => DbDataType::Int16,
        v4::DbDataType::Int32 => DbDataType::Int32,
        v4::DbDataType::Int64 => DbDataType::Int64,
        v4::DbDataType::Floating32 => DbDataType::Floating32,
        v4::DbDataType::Floating64 => DbDataType::Floating64,
        v4::DbDataType::Str => DbDataType::Str,
        v4::DbDataType::Binary => DbDataType::Binary,
        v4::DbDataType::Date => DbDataType::Date,
        v4::DbDataType::Time => DbDataType::Time,
        v4::DbDataType::Datetime => DbDataType::Datetime,
        v4::DbDataType::Timestamp => DbDataType::Timestamp,
        _ => DbDataType::Other,
    }
}

fn row_set(rows: v4::RowSet) -> RowSet {
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

impl v3::Host for InstancePg {}

impl v3::HostConnection for InstancePg {
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
        let params: Vec<_> = params.into_iter().map(parameter).collect();
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
        let params: Vec<_> = params.into_iter().map(parameter).collect();
        Ok(client::execute(&client, &statement, &params)
            .await
            .map_err(Error::from))
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstancePg,
) -> anyhow::Result<()> {
    v3::add_to_linker::<InstanceState, OutboundPg>(linker, get)?;
    Ok(())
}
