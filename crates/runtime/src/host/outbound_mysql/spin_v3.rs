//! `spin:mysql@3.0.0`: the async interface of WASIp3 guests (spin-sdk 7).
//! Calls run without holding the store, and a query's rows stream to the
//! guest as the server sends them.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::{client, Connection, InstanceMysql, OutboundMysql, SharedConn};
use crate::host::channel_stream::ChannelStream;
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-mysql-v3",
        world: "mysql-host",
        imports: { default: trappable },
        with: { "spin:mysql/mysql.connection": crate::host::outbound_mysql::Connection },
    });
}

/// The 3.0 types, which 2.0 converts through.
pub(crate) use bindings::spin::mysql::mysql as v3;
use v3::{Column, Error, ParameterValue, Row};

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl v3::Host for InstanceMysql {}

impl v3::HostConnection for InstanceMysql {
    fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

fn conn_of<T>(
    accessor: &Accessor<T, OutboundMysql>,
    handle: &Resource<Connection>,
) -> wasmtime::Result<SharedConn> {
    accessor.with(|mut view| view.get().conn(handle))
}

impl<T> v3::HostConnectionWithStore<T> for OutboundMysql {
    async fn open(accessor: &Accessor<T, Self>, address: String) -> Answer<Resource<Connection>> {
        let component = accessor.with(|mut view| Arc::clone(&view.get().component));
        let connection = match component.open(&address).await {
            Ok(connection) => connection,
            Err(err) => return Ok(Err(err)),
        };
        Ok(accessor.with(|mut view| view.get().push(connection)))
    }

    async fn query(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<(
        Vec<Column>,
        StreamReader<Row>,
        FutureReader<Result<(), Error>>,
    )> {
        let conn = conn_of(accessor, &handle)?;
        let stream = match client::query_streaming(conn, statement, params).await {
            Ok(stream) => stream,
            Err(err) => return Ok(Err(err)),
        };
        let done = async move {
            let outcome = stream
                .done
                .await
                .unwrap_or_else(|_| Err(Error::Other("the query ended without an outcome".into())));
            Ok::<_, wasmtime::Error>(outcome)
        };
        accessor.with(|mut view| {
            let rows = StreamReader::new(&mut view, ChannelStream::new(stream.rows))?;
            let done = FutureReader::new(&mut view, done)?;
            Ok(Ok((stream.columns, rows, done)))
        })
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<()> {
        let conn = conn_of(accessor, &handle)?;
        Ok(client::execute(&conn, &statement, params).await)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceMysql,
) -> anyhow::Result<()> {
    v3::add_to_linker::<InstanceState, OutboundMysql>(linker, get)?;
    Ok(())
}
