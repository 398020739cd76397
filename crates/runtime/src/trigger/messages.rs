//! What the message triggers (Redis, MQTT) share.
//!
//! - **Deliveries**: a message runs in a fresh instance of each subscribed
//!   component, on its own task; a failure is logged with the component
//!   and where the message came from and never stops the trigger;
//!   shutdown lets the handlers in flight finish for the drain time.
//! - **Staying subscribed**: start-up waits a bounded time for a server to
//!   take the subscriptions, so a wrong address stops the app with an
//!   error naming it; afterwards a lost connection is dialled again with
//!   backoff for as long as it takes, with one log line when it is lost
//!   and one when it is back. Messages published meanwhile are lost, as
//!   pub/sub's at-most-once delivery has it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::sync::Semaphore;

use super::Shutdown;

/// How many messages one trigger handles at once. A subscriber waits for a
/// free slot before reading on, so a flood queues at the broker (and its
/// client buffer limits), not in this process.
const MAX_IN_FLIGHT: u32 = 256;

/// Handlers in flight for one trigger type.
pub struct Deliveries {
    trigger: &'static str,
    slots: Arc<Semaphore>,
}

impl Deliveries {
    /// Deliveries for the trigger named in log lines (`"redis"`, `"mqtt"`).
    pub fn new(trigger: &'static str) -> Self {
        Self {
            trigger,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize)),
        }
    }

    /// Starts `handling` once a slot is free; its failure is logged as
    /// `component` failing on a message from `source`.
    pub async fn start(
        &self,
        component: &str,
        source: &str,
        handling: impl Future<Output = Result<()>> + Send + 'static,
    ) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let trigger = self.trigger;
        let component = component.to_owned();
        let source = source.to_owned();
        tokio::spawn(async move {
            if let Err(err) = handling.await {
                tracing::error!(
                    "{trigger} trigger: component \"{component}\" failed on a message from \
                     {source}: {err:#}"
                );
            }
            drop(slot);
        });
    }

    /// Waits until every handler started has finished, for at most
    /// `timeout`.
    pub async fn drain(&self, timeout: Duration) {
        let all = self.slots.acquire_many(MAX_IN_FLIGHT);
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!(
                "{} trigger: messages still being handled after {timeout:?}; exiting",
                self.trigger
            );
        }
    }
}

/// How long start-up waits for a server to take the subscriptions.
const STARTUP_WAIT: Duration = Duration::from_secs(10);
/// Reconnection backoff, doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a connection stopped delivering.
pub enum Ended {
    /// Shutdown was requested.
    Shutdown,
    /// The connection broke, for this reason.
    Lost(String),
}

/// One connection's worth of subscriptions at a server.
pub trait Subscriber: Sync {
    /// A live connection with the subscriptions in place.
    type Connection: Send;
    /// The trigger type, for log lines.
    const TRIGGER: &'static str;
    /// Where it subscribes (`redis://host:port`), for log lines.
    fn place(&self) -> &str;
    /// Connects and subscribes.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection>> + Send;
    /// Starts deliveries of what arrives on `connection` until it breaks
    /// or shutdown.
    fn deliver(
        &self,
        connection: Self::Connection,
        shutdown: &Shutdown,
        deliveries: &Deliveries,
    ) -> impl Future<Output = Ended> + Send;
}

/// Connects `subscriber` at start-up, retrying for [`STARTUP_WAIT`].
pub async fn connect_at_startup<S: Subscriber>(subscriber: &S) -> Result<S::Connection> {
    let deadline = Instant::now() + STARTUP_WAIT;
    let mut backoff = BACKOFF_FIRST;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let err = match tokio::time::timeout(remaining, subscriber.connect()).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(err)) => err,
            Err(_) => anyhow::anyhow!("no answer"),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            bail!(
                "{} trigger: cannot subscribe at {} within {STARTUP_WAIT:?}: {err:#}",
                S::TRIGGER,
                subscriber.place()
            );
        }
        tracing::debug!(
            "{} trigger: {}: {err:#}; retrying",
            S::TRIGGER,
            subscriber.place()
        );
        tokio::time::sleep(backoff.min(remaining)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Delivers from `connection`, and from a new connection whenever it is
/// lost, until shutdown.
pub async fn stay_subscribed<S: Subscriber>(
    subscriber: &S,
    mut connection: S::Connection,
    shutdown: &Shutdown,
    deliveries: &Deliveries,
) {
    loop {
        let reason = match subscriber.deliver(connection, shutdown, deliveries).await {
            Ended::Shutdown => return,
            Ended::Lost(reason) => reason,
        };
        tracing::warn!(
            "{} trigger: lost the connection to {} ({reason}); reconnecting",
            S::TRIGGER,
            subscriber.place()
        );
        let lost_at = Instant::now();
        connection = match reconnect(subscriber, shutdown).await {
            Some(connection) => connection,
            None => return,
        };
        tracing::warn!(
            "{} trigger: subscribed again at {} after {:.1?}; messages published meanwhile \
             were not received",
            S::TRIGGER,
            subscriber.place(),
            lost_at.elapsed()
        );
    }
}

async fn reconnect<S: Subscriber>(subscriber: &S, shutdown: &Shutdown) -> Option<S::Connection> {
    let mut backoff = BACKOFF_FIRST;
    loop {
        tokio::select! {
            () = shutdown.clone() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        let attempt = tokio::select! {
            () = shutdown.clone() => return None,
            attempt = subscriber.connect() => attempt,
        };
        match attempt {
            Ok(connection) => return Some(connection),
            Err(err) => tracing::debug!("{} trigger: {}: {err:#}", S::TRIGGER, subscriber.place()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn drain_waits_for_every_started_handler() {
        let deliveries = Deliveries::new("test");
        let done = Arc::new(AtomicU32::new(0));
        for _ in 0..10 {
            let done = done.clone();
            deliveries
                .start("c", "s", async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
        }
        deliveries.drain(Duration::from_secs(5)).await;
        assert_eq!(done.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn drain_gives_up_after_its_timeout() {
        let deliveries = Deliveries::new("test");
        deliveries
            .start("c", "s", std::future::pending::<Result<()>>())
            .await;
        let started = std::time::Instant::now();
        deliveries.drain(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
