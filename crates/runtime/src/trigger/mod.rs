//! Triggers: the ways requests and events reach guests.
//!
//! [`Triggers`] is the one type the start-up sequence builds and runs: it
//! holds a running form of every trigger type the app uses, side by side
//! in one process. A new trigger type is a module here plus its arms in
//! [`Trigger`]; the edges never see it.

pub mod command;
pub mod http;
mod messages;
pub mod mqtt;
pub mod redis;

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Result};
use futures::future::{BoxFuture, FutureExt as _, Shared};
use spinshim_app::triggers::{COMMAND_TRIGGER_TYPE, MQTT_TRIGGER_TYPE, REDIS_TRIGGER_TYPE};
use spinshim_app::variables::ResolvedVariables;
use spinshim_app::LockedApp;

use crate::prepare::PreparedApp;
use command::CommandTrigger;
use http::{HttpServer, HttpTriggerOptions};
use mqtt::MqttTrigger;
use redis::RedisTrigger;

/// Trigger types this host runs.
pub const SUPPORTED_TRIGGER_TYPES: &[&str] = &[
    "http",
    REDIS_TRIGGER_TYPE,
    COMMAND_TRIGGER_TYPE,
    MQTT_TRIGGER_TYPE,
];

/// A shutdown request every part of a trigger can wait on.
pub type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Fails on the first trigger whose type this host does not run.
pub fn check_trigger_types(app: &LockedApp) -> Result<()> {
    for trigger in &app.triggers {
        if !SUPPORTED_TRIGGER_TYPES.contains(&trigger.trigger_type.as_str()) {
            bail!(
                "trigger \"{}\": trigger type \"{}\" is not supported (supported: {})",
                trigger.id,
                trigger.trigger_type,
                SUPPORTED_TRIGGER_TYPES.join(", ")
            );
        }
    }
    Ok(())
}

/// What the triggers need besides the app.
#[derive(Clone, Debug, Default)]
pub struct TriggerOptions {
    /// The HTTP trigger's settings.
    pub http: HttpTriggerOptions,
    /// The command trigger's arguments (after the component id).
    pub command_args: Vec<String>,
}

/// One trigger type, ready to run.
enum Trigger {
    Http(HttpServer),
    Redis(RedisTrigger),
    Mqtt(MqttTrigger),
    Command(CommandTrigger),
}

impl Trigger {
    fn describe(&self) -> String {
        match self {
            Trigger::Http(server) => server.route_listing(),
            Trigger::Redis(redis) => redis.describe(),
            Trigger::Mqtt(mqtt) => mqtt.describe(),
            Trigger::Command(command) => command.describe(),
        }
    }

    /// Runs until shutdown; a command's exit code when it ran to its end.
    async fn run(self, shutdown: Shutdown, drain_timeout: Duration) -> Result<Option<i32>> {
        match self {
            Trigger::Http(server) => server.serve(shutdown, drain_timeout).await.map(|()| None),
            Trigger::Redis(redis) => redis.run(shutdown, drain_timeout).await.map(|()| None),
            Trigger::Mqtt(mqtt) => mqtt.run(shutdown, drain_timeout).await.map(|()| None),
            Trigger::Command(command) => command.run(shutdown, drain_timeout).await.map(Some),
        }
    }
}

/// Every trigger of an app, built, bound and subscribed.
pub struct Triggers {
    triggers: Vec<Trigger>,
}

impl Triggers {
    /// Builds every trigger type the app uses: binds the HTTP listener,
    /// subscribes at Redis servers and MQTT brokers, prepares the command.
    pub async fn build(
        app: &PreparedApp,
        variables: &ResolvedVariables,
        options: &TriggerOptions,
    ) -> Result<Self> {
        let locked = app.locked();
        let uses = |trigger_type: &str| locked.triggers_of_type(trigger_type).next().is_some();
        let mut triggers = Vec::new();
        if uses("http") {
            triggers.push(Trigger::Http(HttpServer::build(app, &options.http)?));
        }
        if uses(REDIS_TRIGGER_TYPE) {
            triggers.push(Trigger::Redis(RedisTrigger::build(app, variables).await?));
        }
        if uses(MQTT_TRIGGER_TYPE) {
            triggers.push(Trigger::Mqtt(MqttTrigger::build(app, variables).await?));
        }
        if let Some(command) = CommandTrigger::build(app, &options.command_args)? {
            triggers.push(Trigger::Command(command));
        }
        if triggers.is_empty() {
            bail!("the app has no triggers: nothing to run");
        }
        Ok(Self { triggers })
    }

    /// Where the HTTP trigger listens, if there is one.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http().and_then(|server| server.local_addr().ok())
    }

    /// The HTTP trigger as the server of self requests and chaining.
    pub fn local_http(
        &self,
    ) -> Option<std::sync::Weak<dyn crate::host::outbound_http::local::LocalHttp>> {
        self.http().map(HttpServer::local_http)
    }

    fn http(&self) -> Option<&HttpServer> {
        self.triggers.iter().find_map(|trigger| match trigger {
            Trigger::Http(server) => Some(server),
            _ => None,
        })
    }

    /// Each trigger's start-up listing, concatenated.
    pub fn describe(&self) -> String {
        self.triggers.iter().map(Trigger::describe).collect()
    }

    /// Runs all triggers side by side until `shutdown` resolves or one of
    /// them ends by itself (a command ran to its end, a trigger failed),
    /// which stops the others as the reference shim does. Returns the
    /// process's exit code: the command's, else 0; a failed trigger is the
    /// error.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        drain_timeout: Duration,
    ) -> Result<i32> {
        let (ended, mut one_ended) = tokio::sync::watch::channel(false);
        let stop: Shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                _ = one_ended.wait_for(|ended| *ended) => {}
            }
        }
        .boxed()
        .shared();
        let runs = self.triggers.into_iter().map(|trigger| {
            let stop = stop.clone();
            let ended = ended.clone();
            async move {
                let outcome = trigger.run(stop, drain_timeout).await;
                ended.send_replace(true);
                outcome
            }
        });
        let outcomes = futures::future::join_all(runs).await;
        let mut exit_code = 0;
        for outcome in outcomes {
            if let Some(code) = outcome? {
                exit_code = code;
            }
        }
        Ok(exit_code)
    }
}
