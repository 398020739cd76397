//! `spin:postgres@4.2.0` (4.0 and 4.1 guests link to it too): the types of
//! [`super::types`], `connection-builder` with `set-ca-root`, and the async
//! variants of WASIp3 guests, whose rows arrive as a stream.

use std::sync::Arc;

use wasmtime::component::{Accessor, FutureReader, Linker, Resource, StreamReader};

use super::{client, Connection, ConnectionBuilder, InstancePg, OutboundPg};
use crate::host::outbound_networking::tls;
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-postgres-v4",
        world: "postgres-host",
        imports: {
            "spin:postgres/postgres.[static]connection.open": async | trappable,
            "spin:postgres/postgres.[method]connection.query": async | trappable,
            "spin:postgres/postgres.[method]connection.execute": async | trappable,
            "spin:postgres/postgres.[method]connection-builder.build": async | trappable,
            default: trappable,
        },
        with: {
            "spin:postgres/postgres.connection": crate::host::outbound_pg::Connection,
            "spin:postgres/postgres.connection-builder": crate::host::outbound_pg::ConnectionBuilder,
        },
        additional_derives: [PartialEq],
    });
}

/// The 4.2 types, which the other versions convert through.
pub(crate) use bindings::spin::postgres::postgres as v4;
use v4::{Column, Error, ParameterValue, Row, RowSet};

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl v4::Host for InstancePg {}

impl InstancePg {
    async fn open_v4(
        &mut self,
        address: &str,
        ca_root: Option<&str>,
    ) -> Result<Resource<Connection>, Error> {
        let connection = self.component.open(address, ca_root).await?;
        self.push(connection)
    }
}

impl v4::HostConnection for InstancePg {
    async fn open(&mut self, address: String) -> Answer<Resource<Connection>> {
        Ok(self.open_v4(&address, None).await)
    }

    async fn query(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<RowSet> {
        let client = self.client(&handle)?;
        Ok(client::query(&client, &statement, &params).await)
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<u64> {
        let client = self.client(&handle)?;
        Ok(client::execute(&client, &statement, &params).await)
    }

    fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

impl v4::HostConnectionBuilder for InstancePg {
    fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(self.table.push(ConnectionBuilder {
            address,
            ca_root: None,
        })?)
    }

    fn set_ca_root(
        &mut self,
        handle: Resource<ConnectionBuilder>,
        certificate: String,
    ) -> Answer<()> {
        if let Err(err) = tls::server_client_config(Some(&certificate)) {
            return Ok(Err(Error::Other(format!(
                "invalid root certificate: {err:#}"
            ))));
        }
        self.table.get_mut(&handle)?.ca_root = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(&mut self, handle: Resource<ConnectionBuilder>) -> Answer<Resource<Connection>> {
        let builder = self.table.get(&handle)?;
        let (address, ca_root) = (builder.address.clone(), builder.ca_root.clone());
        Ok(self.open_v4(&address, ca_root.as_deref()).await)
    }

    fn drop(&mut self, handle: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

/// Opens a connection without holding the store while it connects.
async fn open_async<T>(
    accessor: &Accessor<T, OutboundPg>,
    address: &str,
    ca_root: Option<&str>,
) -> Answer<Resource<Connection>> {
    let component = accessor.with(|mut view| Arc::clone(&view.get().component));
    let connection = match component.open(address, ca_root).await {
        Ok(connection) => connection,
        Err(err) => return Ok(Err(err)),
    };
    Ok(accessor.with(|mut view| view.get().push(connection)))
}

fn client_of<T>(
    accessor: &Accessor<T, OutboundPg>,
    handle: &Resource<Connection>,
) -> wasmtime::Result<Arc<client::PooledClient>> {
    accessor.with(|mut view| view.get().client(handle))
}

impl<T> v4::HostConnectionWithStore<T> for OutboundPg {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Answer<Resource<Connection>> {
        open_async(accessor, &address, None).await
    }

    /// The statement runs to completion first (bounded like `query`); its
    /// rows are then streamed and the future reports success. A statement
    /// that fails is the call's own error.
    async fn query_async(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<(
        Vec<Column>,
        StreamReader<Row>,
        FutureReader<Result<(), Error>>,
    )> {
        let client = client_of(accessor, &handle)?;
        let rows = match client::query(&client, &statement, &params).await {
            Ok(rows) => rows,
            Err(err) => return Ok(Err(err)),
        };
        accessor.with(|mut view| {
            let stream = StreamReader::new(&mut view, rows.rows)?;
            let done = FutureReader::new(&mut view, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok(Ok((rows.columns, stream, done)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Answer<u64> {
        let client = client_of(accessor, &handle)?;
        Ok(client::execute(&client, &statement, &params).await)
    }
}

impl<T> v4::HostConnectionBuilderWithStore<T> for OutboundPg {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        handle: Resource<ConnectionBuilder>,
    ) -> Answer<Resource<Connection>> {
        let (address, ca_root) = accessor.with(|mut view| {
            let builder = view.get().table.get(&handle)?;
            Ok::<_, wasmtime::Error>((builder.address.clone(), builder.ca_root.clone()))
        })?;
        open_async(accessor, &address, ca_root.as_deref()).await
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstancePg,
) -> anyhow::Result<()> {
    v4::add_to_linker::<InstanceState, OutboundPg>(linker, get)?;
    Ok(())
}
