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

from_v4!();

fn parameter(p: ParameterValue) -> v4::ParameterValue {
    use v4::ParameterValue as Parameter4;
    same_variant!(p, ParameterValue => Parameter4,
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary,
         Date, Time, Datetime, Timestamp],
        [DbNull])
}

fn value(v: v4::DbValue) -> DbValue {
    use v4::DbValue as Value4;
    same_variant!(v, Value4 => DbValue,
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary, Date, Time, Datetime, Timestamp],
        [DbNull], _ => DbValue::Unsupported)
}

fn data_type(t: v4::DbDataType) -> DbDataType {
    use v4::DbDataType as DataType4;
    same_variant!(t, DataType4 => DbDataType, [],
        [Boolean, Int8, Int16, Int32, Int64, Floating32, Floating64, Str, Binary, Date, Time, Datetime, Timestamp],
        _ => DbDataType::Other)
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
