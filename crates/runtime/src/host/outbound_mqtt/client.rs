//! One guest connection to an MQTT broker: a rumqttc client whose event
//! loop is driven by the publish waiting on it.
//!
//! Publishes on one connection go one at a time: each sends its packet and
//! polls the event loop until the broker has confirmed it as its QoS
//! requires (sent, PUBACK, or PUBCOMP), so the confirmation seen is its
//! own. The broker is dialled on the first publish; a lost connection is
//! redialled by the next.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::{Mutex, OwnedSemaphorePermit};

use super::ClientError;
use crate::host::outbound_networking::NetworkPolicy;

/// Requests queued towards the event loop; publishes go one at a time.
const REQUEST_QUEUE: usize = 8;

/// The largest packet MQTT can carry: payloads are bounded by
/// `max_payload_size_bytes`, not by rumqttc's 10 KiB default.
const MAX_PACKET_BYTES: usize = 268_435_455;

/// A publish's delivery guarantee.
#[derive(Clone, Copy, Debug)]
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

/// A connection to one broker.
pub struct Client {
    client: AsyncClient,
    events: Mutex<EventLoop>,
    _permits: Vec<OwnedSemaphorePermit>,
}

impl Client {
    /// Reads `address` (rumqttc's URL form: `mqtt://host:port?client_id=…`)
    /// and checks that its host is outside the blocked networks.
    pub async fn new(
        network: Arc<NetworkPolicy>,
        address: &str,
        username: String,
        password: String,
        keep_alive_secs: u64,
        permits: Vec<OwnedSemaphorePermit>,
    ) -> Result<Self, ClientError> {
        let mut options = MqttOptions::parse_url(address).map_err(|err| {
            tracing::info!("MQTT address {address}: {err}");
            ClientError::InvalidAddress
        })?;
        let (host, port) = options.broker_address();
        network
            .resolve(&host, port)
            .await
            .map_err(|err| ClientError::ConnectionFailed(err.to_string()))?;
        if !username.is_empty() {
            options.set_credentials(username, password);
        }
        options.set_keep_alive(Duration::from_secs(keep_alive_secs));
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        let (client, events) = AsyncClient::new(options, REQUEST_QUEUE);
        Ok(Self {
            client,
            events: Mutex::new(events),
            _permits: permits,
        })
    }

    /// Publishes and waits for the broker's confirmation.
    pub async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> Result<(), ClientError> {
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        let mut events = self.events.lock().await;
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|err| ClientError::Other(err.to_string()))?;
        loop {
            let event = events
                .poll()
                .await
                .map_err(|err| ClientError::ConnectionFailed(err.to_string()))?;
            let confirmed = matches!(
                (qos, event),
                (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                    | (QoS::AtLeastOnce, Event::Incoming(Incoming::PubAck(_)))
                    | (QoS::ExactlyOnce, Event::Incoming(Incoming::PubComp(_)))
            );
            if confirmed {
                return Ok(());
            }
        }
    }
}
