//! Triggers: the ways requests and events reach guests.
//!
//! [`Triggers`] is the one type the start-up sequence builds and runs: it
//! holds a running form of every trigger type the app uses. A new trigger
//! type is a module here plus its arm in [`Triggers::build`]; the edges
//! never see it.

pub mod http;

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Result};
use futures::future::FutureExt as _;
use spinshim_app::LockedApp;

use crate::prepare::PreparedApp;
use http::{HttpServer, HttpTriggerOptions};

/// Trigger types this host runs.
pub const SUPPORTED_TRIGGER_TYPES: &[&str] = &["http"];

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

/// One trigger type, ready to run.
enum Trigger {
    Http(HttpServer),
}

/// Every trigger of an app, built and bound.
pub struct Triggers {
    triggers: Vec<Trigger>,
}

impl Triggers {
    /// Builds (and, for HTTP, binds) every trigger type the app uses.
    pub fn build(app: &PreparedApp, http: &HttpTriggerOptions) -> Result<Self> {
        let mut triggers = Vec::new();
        if app.locked().triggers_of_type("http").next().is_some() {
            triggers.push(Trigger::Http(HttpServer::build(app, http)?));
        }
        if triggers.is_empty() {
            bail!("the app has no triggers: nothing to run");
        }
        Ok(Self { triggers })
    }

    /// Where the HTTP trigger listens, if there is one.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.triggers.iter().find_map(|trigger| match trigger {
            Trigger::Http(server) => server.local_addr().ok(),
        })
    }

    /// The HTTP trigger as the server of self requests and chaining.
    pub fn local_http(
        &self,
    ) -> Option<std::sync::Weak<dyn crate::host::outbound_http::local::LocalHttp>> {
        self.triggers
            .iter()
            .map(|trigger| match trigger {
                Trigger::Http(server) => server.local_http(),
            })
            .next()
    }

    /// Each trigger's start-up listing, concatenated.
    pub fn describe(&self) -> String {
        self.triggers
            .iter()
            .map(|trigger| match trigger {
                Trigger::Http(server) => server.route_listing(),
            })
            .collect()
    }

    /// Runs all triggers until `shutdown` resolves; the first trigger to
    /// fail stops the others and its error is returned.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        drain_timeout: Duration,
    ) -> Result<()> {
        let shutdown = shutdown.boxed().shared();
        let runs = self.triggers.into_iter().map(|trigger| {
            let shutdown = shutdown.clone();
            async move {
                match trigger {
                    Trigger::Http(server) => server.serve(shutdown, drain_timeout).await,
                }
            }
        });
        futures::future::try_join_all(runs).await?;
        Ok(())
    }
}
