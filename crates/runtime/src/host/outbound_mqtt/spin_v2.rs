//! `fermyon:spin/mqtt@2.0.0`: what spin-sdk 2 to 5 guests import.

use wasmtime::component::{Linker, Resource};

use super::{Connection, InstanceMqtt, OutboundMqtt};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "mqtt-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/mqtt.connection": crate::host::outbound_mqtt::Connection },
    });
}

use bindings::fermyon::spin::mqtt::{self, Error, Qos};

version_conversions!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl mqtt::Host for InstanceMqtt {}

impl mqtt::HostConnection for InstanceMqtt {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> Answer<Resource<Connection>> {
        let opened = self
            .component
            .open(&address, username, password, keep_alive_interval_in_secs)
            .await;
        Ok(opened.and_then(|c| self.push(c)).map_err(Error::from))
    }

    async fn publish(
        &mut self,
        handle: Resource<Connection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Answer<()> {
        let client = self.client(&handle)?;
        let published = self
            .component
            .publish(&client, topic, payload, qos.into())
            .await;
        Ok(published.map_err(Error::from))
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceMqtt,
) -> anyhow::Result<()> {
    mqtt::add_to_linker::<InstanceState, OutboundMqtt>(linker, get)?;
    Ok(())
}
