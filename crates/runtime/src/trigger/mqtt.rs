//! The MQTT trigger (the interface of the MQTT trigger plugin, which the
//! reference shim bundles): messages on subscribed topics, each handled by
//! a fresh instance of the trigger's component.
//!
//! Every `[[trigger.mqtt]]` entry has its own clean-session connection to
//! the app's broker, as in the plugin, so a message belongs to exactly the
//! trigger whose subscription brought it. Start-up and reconnection are
//! [`messages`]'s: a lost connection is dialled and subscribed again (the
//! plugin goes quiet instead).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeReasonCode};
use spinshim_app::triggers::{
    trigger_config, trigger_metadata, MqttTriggerConfig, MqttTriggerMetadata, MQTT_TRIGGER_TYPE,
};
use spinshim_app::variables::ResolvedVariables;

use super::messages::{self, Deliveries, Ended};
use super::Shutdown;
use crate::prepare::PreparedApp;
use crate::store::{ComponentInstancer, InstanceState};

mod plugin {
    wasmtime::component::bindgen!({
        path: "wit/spin-mqtt-trigger",
        world: "spin-mqtt",
        exports: { default: async },
    });
}

mod plugin_v3 {
    wasmtime::component::bindgen!({
        path: "wit/spin-mqtt-trigger-v3",
        world: "spin-mqtt",
        exports: { default: async | store },
    });
}

/// The plugin's default keep-alive, in seconds.
const DEFAULT_KEEP_ALIVE_SECS: u64 = 30;
/// Requests queued towards a connection's event loop.
const REQUEST_QUEUE: usize = 16;
/// The largest packet MQTT can carry (rumqttc's default is 10 KiB).
const MAX_PACKET_BYTES: usize = 268_435_455;

/// The MQTT trigger with every subscription in place.
pub struct MqttTrigger {
    subscriptions: Vec<(Subscription, EventLoop)>,
    broker: String,
}

impl MqttTrigger {
    /// Reads the broker settings and every MQTT trigger, prepares each
    /// component's handler and subscribes.
    pub async fn build(app: &PreparedApp, variables: &ResolvedVariables) -> Result<Self> {
        let broker = Broker::from_metadata(
            &trigger_metadata(app.locked(), MQTT_TRIGGER_TYPE)?,
            variables,
        )?;
        let mut subscriptions = Vec::new();
        for trigger in app.locked().triggers_of_type(MQTT_TRIGGER_TYPE) {
            let config: MqttTriggerConfig = trigger_config(trigger)?;
            let topic = variables.render(
                || format!("trigger \"{}\": topic", trigger.id),
                &config.topic,
            )?;
            let instancer = app
                .component(&config.component)
                .with_context(|| format!("component \"{}\" was not prepared", config.component))?;
            let subscription = Subscription {
                place: format!(
                    "{} (trigger \"{}\", topic \"{topic}\")",
                    broker.shown, trigger.id
                ),
                topic,
                qos: match config.qos {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                },
                handler: Arc::new(Handler::new(instancer)?),
                broker: broker.clone(),
            };
            let events = messages::connect_at_startup(&subscription).await?;
            subscriptions.push((subscription, events));
        }
        Ok(Self {
            subscriptions,
            broker: broker.shown,
        })
    }

    /// The start-up listing.
    pub fn describe(&self) -> String {
        let topics: Vec<&str> = self
            .subscriptions
            .iter()
            .map(|(subscription, _)| subscription.topic.as_str())
            .collect();
        format!(
            "Subscribed to MQTT at {}: {}\n",
            self.broker,
            topics.join(", ")
        )
    }

    /// Delivers messages until `shutdown`, then lets the handlers in
    /// flight finish for at most `drain_timeout`.
    pub async fn run(self, shutdown: Shutdown, drain_timeout: Duration) -> Result<()> {
        let deliveries = Arc::new(Deliveries::new(MQTT_TRIGGER_TYPE));
        let runs = self
            .subscriptions
            .into_iter()
            .map(|(subscription, events)| {
                let (shutdown, deliveries) = (shutdown.clone(), deliveries.clone());
                async move {
                    messages::stay_subscribed(&subscription, events, &shutdown, &deliveries).await
                }
            });
        futures::future::join_all(runs).await;
        deliveries.drain(drain_timeout).await;
        Ok(())
    }
}

/// The broker of `[application.trigger.mqtt]`, rendered.
#[derive(Clone)]
struct Broker {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    keep_alive: Duration,
    /// `mqtt://host:port`, for log lines.
    shown: String,
}

impl Broker {
    fn from_metadata(
        metadata: &MqttTriggerMetadata,
        variables: &ResolvedVariables,
    ) -> Result<Self> {
        let field = |name: &'static str| move || format!("metadata.triggers.mqtt.{name}");
        let Some(address) = &metadata.address else {
            bail!("the app has MQTT triggers but [application.trigger.mqtt] has no address");
        };
        let address = variables.render(field("address"), address)?;
        let url = url::Url::parse(&address)
            .map_err(|err| anyhow!("metadata.triggers.mqtt.address \"{address}\": {err}"))?;
        if url.scheme() != "mqtt" {
            bail!(
                "metadata.triggers.mqtt.address \"{address}\": scheme \"{}\" is not supported \
                 (use mqtt://host:port)",
                url.scheme()
            );
        }
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| anyhow!("metadata.triggers.mqtt.address \"{address}\": no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(1883);
        let username = match &metadata.username {
            Some(username) => variables.render(field("username"), username)?,
            None => String::new(),
        };
        let password = match &metadata.password {
            Some(password) => variables.render(field("password"), password)?,
            None => String::new(),
        };
        let keep_alive = metadata
            .keep_alive_interval
            .unwrap_or(DEFAULT_KEEP_ALIVE_SECS);
        Ok(Self {
            shown: format!("mqtt://{host}:{port}"),
            host,
            port,
            credentials: (!username.is_empty()).then_some((username, password)),
            keep_alive: Duration::from_secs(keep_alive),
        })
    }

    /// Options for one clean-session connection with an id of its own
    /// (brokers drop the older of two connections sharing an id).
    fn options(&self) -> MqttOptions {
        let mut options = MqttOptions::new(unique_client_id(), &self.host, self.port);
        options.set_clean_session(true);
        options.set_keep_alive(self.keep_alive);
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if let Some((username, password)) = &self.credentials {
            options.set_credentials(username, password);
        }
        options
    }
}

/// `spinshim-<pid>-<random>`: unique per connection, within the 23
/// characters every broker must accept.
fn unique_client_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("spinshim-{:013x}", hasher.finish() >> 12)
}

/// A component's MQTT handler, by the form of its export.
enum Handler {
    Plugin {
        instancer: Arc<ComponentInstancer>,
        pre: plugin::SpinMqttPre<InstanceState>,
    },
    PluginV3 {
        instancer: Arc<ComponentInstancer>,
        pre: plugin_v3::SpinMqttPre<InstanceState>,
    },
}

impl Handler {
    fn new(instancer: Arc<ComponentInstancer>) -> Result<Self> {
        let id = instancer.id().to_string();
        if !instancer
            .export_names()
            .iter()
            .any(|name| name == "handle-message")
        {
            bail!(
                "component \"{id}\" exports no MQTT handler; expected the function \
                 handle-message of spin:mqtt-trigger"
            );
        }
        let sync_form = match plugin::SpinMqttPre::new(instancer.pre().clone()) {
            Ok(pre) => return Ok(Self::Plugin { instancer, pre }),
            Err(err) => err,
        };
        match plugin_v3::SpinMqttPre::new(instancer.pre().clone()) {
            Ok(pre) => Ok(Self::PluginV3 { instancer, pre }),
            Err(async_form) => bail!(
                "component \"{id}\": handle-message matches neither form of \
                 spin:mqtt-trigger: {sync_form:#}; as an async function: {async_form:#}"
            ),
        }
    }

    fn component_id(&self) -> &str {
        match self {
            Self::Plugin { instancer, .. } | Self::PluginV3 { instancer, .. } => instancer.id(),
        }
    }

    /// Handles one message in a fresh instance.
    async fn handle(self: Arc<Self>, payload: Vec<u8>, topic: String) -> Result<()> {
        match &*self {
            Self::Plugin { instancer, pre } => {
                let mut store = instancer.new_store()?;
                let guest = pre.instantiate_async(&mut store).await?;
                let metadata = plugin::spin::mqtt_trigger::spin_mqtt_types::Metadata { topic };
                guest
                    .call_handle_message(&mut store, &payload, &metadata)
                    .await?
                    .map_err(|err| anyhow!("the guest returned {err:?}"))
            }
            Self::PluginV3 { instancer, pre } => {
                let mut store = instancer.new_store()?;
                let guest = pre.instantiate_async(&mut store).await?;
                let metadata = plugin_v3::spin::mqtt_trigger::spin_mqtt_types::Metadata { topic };
                let answer = store
                    .run_concurrent(async move |accessor| {
                        guest.call_handle_message(accessor, payload, metadata).await
                    })
                    .await??;
                answer.map_err(|err| anyhow!("the guest returned {err:?}"))
            }
        }
    }
}

/// One trigger's subscription and the connection that carries it.
struct Subscription {
    topic: String,
    qos: QoS,
    handler: Arc<Handler>,
    broker: Broker,
    /// `mqtt://host:port (trigger "id", topic "t")`, for log lines.
    place: String,
}

impl messages::Subscriber for Subscription {
    type Connection = EventLoop;
    const TRIGGER: &'static str = MQTT_TRIGGER_TYPE;

    fn place(&self) -> &str {
        &self.place
    }

    /// A new connection, polled until the broker has granted the
    /// subscription.
    async fn connect(&self) -> Result<EventLoop> {
        let (client, mut events) = AsyncClient::new(self.broker.options(), REQUEST_QUEUE);
        client
            .subscribe(&self.topic, self.qos)
            .await
            .map_err(|err| anyhow!("subscribing: {err}"))?;
        loop {
            if let Event::Incoming(Packet::SubAck(ack)) = events.poll().await? {
                if ack
                    .return_codes
                    .iter()
                    .any(|code| matches!(code, SubscribeReasonCode::Failure))
                {
                    bail!("the broker refused the subscription");
                }
                return Ok(events);
            }
        }
    }

    async fn deliver(
        &self,
        mut events: EventLoop,
        shutdown: &Shutdown,
        deliveries: &Deliveries,
    ) -> Ended {
        loop {
            let event = tokio::select! {
                () = shutdown.clone() => return Ended::Shutdown,
                event = events.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let handling = self
                        .handler
                        .clone()
                        .handle(publish.payload.to_vec(), publish.topic.clone());
                    deliveries
                        .start(self.handler.component_id(), &self.place, handling)
                        .await;
                }
                Ok(_) => {}
                Err(err) => return Ended::Lost(err.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_differ_and_fit_every_broker() {
        let (a, b) = (unique_client_id(), unique_client_id());
        assert_ne!(a, b);
        assert!(a.len() <= 23, "{a}");
    }
}
