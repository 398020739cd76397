//! Outbound Redis: `fermyon:spin/redis` (Spin 1.x: an address on every
//! call), `fermyon:spin/redis@2.0.0` and `spin:redis@3.0.0` (async, for
//! WASIp3 guests), all on one client ([`pool`]).
//!
//! The three tiers:
//! - app: the connection pool and the `[outbound_redis] max_connections`
//!   cap (open handles at once);
//! - component: its `allowed_outbound_hosts`;
//! - instance: its open connection handles.
//!
//! An address is checked at `open` (v1: on each call) as a `redis://` URL;
//! a denied or unparsable address is `invalid-address` (v1: `error`).
//! Handles share the app's connection to their address, except that a
//! command changing a connection's state or blocking it (see
//! [`commands::needs_own_connection`]) first moves its handle onto a
//! connection of its own, so it never reaches other requests.

/// `From` conversions between the client's types and one interface
/// version's `RedisParameter` / `RedisResult` (and, with `error`, its
/// `Error`), which must be in scope where it is invoked.
macro_rules! version_conversions {
    () => {
        impl From<RedisParameter> for $crate::host::outbound_redis::RedisParameter {
            fn from(p: RedisParameter) -> Self {
                match p {
                    RedisParameter::Int64(n) => Self::Int64(n),
                    RedisParameter::Binary(b) => Self::Binary(b),
                }
            }
        }

        impl From<$crate::host::outbound_redis::RedisValue> for RedisResult {
            fn from(v: $crate::host::outbound_redis::RedisValue) -> Self {
                use $crate::host::outbound_redis::RedisValue;
                match v {
                    RedisValue::Nil => RedisResult::Nil,
                    RedisValue::Status(s) => RedisResult::Status(s),
                    RedisValue::Int64(n) => RedisResult::Int64(n),
                    RedisValue::Binary(b) => RedisResult::Binary(b),
                }
            }
        }
    };
    (error) => {
        version_conversions!();

        impl From<$crate::host::outbound_redis::ClientError> for Error {
            fn from(err: $crate::host::outbound_redis::ClientError) -> Self {
                use $crate::host::outbound_redis::ClientError;
                match err {
                    ClientError::InvalidAddress => Error::InvalidAddress,
                    ClientError::TooManyConnections => Error::TooManyConnections,
                    ClientError::TypeError => Error::TypeError,
                    ClientError::Other(message) => Error::Other(message),
                }
            }
        }
    };
}

mod commands;
mod pool;
mod spin_v1;
mod spin_v2;
mod spin_v3;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use spinshim_app::outbound::AllowedHostsConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::outbound_networking::{self, connection_cap, NetworkPolicy};
use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
pub use commands::{RedisParameter, RedisValue};
use pool::ConnectionPool;

/// The runtime-config section.
const SECTION: &str = "outbound_redis";

/// How long `open` waits for a free connection under a cap before it is
/// `too-many-connections`.
const CAP_WAIT: Duration = Duration::from_secs(5);

/// `[outbound_redis]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisSection {
    max_connections: Option<usize>,
}

/// What a Redis call can fail with; each interface version maps it to its
/// own error type.
#[derive(Debug)]
pub enum ClientError {
    InvalidAddress,
    TooManyConnections,
    TypeError,
    Other(String),
}

impl From<redis::RedisError> for ClientError {
    fn from(err: redis::RedisError) -> Self {
        let wrong_type =
            err.kind() == redis::ErrorKind::UnexpectedReturnType || err.code() == Some("WRONGTYPE");
        if wrong_type {
            ClientError::TypeError
        } else {
            ClientError::Other(err.to_string())
        }
    }
}

/// The capability.
pub struct OutboundRedis;

/// The app's Redis client.
pub struct AppRedis {
    pool: ConnectionPool,
    network: Arc<NetworkPolicy>,
    cap: Option<Arc<Semaphore>>,
}

/// What one component may reach.
pub struct ComponentRedis {
    app: Arc<AppRedis>,
    allowed: Arc<AllowedHostsConfig>,
}

/// One instance's open connections.
pub struct InstanceRedis {
    component: Arc<ComponentRedis>,
    table: ResourceTable,
}

/// An open connection handle (`connection` in v2 and v3).
pub struct Connection {
    session: Session,
    _permits: Vec<OwnedSemaphorePermit>,
}

/// Where a handle's commands go: the pool's connection to its address,
/// or its own once it needed one. Cloned out of the instance so async
/// calls do not hold the store.
#[derive(Clone)]
pub struct Session {
    app: Arc<AppRedis>,
    address: String,
    own: Option<MultiplexedConnection>,
}

impl ComponentRedis {
    /// Checks `address` and takes the permits a connection needs.
    async fn admit(
        self: &Arc<Self>,
        address: &str,
    ) -> Result<(Session, Vec<OwnedSemaphorePermit>), ClientError> {
        if !outbound_networking::allows_address(&self.allowed, address, "redis") {
            tracing::info!(
                "Redis connection to {} denied: not in allowed_outbound_hosts",
                outbound_networking::redact_password(address)
            );
            return Err(ClientError::InvalidAddress);
        }
        redis::IntoConnectionInfo::into_connection_info(address)
            .map_err(|_| ClientError::InvalidAddress)?;
        let permits = self
            .app
            .network
            .permits(self.app.cap.as_ref(), CAP_WAIT)
            .await
            .ok_or(ClientError::TooManyConnections)?;
        let session = Session {
            app: Arc::clone(&self.app),
            address: address.to_string(),
            own: None,
        };
        Ok((session, permits))
    }

    /// A checked session whose connection is made (or found) now, so an
    /// unreachable server is reported by `open`.
    async fn open(self: &Arc<Self>, address: &str) -> Result<Connection, ClientError> {
        let (mut session, permits) = self.admit(address).await?;
        let lent = session.app.pool.lend(address).await?;
        if !lent.is_shared() {
            session.own = Some(lent.connection);
        }
        Ok(Connection {
            session,
            _permits: permits,
        })
    }
}

impl Session {
    /// Runs one command on this session's connection.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ClientError> {
        if let Some(own) = &self.own {
            return Ok(cmd.query_async(&mut own.clone()).await?);
        }
        let lent = self.app.pool.lend(&self.address).await?;
        let mut connection = lent.connection.clone();
        match cmd.query_async(&mut connection).await {
            Ok(value) => {
                lent.succeeded();
                Ok(value)
            }
            Err(err) => {
                lent.failed(&err).await;
                Err(err.into())
            }
        }
    }

    /// A connection of this session's own, made unless it has one.
    async fn own_connection(&self) -> Result<MultiplexedConnection, ClientError> {
        match &self.own {
            Some(own) => Ok(own.clone()),
            None => self.app.pool.connect(&self.address, None).await,
        }
    }

    /// `execute`: a command that needs a connection of its own gets one
    /// first; `adopt` keeps it for the handle's later commands.
    async fn execute(
        &mut self,
        command: &str,
        arguments: Vec<RedisParameter>,
    ) -> Result<(Vec<RedisValue>, Option<MultiplexedConnection>), ClientError> {
        let mut adopted = None;
        if self.own.is_none() && commands::needs_own_connection(command) {
            let own = self.own_connection().await?;
            self.own = Some(own.clone());
            adopted = Some(own);
        }
        let values = commands::execute(self, command, arguments).await?;
        Ok((values, adopted))
    }
}

impl InstanceRedis {
    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, ClientError> {
        self.table
            .push(connection)
            .map_err(|_| ClientError::TooManyConnections)
    }

    /// The session behind a handle (a handle that is not this instance's
    /// traps).
    fn session(&self, handle: &Resource<Connection>) -> wasmtime::Result<Session> {
        Ok(self.table.get(handle)?.session.clone())
    }

    /// Keeps a connection made for a handle (see [`Session::execute`]).
    fn adopt(&mut self, handle: &Resource<Connection>, own: MultiplexedConnection) {
        if let Ok(connection) = self.table.get_mut(handle) {
            connection.session.own.get_or_insert(own);
        }
    }

    fn close(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HasData for OutboundRedis {
    type Data<'a> = &'a mut InstanceRedis;
}

impl Capability for OutboundRedis {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION];
    type AppState = AppRedis;
    type ComponentState = ComponentRedis;
    type InstanceState = InstanceRedis;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v1::add_to_linker(linker, get)?;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppRedis> {
        let section: RedisSection = ctx.runtime_config.section(SECTION)?.unwrap_or_default();
        let field = format!("{}: [{SECTION}] max_connections", ctx.runtime_config.label);
        Ok(AppRedis {
            pool: ConnectionPool::new(Arc::clone(ctx.network)),
            network: Arc::clone(ctx.network),
            cap: connection_cap(section.max_connections, &field)?,
        })
    }

    fn component_state(app: &Arc<AppRedis>, ctx: &ComponentContext<'_>) -> Result<ComponentRedis> {
        Ok(ComponentRedis {
            app: Arc::clone(app),
            allowed: Arc::clone(ctx.allowed_hosts),
        })
    }

    fn instance_state(component: &Arc<ComponentRedis>) -> InstanceRedis {
        InstanceRedis {
            component: Arc::clone(component),
            table: ResourceTable::new(),
        }
    }
}
