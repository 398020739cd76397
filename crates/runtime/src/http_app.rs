//! A locked app made ready to serve HTTP: the one place that puts the
//! engine, its epoch clock, the prepared components and the HTTP trigger
//! together, for `spinshim up` and the shim alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use spinshim_app::LockedApp;

use crate::engine::{build_engine, EngineOptions, EpochTicker};
use crate::prepare::{PrepareOptions, PreparedApp};
use crate::trigger::http::{HttpTrigger, HttpTriggerOptions};

/// An app whose components are compiled and linked and whose routes are
/// built; nothing listens yet.
pub struct HttpApp {
    trigger: Arc<HttpTrigger>,
    // Kept alive while serving: the prepared app owns the staged files,
    // the ticker drives request deadlines.
    _prepared: PreparedApp,
    _ticker: EpochTicker,
}

impl HttpApp {
    /// Builds the engine (capped by `prepare.max_instance_memory`),
    /// prepares the app and its HTTP trigger. Fails on anything that would
    /// stop the app from serving, naming the component or trigger.
    pub fn start(
        locked: LockedApp,
        prepare: &PrepareOptions<'_>,
        http: &HttpTriggerOptions,
    ) -> Result<Self> {
        let engine = build_engine(&EngineOptions {
            max_instance_memory: prepare.max_instance_memory,
            ..Default::default()
        })?;
        let ticker = EpochTicker::start(engine.engine());
        let prepared = PreparedApp::prepare(locked, engine, prepare)?;
        let trigger = Arc::new(HttpTrigger::new(&prepared, http)?);
        Ok(Self {
            trigger,
            _prepared: prepared,
            _ticker: ticker,
        })
    }

    /// The route listing printed at start (see [`HttpTrigger::route_listing`]).
    pub fn route_listing(&self, addr: SocketAddr) -> String {
        self.trigger.route_listing(addr)
    }

    /// Serves on `listener` until `shutdown` resolves, then lets in-flight
    /// requests finish for at most `drain_timeout`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
        drain_timeout: Duration,
    ) -> Result<()> {
        self.trigger
            .clone()
            .serve(listener, shutdown, drain_timeout)
            .await
    }
}
