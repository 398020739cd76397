//! `fermyon:spin/redis@2.0.0`: what spin-sdk 2 to 5 guests import.

use wasmtime::component::{Linker, Resource};

use super::{commands, Connection, InstanceRedis, OutboundRedis};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-v2",
        world: "redis-host",
        imports: { default: async | trappable },
        with: { "fermyon:spin/redis.connection": crate::host::outbound_redis::Connection },
    });
}

use bindings::fermyon::spin::redis::{self, Error, RedisParameter, RedisResult};

version_conversions!(error);

type Answer<T> = wasmtime::Result<Result<T, Error>>;

/// Runs `$op` on the handle's session and maps its error.
macro_rules! on_session {
    ($self:ident, $handle:ident, |$session:ident| $op:expr) => {{
        let $session = $self.session(&$handle)?;
        Ok($op.await.map_err(Error::from))
    }};
}

impl redis::Host for InstanceRedis {}

impl redis::HostConnection for InstanceRedis {
    async fn open(&mut self, address: String) -> Answer<Resource<Connection>> {
        let opened = self.component.open(&address).await;
        Ok(opened.and_then(|c| self.push(c)).map_err(Error::from))
    }

    async fn publish(
        &mut self,
        handle: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Answer<()> {
        on_session!(self, handle, |s| commands::publish(&s, &channel, &payload))
    }

    async fn get(&mut self, handle: Resource<Connection>, key: String) -> Answer<Option<Vec<u8>>> {
        on_session!(self, handle, |s| commands::get(&s, &key))
    }

    async fn set(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        on_session!(self, handle, |s| commands::set(&s, &key, &value))
    }

    async fn incr(&mut self, handle: Resource<Connection>, key: String) -> Answer<i64> {
        on_session!(self, handle, |s| commands::incr(&s, &key))
    }

    async fn del(&mut self, handle: Resource<Connection>, keys: Vec<String>) -> Answer<u32> {
        on_session!(self, handle, |s| commands::del(&s, &keys))
    }

    async fn sadd(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        on_session!(self, handle, |s| commands::sadd(&s, &key, &values))
    }

    async fn smembers(&mut self, handle: Resource<Connection>, key: String) -> Answer<Vec<String>> {
        on_session!(self, handle, |s| commands::smembers(&s, &key))
    }

    async fn srem(
        &mut self,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        on_session!(self, handle, |s| commands::srem(&s, &key, &values))
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Answer<Vec<RedisResult>> {
        let mut session = self.session(&handle)?;
        let arguments = arguments.into_iter().map(Into::into).collect();
        Ok(match session.execute(&command, arguments).await {
            Ok((values, adopted)) => {
                if let Some(own) = adopted {
                    self.adopt(&handle, own);
                }
                Ok(values.into_iter().map(Into::into).collect())
            }
            Err(err) => Err(err.into()),
        })
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceRedis,
) -> anyhow::Result<()> {
    redis::add_to_linker::<InstanceState, OutboundRedis>(linker, get)?;
    Ok(())
}
