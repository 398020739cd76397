//! Connections to Redis servers: one multiplexed connection per address,
//! shared by every instance of the app, and private ones for the guest
//! handles that need a connection of their own.
//!
//! A request that opened its own TCP connection (and sent AUTH and SELECT)
//! would spend more time connecting than on its command; a multiplexed
//! connection pipelines the commands of every request instead. A broken
//! connection is forgotten, so the command after an outage reconnects, and
//! a connection idle for a while is PINGed before it is lent (a server
//! restarted meanwhile would otherwise fail the first command after it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::AsyncConnectionConfig;

use super::ClientError;
use crate::host::outbound_networking::NetworkPolicy;

/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a command on a shared connection may wait for its reply (a
/// server that hangs fails requests instead of holding them). Private
/// connections, where blocking commands run, have no bound.
const SHARED_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A shared connection unused for this long is PINGed before it is lent.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// How long that PING may take before the connection is replaced.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Addresses with a shared connection at most; the handles of further
/// addresses get private connections (a guest varying credentials or
/// database numbers cannot grow the pool without bound).
const MAX_SHARED_ADDRESSES: usize = 64;

/// The app's Redis connections.
pub struct ConnectionPool {
    network: Arc<NetworkPolicy>,
    shared: Mutex<HashMap<String, Arc<Slot>>>,
    generations: AtomicU64,
    /// The zero of [`Pooled::last_used`].
    epoch: Instant,
}

/// One address's shared connection, made by the first request that needs
/// it while the others wait.
type Slot = tokio::sync::Mutex<Option<Pooled>>;

#[derive(Clone)]
struct Pooled {
    connection: MultiplexedConnection,
    generation: u64,
    /// Milliseconds since the pool's epoch when a command last succeeded.
    last_used: Arc<AtomicU64>,
}

/// A connection lent to one command, and how to report it broken.
pub struct Lent {
    pub connection: MultiplexedConnection,
    shared: Option<(Arc<Slot>, u64)>,
    last_used: Option<(Arc<AtomicU64>, Instant)>,
}

impl ConnectionPool {
    pub fn new(network: Arc<NetworkPolicy>) -> Self {
        Self {
            network,
            shared: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The shared connection to `address` (connecting when there is none),
    /// or a private one once the pool holds [`MAX_SHARED_ADDRESSES`].
    pub async fn lend(&self, address: &str) -> Result<Lent, ClientError> {
        let slot = {
            let mut shared = self.shared.lock().expect("pool lock");
            match shared.get(address) {
                Some(slot) => Some(Arc::clone(slot)),
                None if shared.len() < MAX_SHARED_ADDRESSES => {
                    let slot = Arc::new(Slot::new(None));
                    shared.insert(address.to_string(), Arc::clone(&slot));
                    Some(slot)
                }
                None => None,
            }
        };
        let Some(slot) = slot else {
            return Ok(Lent {
                connection: self.connect(address, Some(SHARED_RESPONSE_TIMEOUT)).await?,
                shared: None,
                last_used: None,
            });
        };
        let mut current = slot.lock().await;
        let alive = match &*current {
            Some(pooled) => self.still_alive(pooled).await,
            None => false,
        };
        if !alive {
            *current = None;
            *current = Some(Pooled {
                connection: self.connect(address, Some(SHARED_RESPONSE_TIMEOUT)).await?,
                generation: self.generations.fetch_add(1, Ordering::Relaxed),
                last_used: Arc::new(AtomicU64::new(self.now_ms())),
            });
        }
        let pooled = current.clone().expect("set above");
        drop(current);
        Ok(Lent {
            connection: pooled.connection,
            shared: Some((slot, pooled.generation)),
            last_used: Some((pooled.last_used, self.epoch)),
        })
    }

    /// True unless the connection has been idle past [`IDLE_CHECK`] and
    /// does not answer a PING.
    async fn still_alive(&self, pooled: &Pooled) -> bool {
        let idle = self
            .now_ms()
            .saturating_sub(pooled.last_used.load(Ordering::Relaxed));
        if u128::from(idle) < IDLE_CHECK.as_millis() {
            return true;
        }
        let mut connection = pooled.connection.clone();
        let ping_cmd = redis::cmd("PING");
        let ping = ping_cmd.query_async::<()>(&mut connection);
        let answered = matches!(tokio::time::timeout(PING_TIMEOUT, ping).await, Ok(Ok(())));
        if answered {
            pooled.last_used.store(self.now_ms(), Ordering::Relaxed);
        } else {
            tracing::info!("a pooled Redis connection did not answer PING; reconnecting");
        }
        answered
    }

    /// A new connection to `address`; `None` waits for replies as long
    /// as they take.
    pub async fn connect(
        &self,
        address: &str,
        response_timeout: Option<Duration>,
    ) -> Result<MultiplexedConnection, ClientError> {
        let client = redis::Client::open(address).map_err(|_| ClientError::InvalidAddress)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(response_timeout)
            .set_dns_resolver(PolicyResolver(Arc::clone(&self.network)));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(ClientError::from)
    }
}

impl Lent {
    /// False for a private connection (the pool was full).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Records that a command succeeded on it.
    pub fn succeeded(&self) {
        if let Some((last_used, epoch)) = &self.last_used {
            let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            last_used.store(now, Ordering::Relaxed);
        }
    }

    /// Forgets a shared connection that failed with `err` when the failure
    /// means the connection is gone, so the next command reconnects.
    pub async fn failed(&self, err: &redis::RedisError) {
        let broken = err.is_io_error()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_unrecoverable_error();
        let Some((slot, generation)) = &self.shared else {
            return;
        };
        if broken {
            let mut current = slot.lock().await;
            if current
                .as_ref()
                .is_some_and(|p| p.generation == *generation)
            {
                tracing::info!("Redis connection lost ({err}); the next command reconnects");
                *current = None;
            }
        }
    }
}

/// Name resolution that leaves out blocked networks.
struct PolicyResolver(Arc<NetworkPolicy>);

impl AsyncDNSResolver for PolicyResolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let addrs = self
                .0
                .resolve(host, port)
                .await
                .map_err(std::io::Error::other)?;
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}
