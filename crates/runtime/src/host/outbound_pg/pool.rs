//! The app's PostgreSQL connections: a pool per address and CA root,
//! made on first use.
//!
//! A connection goes back to its pool when the guest's handle is dropped
//! and is cleaned before its next use (an open transaction rolled back,
//! session settings, temporary tables, advisory locks and LISTENs reset),
//! so nothing one request did reaches another; prepared statements stay,
//! so a repeated statement costs no parse.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use super::client::{error_chain, PooledClient};
use super::v4::Error;
use crate::host::outbound_networking::{tls, NetworkPolicy};

/// Connections per pool at most.
const POOL_SIZE: usize = 64;

/// Pools at most (guests choose addresses); the oldest goes first.
const MAX_POOLS: usize = 16;

/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What runs on a connection before it is lent again: deadpool's "clean"
/// statements, after a ROLLBACK of whatever transaction was left open.
const CLEAN_SESSION: &str = "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
    UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

type PoolKey = (String, Option<String>);

/// Every pool of the app.
pub struct Pools {
    network: Arc<NetworkPolicy>,
    pools: Mutex<Vec<(PoolKey, Pool)>>,
}

impl Pools {
    pub fn new(network: Arc<NetworkPolicy>) -> Self {
        Self {
            network,
            pools: Mutex::new(Vec::new()),
        }
    }

    /// A connection to `address` (already checked, parsed as `config`),
    /// trusting `ca_root` besides the built-in and platform roots.
    pub async fn connection(
        &self,
        address: &str,
        config: Config,
        ca_root: Option<&str>,
    ) -> Result<PooledClient, Error> {
        let key = (address.to_string(), ca_root.map(str::to_string));
        let found = {
            let pools = self.pools.lock().expect("pools lock");
            pools
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, p)| p.clone())
        };
        let pool = match found {
            Some(pool) => pool,
            None => {
                let pool = self.build(config, ca_root).await?;
                let mut pools = self.pools.lock().expect("pools lock");
                if pools.len() >= MAX_POOLS {
                    pools.remove(0);
                }
                pools.push((key, pool.clone()));
                pool
            }
        };
        pool.get()
            .await
            .map_err(|err| Error::ConnectionFailed(error_chain(&err)))
    }

    /// A pool whose connections go to the addresses the hosts resolve to
    /// now, outside the blocked networks (the host names stay for TLS).
    async fn build(&self, mut config: Config, ca_root: Option<&str>) -> Result<Pool, Error> {
        let ports = config.get_ports().to_vec();
        let hosts = config.get_hosts().to_vec();
        for (i, host) in hosts.iter().enumerate() {
            let Host::Tcp(name) = host else {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported".into(),
                ));
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let addrs = self
                .network
                .resolve(name, port)
                .await
                .map_err(|err| Error::ConnectionFailed(err.to_string()))?;
            config.hostaddr(addrs[0].ip());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Custom(CLEAN_SESSION.to_string()),
        };
        let manager = if config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(config, NoTls, recycling)
        } else {
            let tls = tls::server_client_config(ca_root)
                .map_err(|err| Error::Other(format!("invalid root certificate: {err:#}")))?;
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
            Manager::from_config(config, connector, recycling)
        };
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|err| Error::Other(format!("building the connection pool: {err}")))
    }
}
