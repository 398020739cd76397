//! Outbound MQTT: `fermyon:spin/mqtt@2.0.0` and `spin:mqtt@3.0.0` (async),
//! on rumqttc ([`client`]).
//!
//! The three tiers:
//! - app: the `[outbound_mqtt]` settings (`max_connections`,
//!   `max_payload_size_bytes`) and the network rules;
//! - component: its `allowed_outbound_hosts`;
//! - instance: its open connections.
//!
//! The address is checked at `open` as an `mqtt://` URL; a denied one is
//! `connection-failed("address <as given> is not permitted")`, as in
//! Spin. A connection is made on its first publish, each `open` its own
//! (an MQTT client id names one session, so connections are not shared).

/// `From` conversions between the client's types and one interface
/// version's `Error` and `Qos`, which must be in scope where it is invoked.
macro_rules! version_conversions {
    () => {
        impl From<$crate::host::outbound_mqtt::ClientError> for Error {
            fn from(err: $crate::host::outbound_mqtt::ClientError) -> Self {
                use $crate::host::outbound_mqtt::ClientError;
                match err {
                    ClientError::InvalidAddress => Error::InvalidAddress,
                    ClientError::TooManyConnections => Error::TooManyConnections,
                    ClientError::ConnectionFailed(message) => Error::ConnectionFailed(message),
                    ClientError::Other(message) => Error::Other(message),
                }
            }
        }

        impl From<Qos> for $crate::host::outbound_mqtt::Qos {
            fn from(qos: Qos) -> Self {
                match qos {
                    Qos::AtMostOnce => Self::AtMostOnce,
                    Qos::AtLeastOnce => Self::AtLeastOnce,
                    Qos::ExactlyOnce => Self::ExactlyOnce,
                }
            }
        }
    };
}

mod client;
mod spin_v2;
mod spin_v3;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;
use spinshim_app::outbound::AllowedHostsConfig;
use tokio::sync::Semaphore;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::outbound_networking::{self, connection_cap, NetworkPolicy};
use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
pub use client::{Client, Qos};

/// The runtime-config section.
const SECTION: &str = "outbound_mqtt";

/// How long `open` waits for a free connection under a cap.
const CAP_WAIT: Duration = Duration::from_secs(5);

/// `[outbound_mqtt]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MqttSection {
    max_connections: Option<usize>,
    max_payload_size_bytes: Option<usize>,
}

/// What an MQTT call can fail with; each version maps it to its `error`.
#[derive(Debug)]
pub enum ClientError {
    InvalidAddress,
    TooManyConnections,
    ConnectionFailed(String),
    Other(String),
}

/// The capability.
pub struct OutboundMqtt;

/// The app's MQTT settings.
pub struct AppMqtt {
    network: Arc<NetworkPolicy>,
    cap: Option<Arc<Semaphore>>,
    max_payload: Option<usize>,
}

/// What one component may reach.
pub struct ComponentMqtt {
    app: Arc<AppMqtt>,
    allowed: Arc<AllowedHostsConfig>,
}

/// One instance's open connections.
pub struct InstanceMqtt {
    component: Arc<ComponentMqtt>,
    table: ResourceTable,
}

/// An open connection handle.
pub struct Connection(Arc<Client>);

impl ComponentMqtt {
    async fn open(
        &self,
        address: &str,
        username: String,
        password: String,
        keep_alive_secs: u64,
    ) -> Result<Connection, ClientError> {
        if !outbound_networking::allows_address(&self.allowed, address, "mqtt") {
            tracing::info!("MQTT connection to {address} denied: not in allowed_outbound_hosts");
            return Err(ClientError::ConnectionFailed(format!(
                "address {address} is not permitted"
            )));
        }
        let permits = self
            .app
            .network
            .permits(self.app.cap.as_ref(), CAP_WAIT)
            .await
            .ok_or(ClientError::TooManyConnections)?;
        let client = Client::new(
            Arc::clone(&self.app.network),
            address,
            username,
            password,
            keep_alive_secs,
            permits,
        )
        .await?;
        Ok(Connection(Arc::new(client)))
    }

    /// Refuses a payload over `max_payload_size_bytes` (Spin's message).
    fn check_payload(&self, payload: &[u8]) -> Result<(), ClientError> {
        match self.app.max_payload {
            Some(limit) if payload.len() > limit => Err(ClientError::Other(format!(
                "payload size {} exceeds the maximum allowed size of {limit} bytes",
                payload.len()
            ))),
            _ => Ok(()),
        }
    }

    /// Publishes on `client` after the payload check.
    async fn publish(
        &self,
        client: &Client,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), ClientError> {
        self.check_payload(&payload)?;
        client.publish(topic, payload, qos).await
    }
}

impl InstanceMqtt {
    fn push(&mut self, connection: Connection) -> Result<Resource<Connection>, ClientError> {
        self.table
            .push(connection)
            .map_err(|_| ClientError::TooManyConnections)
    }

    /// The client behind a handle (a handle that is not this instance's
    /// traps).
    fn client(&self, handle: &Resource<Connection>) -> wasmtime::Result<Arc<Client>> {
        Ok(Arc::clone(&self.table.get(handle)?.0))
    }

    fn close(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HasData for OutboundMqtt {
    type Data<'a> = &'a mut InstanceMqtt;
}

impl Capability for OutboundMqtt {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION];
    type AppState = AppMqtt;
    type ComponentState = ComponentMqtt;
    type InstanceState = InstanceMqtt;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        let get = super::state_of::<Self>;
        spin_v2::add_to_linker(linker, get)?;
        spin_v3::add_to_linker(linker, get)?;
        Ok(())
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<AppMqtt> {
        let section: MqttSection = ctx.runtime_config.section(SECTION)?.unwrap_or_default();
        let field = format!("{}: [{SECTION}] max_connections", ctx.runtime_config.label);
        Ok(AppMqtt {
            network: Arc::clone(ctx.network),
            cap: connection_cap(section.max_connections, &field)?,
            max_payload: section.max_payload_size_bytes,
        })
    }

    fn component_state(app: &Arc<AppMqtt>, ctx: &ComponentContext<'_>) -> Result<ComponentMqtt> {
        Ok(ComponentMqtt {
            app: Arc::clone(app),
            allowed: Arc::clone(ctx.allowed_hosts),
        })
    }

    fn instance_state(component: &Arc<ComponentMqtt>) -> InstanceMqtt {
        InstanceMqtt {
            component: Arc::clone(component),
            table: ResourceTable::new(),
        }
    }
}
