//! The Redis trigger: messages published on Redis channels, each handled by
//! a fresh instance of every component subscribed to the channel (spec §4).
//!
//! One pub/sub connection per server address, a plain `SUBSCRIBE` per
//! channel. Start-up and reconnection are [`messages`]'s: a lost
//! connection is dialled again for as long as it takes (Spin exits
//! instead; a pod should ride out a Redis restart).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use futures::StreamExt as _;
use indexmap::IndexMap;
use redis::aio::{PubSubSink, PubSubStream};
use spinshim_app::triggers::{
    trigger_config, trigger_metadata, RedisTriggerConfig, RedisTriggerMetadata, REDIS_TRIGGER_TYPE,
};
use spinshim_app::variables::ResolvedVariables;

use super::messages::{self, Deliveries, Ended};
use super::Shutdown;
use crate::host::outbound_networking::redact_password;
use crate::prepare::PreparedApp;
use crate::store::{ComponentInstancer, InstanceState};

mod fermyon {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-redis-guest",
        exports: { default: async },
    });
}

mod spin_v3 {
    wasmtime::component::bindgen!({
        path: "wit/spin-redis-v3",
        world: "redis-guest",
        exports: { default: async | store },
    });
}

/// The export of Spin SDK 2-5 guests (and of componentized 1.x modules).
const FERMYON_INBOUND_REDIS: &str = "fermyon:spin/inbound-redis";
/// The async export of spin-sdk 7 guests.
const SPIN_INBOUND_REDIS_V3: &str = "spin:redis/inbound-redis@3.0.0";

/// One connection attempt's bound (a silent address must not hang it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often an idle connection is checked with `PING`, and how long the
/// answer may take: a half-open connection would otherwise look idle
/// forever.
const PING_EVERY: Duration = Duration::from_secs(15);
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis trigger with every server's subscriptions in place.
pub struct RedisTrigger {
    subscribers: Vec<(Subscriber, Connection)>,
}

impl RedisTrigger {
    /// Reads every Redis trigger, renders addresses and channels, prepares
    /// each component's handler and subscribes at every server.
    pub async fn build(app: &PreparedApp, variables: &ResolvedVariables) -> Result<Self> {
        let metadata: RedisTriggerMetadata = trigger_metadata(app.locked(), REDIS_TRIGGER_TYPE)?;
        let mut by_address: IndexMap<String, IndexMap<String, Vec<Arc<Handler>>>> = IndexMap::new();
        for trigger in app.locked().triggers_of_type(REDIS_TRIGGER_TYPE) {
            let config: RedisTriggerConfig = trigger_config(trigger)?;
            let field = |name: &str| format!("trigger \"{}\": {name}", trigger.id);
            let address = match (&config.address, &metadata.address) {
                (Some(own), _) => variables.render(|| field("address"), own)?,
                (None, Some(app_wide)) => {
                    variables.render(|| "metadata.triggers.redis.address".to_string(), app_wide)?
                }
                (None, None) => bail!(
                    "trigger \"{}\": no Redis address: set `address` on the trigger or in \
                     [application.trigger.redis]",
                    trigger.id
                ),
            };
            let channel = variables.render(|| field("channel"), &config.channel)?;
            let instancer = app
                .component(&config.component)
                .with_context(|| format!("component \"{}\" was not prepared", config.component))?;
            by_address
                .entry(address)
                .or_default()
                .entry(channel)
                .or_default()
                .push(Arc::new(Handler::new(instancer)?));
        }
        let mut subscribers = Vec::new();
        for (address, channels) in by_address {
            let subscriber = Subscriber::new(address, channels)?;
            let connection = messages::connect_at_startup(&subscriber).await?;
            subscribers.push((subscriber, connection));
        }
        Ok(Self { subscribers })
    }

    /// The start-up listing: one line per server and its channels.
    pub fn describe(&self) -> String {
        self.subscribers
            .iter()
            .map(|(subscriber, _)| {
                let channels: Vec<&str> = subscriber.channels.keys().map(String::as_str).collect();
                format!(
                    "Subscribed to Redis at {}: {}\n",
                    subscriber.shown,
                    channels.join(", ")
                )
            })
            .collect()
    }

    /// Delivers messages until `shutdown`, then lets the handlers in
    /// flight finish for at most `drain_timeout`.
    pub async fn run(self, shutdown: Shutdown, drain_timeout: Duration) -> Result<()> {
        let deliveries = Arc::new(Deliveries::new(REDIS_TRIGGER_TYPE));
        let runs = self
            .subscribers
            .into_iter()
            .map(|(subscriber, connection)| {
                let (shutdown, deliveries) = (shutdown.clone(), deliveries.clone());
                async move {
                    messages::stay_subscribed(&subscriber, connection, &shutdown, &deliveries).await
                }
            });
        futures::future::join_all(runs).await;
        deliveries.drain(drain_timeout).await;
        Ok(())
    }
}

/// A component's Redis handler, by the export it has.
enum Handler {
    Fermyon {
        instancer: Arc<ComponentInstancer>,
        pre: fermyon::LegacyRedisGuestPre<InstanceState>,
    },
    SpinV3 {
        instancer: Arc<ComponentInstancer>,
        pre: spin_v3::RedisGuestPre<InstanceState>,
    },
}

impl Handler {
    fn new(instancer: Arc<ComponentInstancer>) -> Result<Self> {
        let id = instancer.id().to_string();
        let exports = instancer.export_names();
        let has = |name: &str| exports.iter().any(|export| export == name);
        let pre = instancer.pre().clone();
        let context = || format!("component \"{id}\"");
        match (has(FERMYON_INBOUND_REDIS), has(SPIN_INBOUND_REDIS_V3)) {
            (true, false) => Ok(Self::Fermyon {
                pre: fermyon::LegacyRedisGuestPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(context)?,
                instancer,
            }),
            (false, true) => Ok(Self::SpinV3 {
                pre: spin_v3::RedisGuestPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(context)?,
                instancer,
            }),
            (true, true) => bail!(
                "component \"{id}\" exports both {FERMYON_INBOUND_REDIS} and \
                 {SPIN_INBOUND_REDIS_V3}; a Redis component must export one"
            ),
            (false, false) => bail!(
                "component \"{id}\" exports no Redis handler; expected \
                 {FERMYON_INBOUND_REDIS} or {SPIN_INBOUND_REDIS_V3}"
            ),
        }
    }

    fn component_id(&self) -> &str {
        match self {
            Self::Fermyon { instancer, .. } | Self::SpinV3 { instancer, .. } => instancer.id(),
        }
    }

    /// Handles one message in a fresh instance.
    async fn handle(self: Arc<Self>, payload: Vec<u8>) -> Result<()> {
        match &*self {
            Self::Fermyon { instancer, pre } => {
                let mut store = instancer.new_store()?;
                let guest = pre.instantiate_async(&mut store).await?;
                guest
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut store, &payload)
                    .await?
                    // The SDK prints its cause to stderr; the value is one enum case.
                    .map_err(|_| anyhow!("the guest returned error"))
            }
            Self::SpinV3 { instancer, pre } => {
                let mut store = instancer.new_store()?;
                let guest = pre.instantiate_async(&mut store).await?;
                let answer = store
                    .run_concurrent(async move |accessor| {
                        guest
                            .spin_redis_inbound_redis()
                            .call_handle_message(accessor, payload)
                            .await
                    })
                    .await??;
                answer.map_err(|err| anyhow!("the guest returned {err:?}"))
            }
        }
    }
}

/// A live pub/sub connection: the sink (for `PING`) and the messages.
struct Connection {
    sink: PubSubSink,
    messages: PubSubStream,
}

/// Every subscription at one server.
struct Subscriber {
    client: redis::Client,
    /// The address with any password hidden, for log lines.
    shown: String,
    channels: IndexMap<String, Vec<Arc<Handler>>>,
}

impl Subscriber {
    fn new(address: String, channels: IndexMap<String, Vec<Arc<Handler>>>) -> Result<Self> {
        let shown = redact_password(&address);
        let client = redis::Client::open(address.as_str())
            .map_err(|err| anyhow!("redis trigger: invalid address {shown}: {err}"))?;
        Ok(Self {
            client,
            shown,
            channels,
        })
    }
}

impl messages::Subscriber for Subscriber {
    type Connection = Connection;
    const TRIGGER: &'static str = REDIS_TRIGGER_TYPE;

    fn place(&self) -> &str {
        &self.shown
    }

    async fn connect(&self) -> Result<Connection> {
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| anyhow!("no answer within {CONNECT_TIMEOUT:?}"))??;
        for channel in self.channels.keys() {
            pubsub
                .subscribe(channel)
                .await
                .with_context(|| format!("subscribing to channel \"{channel}\""))?;
        }
        let (sink, messages) = pubsub.split();
        Ok(Connection { sink, messages })
    }

    async fn deliver(
        &self,
        mut connection: Connection,
        shutdown: &Shutdown,
        deliveries: &Deliveries,
    ) -> Ended {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            let message = tokio::select! {
                () = shutdown.clone() => return Ended::Shutdown,
                message = connection.messages.next() => message,
                _ = ping.tick() => {
                    let pong = connection.sink.ping::<redis::Value>();
                    match tokio::time::timeout(PING_TIMEOUT, pong).await {
                        Ok(Ok(_)) => continue,
                        Ok(Err(err)) => return Ended::Lost(format!("PING failed: {err}")),
                        Err(_) => {
                            return Ended::Lost(format!("no answer to PING within {PING_TIMEOUT:?}"))
                        }
                    }
                }
            };
            let Some(message) = message else {
                return Ended::Lost("the connection closed".into());
            };
            let channel = message.get_channel_name();
            let Some(handlers) = self.channels.get(channel) else {
                continue;
            };
            let source = format!("channel \"{channel}\" at {}", self.shown);
            for handler in handlers {
                let payload = message.get_payload_bytes().to_vec();
                let handling = handler.clone().handle(payload);
                deliveries
                    .start(handler.component_id(), &source, handling)
                    .await;
            }
        }
    }
}
