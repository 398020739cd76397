//! `fermyon:spin/redis` (Spin 1.x guests): every call names its address,
//! which is checked each time; any failure is the one value `error`.

use wasmtime::component::Linker;

use super::{commands, InstanceRedis, OutboundRedis};
use crate::host::outbound_networking::redact_password;
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-redis-host",
        imports: { default: async | trappable },
    });
}

use bindings::fermyon::spin::redis;
use bindings::fermyon::spin::redis_types::{self, Error, RedisParameter, RedisResult};

version_conversions!();

type Answer<T> = wasmtime::Result<Result<T, Error>>;

/// Checks `$address`, runs `$op` on a session for it (the permits held
/// until it ends) and logs why a call failed, since the guest only sees
/// `error`.
macro_rules! legacy_call {
    ($self:ident, $address:ident, |$session:ident| $body:expr) => {{
        let failed = |err: super::ClientError| {
            tracing::info!(
                "Redis call to {} failed: {err:?}",
                redact_password(&$address)
            );
            Error::Error
        };
        Ok(match $self.component.admit(&$address).await {
            Ok((mut session, _permits)) => {
                let $session = &mut session;
                let result: Result<_, super::ClientError> = async { $body }.await;
                result.map_err(failed)
            }
            Err(err) => Err(failed(err)),
        })
    }};
}

impl redis_types::Host for InstanceRedis {}

impl redis::Host for InstanceRedis {
    async fn publish(&mut self, address: String, channel: String, payload: Vec<u8>) -> Answer<()> {
        legacy_call!(self, address, |s| commands::publish(s, &channel, &payload)
            .await)
    }

    async fn get(&mut self, address: String, key: String) -> Answer<Vec<u8>> {
        legacy_call!(self, address, |s| Ok(commands::get(s, &key)
            .await?
            .unwrap_or_default()))
    }

    async fn set(&mut self, address: String, key: String, value: Vec<u8>) -> Answer<()> {
        legacy_call!(self, address, |s| commands::set(s, &key, &value).await)
    }

    async fn incr(&mut self, address: String, key: String) -> Answer<i64> {
        legacy_call!(self, address, |s| commands::incr(s, &key).await)
    }

    async fn del(&mut self, address: String, keys: Vec<String>) -> Answer<i64> {
        legacy_call!(self, address, |s| Ok(i64::from(
            commands::del(s, &keys).await?
        )))
    }

    async fn sadd(&mut self, address: String, key: String, values: Vec<String>) -> Answer<i64> {
        legacy_call!(self, address, |s| Ok(i64::from(
            commands::sadd(s, &key, &values).await?
        )))
    }

    async fn smembers(&mut self, address: String, key: String) -> Answer<Vec<String>> {
        legacy_call!(self, address, |s| commands::smembers(s, &key).await)
    }

    async fn srem(&mut self, address: String, key: String, values: Vec<String>) -> Answer<i64> {
        legacy_call!(self, address, |s| Ok(i64::from(
            commands::srem(s, &key, &values).await?
        )))
    }

    async fn execute(
        &mut self,
        address: String,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Answer<Vec<RedisResult>> {
        let arguments: Vec<_> = arguments.into_iter().map(Into::into).collect();
        legacy_call!(self, address, |s| {
            let (values, _own) = s.execute(&command, arguments).await?;
            Ok(values.into_iter().map(Into::into).collect())
        })
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceRedis,
) -> anyhow::Result<()> {
    redis_types::add_to_linker::<InstanceState, OutboundRedis>(linker, get)?;
    redis::add_to_linker::<InstanceState, OutboundRedis>(linker, get)?;
    Ok(())
}
