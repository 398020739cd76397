//! Outbound PostgreSQL: `fermyon:spin/postgres@2.0.0`, `spin:postgres@3.0.0`
//! and `spin:postgres@4.2.0` (which serves 4.0 and 4.1 guests; async
//! variants for WASIp3), on tokio-postgres with pooled connections
//! ([`pool`]). Values convert through the 4.2 types ([`types`]).
//!
//! The three tiers:
//! - app: the pools and the `[outbound_pg] max_connections` cap;
//! - component: its `allowed_outbound_hosts`;
//! - instance: its open connections and connection builders.
//!
//! An address (a URL or `key=value` connection string) is checked at open:
//! each host and port as `postgres://host:port`; a denied one is
//! `connection-failed("address postgres://<host:port> is not permitted")`,
//! a Unix socket is refused.

// The interface's own `error` (with its `db-error` record) is what every
// call returns, by design; boxing it would only be unboxed at the boundary.
#![allow(clippy::result_large_err)]

/// 4.2's error and row set as an older version's (2.0, 3.0: `query-failed`
/// is text), through that version's own `value` and `data_type`; its
/// `Error`, `Column` and `RowSet` must be in scope where it is invoked.
macro_rules! from_v4 {
    () => {
        impl From<v4::Error> for Error {
            fn from(err: v4::Error) -> Self {
                match err {
                    v4::Error::ConnectionFailed(m) => Error::ConnectionFailed(m),
                    v4::Error::BadParameter(m) => Error::BadParameter(m),
                    v4::Error::QueryFailed(v4::QueryError::Text(m)) => Error::QueryFailed(m),
                    v4::Error::QueryFailed(v4::QueryError::DbError(e)) => {
                        Error::QueryFailed(e.as_text)
                    }
                    v4::Error::ValueConversionFailed(m) => Error::ValueConversionFailed(m),
                    v4::Error::Other(m) => Error::Other(m),
                }
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
    };
}

mod client;
mod pool;
mod spin_v2;
mod spin_v3;
mod spin_v4;
mod types;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use spinshim_app::outbound::AllowedHostsConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::config::Host;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::outbound_networking::{connection_cap, NetworkPolicy};
use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
use client::PooledClient;
use pool::Pools;
pub(crate) use spin_v4::v4;
use v4::Error;

/// The runtime-config section.
const SECTION: &str = "outbound_pg";

/// How long `open` waits for a free connection under a cap.
const CAP_WAIT: Duration = Duration::from_secs(5);

/// `[outbound_pg]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PgSection {
    max_connections: Option<usize>,
}

/// The capability.
pub struct OutboundPg;

/// The app's pools.
pub struct AppPg {
    pools: Pools,
    network: Arc<NetworkPolicy>,
    cap: Option<Arc<Semaphore>>,
}

/// What one component may reach.
pub struct ComponentPg {
    app: Arc<AppPg>,
    allowed: Arc<AllowedHostsConfig>,
}

/// One instance's connections and builders.
pub struct InstancePg {
    component: Arc<ComponentPg>,
    table: ResourceTable,
}

/// An open connection: one of the pool's, the guest's until dropped.
pub struct Connection {
    client: Arc<PooledClient>,
    _permits: Vec<OwnedSemaphorePermit>,
}

/// A `connection-builder` (4.1): an address and, optionally, a CA root.
pub struct ConnectionBuilder {
    address: String,
    ca_root: Option<String>,
}

impl ComponentPg {
    /// Checks `address`, waits for a permit and takes a pooled connection.
    async fn open(&self, address: &str, ca_root: Option<&str>) -> Result<Connection, Error> {
        let config = self.check(address)?;
        let permits = self
            .app
            .network
            .permits(self.app.cap.as_ref(), CAP_WAIT)
            .await
            .ok_or_else(|| Error::ConnectionFailed("too many connections".into()))?;
        let client = self.app.pools.connection(address, config, ca_root).await?;
        Ok(Connection {
            client: Arc::new(client),
            _permits: permits,
        })
    }

    /// Parses `address` and checks each of its hosts.
    fn check(&self, address: &str) -> Result<tokio_postgres::Config, Error> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|err: tokio_postgres::Error| Error::ConnectionFailed(err.to_string()))?;
        let ports = config.get_ports();
        for (i, host) in config.get_hosts().iter().enumerate() {
            let Host::Tcp(name) = host else {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported".into(),
                ));
            };
            let port = ports
                .get(i)
                .or(if ports.len() == 1 {
                    ports.first()
                } else {
                    None
                })
                .copied();
            let shown = match port {
                Some(port) => format!("{name}:{port}"),
                None => name.clone(),
            };
            if !self
                .allowed
                .allows_parts("postgres", name, Some(port.unwrap_or(5432)))
            {
                tracing::info!(
                    "PostgreSQL connection to {shown} denied: not in allowed_outbound_hosts"
                );
                return Err(Error::ConnectionFailed(format!(
                    "address postgres://{shown} is not permitted"
                )));
            }
        }
        Ok(config)
    }
}

impl InstancePg {
    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|_| Error::ConnectionFailed("too many connections".into()))
    }

    /// The connection behind a handle (a handle that is not this
    /// instance's traps).
    fn client(&self, handle: &Resource<Connection>) -> wasmtime::Result<Arc<PooledClient>> {
        Ok(Arc::clone(&self.table.get(handle)?.client))
    }

    fn close(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HasData for OutboundPg {
    type Data<'a> = &'a mut InstancePg;
}

impl Capability for OutboundPg {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION];
    type AppState = AppPg;
    type ComponentState = ComponentPg;
    type InstanceState = InstancePg;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        spin_v4::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppPg> {
        let section: PgSection = ctx.runtime_config.section(SECTION)?.unwrap_or_default();
        let field = format!("{}: [{SECTION}] max_connections", ctx.runtime_config.label);
        Ok(AppPg {
            pools: Pools::new(Arc::clone(ctx.network)),
            network: Arc::clone(ctx.network),
            cap: connection_cap(section.max_connections, &field)?,
        })
    }

    fn component_state(app: &Arc<AppPg>, ctx: &ComponentContext<'_>) -> Result<ComponentPg> {
        Ok(ComponentPg {
            app: Arc::clone(app),
            allowed: Arc::clone(ctx.allowed_hosts),
        })
    }

    fn instance_state(component: &Arc<ComponentPg>) -> InstancePg {
        InstancePg {
            component: Arc::clone(component),
            table: ResourceTable::new(),
        }
    }
}
