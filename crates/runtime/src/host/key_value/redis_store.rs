//! The `redis` key-value store: keys as they are, in one Redis database.
//!
//! As in Spin, keys carry no prefix, so every label pointed at the same
//! database shares one keyspace. All instances share one multiplexed
//! connection that reconnects by itself; a command during an outage fails
//! with the connection error, and the next one after it succeeds.

use std::time::Duration;

use anyhow::{Context as _, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::store::{unique_in_order, Swap};

/// How long connecting, and each command, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Writes the new value only if the old one is unchanged; 1 when written.
const SWAP_IF_UNCHANGED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// A Redis-backed store.
pub struct RedisStore {
    url: String,
    connection: ConnectionManager,
}

impl RedisStore {
    /// Connects to `url`; a server that is down fails start-up.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url)
            .with_context(|| format!("invalid Redis URL {}", redact(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .with_context(|| format!("connecting to Redis at {}", redact(url)))?;
        Ok(Self {
            url: redact(url),
            connection,
        })
    }

    /// The server, without credentials.
    pub fn location(&self) -> String {
        format!("Redis at {}", self.url)
    }

    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T> {
        let mut connection = self.connection.clone();
        Ok(command.query_async(&mut connection).await?)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run(redis::cmd("GET").arg(key)).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.run(redis::cmd("EXISTS").arg(key)).await
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.run(redis::cmd("SET").arg(key).arg(value)).await
    }

    pub async fn keys(&self) -> Result<Vec<String>> {
        self.run(redis::cmd("KEYS").arg("*")).await
    }

    pub async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Vec<u8>)>> {
        let keys = unique_in_order(keys);
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self.run(redis::cmd("MGET").arg(&keys)).await?;
        Ok(keys
            .into_iter()
            .zip(values)
            .filter_map(|(key, value)| Some((key, value?)))
            .collect())
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.run(redis::cmd("MSET").arg(pairs)).await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.run::<()>(redis::cmd("DEL").arg(keys)).await
    }

    /// Redis keeps counters as decimal text (`INCRBY`), as in Spin.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        self.run(redis::cmd("INCRBY").arg(key).arg(delta)).await
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        seen: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<Swap> {
        let written: bool = match seen {
            Some(old) => {
                let mut connection = self.connection.clone();
                redis::Script::new(SWAP_IF_UNCHANGED)
                    .key(key)
                    .arg(old)
                    .arg(new)
                    .invoke_async(&mut connection)
                    .await?
            }
            None => {
                let reply: Option<String> = self
                    .run(redis::cmd("SET").arg(key).arg(new).arg("NX"))
                    .await?;
                reply.is_some()
            }
        };
        Ok(if written { Swap::Done } else { Swap::Conflict })
    }
}

/// `url` with any password replaced, for messages and logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
