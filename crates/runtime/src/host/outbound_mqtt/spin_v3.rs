//! `spin:mqtt@3.0.0`: the async interface of WASIp3 guests (spin-sdk 7).

use std::sync::Arc;

use wasmtime::component::{Accessor, Linker, Resource};

use super::{Connection, InstanceMqtt, OutboundMqtt};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-mqtt-v3",
        world: "mqtt-host",
        imports: { default: trappable },
        with: { "spin:mqtt/mqtt.connection": crate::host::outbound_mqtt::Connection },
    });
}

use bindings::spin::mqtt::mqtt::{self, Error, Qos};

version_conversions!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl mqtt::Host for InstanceMqtt {}

impl mqtt::HostConnection for InstanceMqtt {
    fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

impl<T> mqtt::HostConnectionWithStore<T> for OutboundMqtt {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> Answer<Resource<Connection>> {
        let component = accessor.with(|mut view| Arc::clone(&view.get().component));
        let opened = component
            .open(&address, username, password, keep_alive_interval_in_secs)
            .await;
        Ok(opened
            .and_then(|c| accessor.with(|mut view| view.get().push(c)))
            .map_err(Error::from))
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Answer<()> {
        let (component, client) = accessor.with(|mut view| {
            let instance = view.get();
            Ok::<_, wasmtime::Error>((Arc::clone(&instance.component), instance.client(&handle)?))
        })?;
        let published = component.publish(&client, topic, payload, qos.into()).await;
        Ok(published.map_err(Error::from))
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceMqtt,
) -> anyhow::Result<()> {
    mqtt::add_to_linker::<InstanceState, OutboundMqtt>(linker, get)?;
    Ok(())
}
