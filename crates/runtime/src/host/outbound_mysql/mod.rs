//! Outbound MySQL: `fermyon:spin/mysql@2.0.0` and `spin:mysql@3.0.0`
//! (async, for WASIp3 guests, rows streamed as the server sends them), on
//! mysql_async with a pool per address ([`pool`]). Values convert through
//! the 3.0 types ([`values`]); statements run in [`client`].
//!
//! The three tiers:
//! - app: the pools and the `[outbound_mysql] max_connections` cap;
//! - component: its `allowed_outbound_hosts`;
//! - instance: its open connections.
//!
//! An address (`mysql://user:password@host:port/database?...`) is checked
//! at `open` as given; a denied one is
//! `connection-failed("address <address> is not permitted")`, as in Spin.

mod client;
mod pool;
mod spin_v2;
mod spin_v3;
mod values;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use spinshim_app::outbound::AllowedHostsConfig;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::outbound_networking::{self, connection_cap, NetworkPolicy};
use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
use pool::Pools;
pub(crate) use spin_v3::v3;
use v3::Error;

/// The runtime-config section.
const SECTION: &str = "outbound_mysql";

/// How long `open` waits for a free connection under a cap.
const CAP_WAIT: Duration = Duration::from_secs(5);

/// `[outbound_mysql]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MysqlSection {
    max_connections: Option<usize>,
}

/// The capability.
pub struct OutboundMysql;

/// The app's pools.
pub struct AppMysql {
    pools: Pools,
    network: Arc<NetworkPolicy>,
    cap: Option<Arc<Semaphore>>,
}

/// What one component may reach.
pub struct ComponentMysql {
    app: Arc<AppMysql>,
    allowed: Arc<AllowedHostsConfig>,
}

/// One instance's connections.
pub struct InstanceMysql {
    component: Arc<ComponentMysql>,
    table: ResourceTable,
}

/// A pooled connection, shared with the task streaming a query's rows;
/// back to its pool (reset) when the last holder lets go.
pub type SharedConn = Arc<Mutex<mysql_async::Conn>>;

/// An open connection: one of the pool's, the guest's until dropped.
pub struct Connection {
    conn: SharedConn,
    _permits: Vec<OwnedSemaphorePermit>,
}

impl ComponentMysql {
    /// Checks `address`, waits for a permit and takes a pooled connection.
    async fn open(&self, address: &str) -> Result<Connection, Error> {
        if !outbound_networking::allows_address(&self.allowed, address, "mysql") {
            tracing::info!(
                "MySQL connection to {} denied: not in allowed_outbound_hosts",
                outbound_networking::redact_password(address)
            );
            return Err(Error::ConnectionFailed(format!(
                "address {address} is not permitted"
            )));
        }
        let permits = self
            .app
            .network
            .permits(self.app.cap.as_ref(), CAP_WAIT)
            .await
            .ok_or_else(|| Error::ConnectionFailed("too many connections".into()))?;
        let conn = self.app.pools.connection(address).await?;
        Ok(Connection {
            conn: Arc::new(Mutex::new(conn)),
            _permits: permits,
        })
    }
}

impl InstanceMysql {
    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, Error> {
        self.table
            .push(connection)
            .map_err(|_| Error::ConnectionFailed("too many connections".into()))
    }

    /// The connection behind a handle (a handle that is not this
    /// instance's traps).
    fn conn(&self, handle: &Resource<Connection>) -> wasmtime::Result<SharedConn> {
        Ok(Arc::clone(&self.table.get(handle)?.conn))
    }

    fn close(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HasData for OutboundMysql {
    type Data<'a> = &'a mut InstanceMysql;
}

impl Capability for OutboundMysql {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION];
    type AppState = AppMysql;
    type ComponentState = ComponentMysql;
    type InstanceState = InstanceMysql;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppMysql> {
        let section: MysqlSection = ctx.runtime_config.section(SECTION)?.unwrap_or_default();
        let field = format!("{}: [{SECTION}] max_connections", ctx.runtime_config.label);
        Ok(AppMysql {
            pools: Pools::new(Arc::clone(ctx.network)),
            network: Arc::clone(ctx.network),
            cap: connection_cap(section.max_connections, &field)?,
        })
    }

    fn component_state(app: &Arc<AppMysql>, ctx: &ComponentContext<'_>) -> Result<ComponentMysql> {
        Ok(ComponentMysql {
            app: Arc::clone(app),
            allowed: Arc::clone(ctx.allowed_hosts),
        })
    }

    fn instance_state(component: &Arc<ComponentMysql>) -> InstanceMysql {
        InstanceMysql {
            component: Arc::clone(component),
            table: ResourceTable::new(),
        }
    }
}
