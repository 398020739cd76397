//! The app's MySQL connections: a mysql_async pool per address, made on
//! first use.
//!
//! A connection goes back to its pool when the guest's handle is dropped;
//! the pool resets it there (`COM_RESET_CONNECTION`: an open transaction
//! rolled back, session variables, temporary tables, locks and prepared
//! statements gone), so nothing one request did reaches another.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, PoolConstraints, PoolOpts, SslOpts};

use super::v3::Error;
use crate::host::outbound_networking::{redact_password, NetworkPolicy};

/// Connections per pool at most.
const POOL_SIZE: usize = 64;

/// Pools at most (guests choose addresses); the oldest goes first.
const MAX_POOLS: usize = 16;

/// How long making a connection (TCP, TLS, authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every pool of the app.
pub struct Pools {
    network: Arc<NetworkPolicy>,
    pools: Mutex<Vec<(String, mysql_async::Pool)>>,
}

impl Pools {
    pub fn new(network: Arc<NetworkPolicy>) -> Self {
        Self {
            network,
            pools: Mutex::new(Vec::new()),
        }
    }

    /// A connection to `address` (already checked).
    pub async fn connection(&self, address: &str) -> Result<mysql_async::Conn, Error> {
        let pool = match self.find(address) {
            Some(pool) => pool,
            None => {
                let opts = self.options(address).await?;
                self.insert(address, mysql_async::Pool::new(opts))
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(Error::ConnectionFailed(err.to_string())),
            Err(_) => Err(Error::ConnectionFailed(format!(
                "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                redact_password(address)
            ))),
        }
    }

    fn find(&self, address: &str) -> Option<mysql_async::Pool> {
        let pools = self.pools.lock().expect("pools lock");
        pools
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, p)| p.clone())
    }

    /// Keeps `pool` for `address`, unless a concurrent first use kept one
    /// already: that one is used and `pool`, which never connected, goes.
    fn insert(&self, address: &str, pool: mysql_async::Pool) -> mysql_async::Pool {
        let mut pools = self.pools.lock().expect("pools lock");
        if let Some((_, kept)) = pools.iter().find(|(a, _)| a == address) {
            return kept.clone();
        }
        if pools.len() >= MAX_POOLS {
            let (_, oldest) = pools.remove(0);
            tokio::spawn(oldest.disconnect());
        }
        pools.push((address.to_string(), pool.clone()));
        pool
    }

    /// The pool's options: `address` as mysql_async reads it, TLS as its
    /// `ssl-mode` asks, and the host resolved now, outside the blocked
    /// networks (its name stays for TLS).
    async fn options(&self, address: &str) -> Result<Opts, Error> {
        let (address, tls) = take_ssl_mode(address)?;
        let opts = Opts::from_url(&address).map_err(|err| {
            Error::ConnectionFailed(format!(
                "invalid address {}: {err}",
                redact_password(&address)
            ))
        })?;
        if opts.socket().is_some() {
            return Err(Error::ConnectionFailed(
                "Unix sockets are not supported".into(),
            ));
        }
        let ips = self
            .network
            .resolve(opts.ip_or_hostname(), opts.tcp_port())
            .await
            .map_err(|err| Error::ConnectionFailed(err.to_string()))?
            .into_iter()
            .map(|addr| addr.ip())
            .collect::<Vec<_>>();
        let pool = PoolOpts::new().with_constraints(
            PoolConstraints::new(0, POOL_SIZE).expect("0 to POOL_SIZE is a valid range"),
        );
        Ok(OptsBuilder::from_opts(opts)
            .resolved_ips(Some(ips))
            .prefer_socket(false)
            .ssl_opts(tls.then(SslOpts::default))
            .pool_opts(pool)
            .into())
    }
}

/// `address` without its `ssl-mode` (or `sslmode`) parameter, which
/// mysql_async does not read, and whether it asks for TLS: any mode but
/// `DISABLED` does, always verifying the server's certificate and name.
fn take_ssl_mode(address: &str) -> Result<(String, bool), Error> {
    // The address is left out: unparsed, its password cannot be hidden.
    let mut url = url::Url::parse(address)
        .map_err(|err| Error::ConnectionFailed(format!("invalid address: {err}")))?;
    let is_ssl_mode =
        |key: &str| key.eq_ignore_ascii_case("ssl-mode") || key.eq_ignore_ascii_case("sslmode");
    let mut tls = false;
    let mut kept = Vec::new();
    for (key, value) in url.query_pairs() {
        if is_ssl_mode(&key) {
            tls = !value.eq_ignore_ascii_case("disabled");
        } else {
            kept.push((key.into_owned(), value.into_owned()));
        }
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((url.into(), tls))
}

#[cfg(test)]
mod tests {
    use super::take_ssl_mode;

    #[test]
    fn ssl_mode_is_taken_out_of_the_address() {
        let (address, tls) = take_ssl_mode("mysql://u:p@db:3306/app?SSL-MODE=required&pool_max=5")
            .expect("valid address");
        assert_eq!(address, "mysql://u:p@db:3306/app?pool_max=5");
        assert!(tls);
        let (address, tls) =
            take_ssl_mode("mysql://u:p@db/app?sslmode=DISABLED").expect("valid address");
        assert_eq!(address, "mysql://u:p@db/app");
        assert!(!tls);
        assert!(!take_ssl_mode("mysql://db/app").expect("valid address").1);
    }

    #[test]
    fn an_unparsable_address_names_itself_without_its_password() {
        let err = take_ssl_mode("mysql://user:secret@[bad/app").unwrap_err();
        assert!(!format!("{err:?}").contains("secret"), "{err:?}");
    }
}
