//! `spin:redis@3.0.0`: the async interface of WASIp3 guests (spin-sdk 7).
//! Calls take the session out of the store and run without holding it, so
//! a guest's concurrent calls proceed together.

use std::sync::Arc;

use wasmtime::component::{Accessor, Linker, Resource};

use super::{commands, ComponentRedis, Connection, InstanceRedis, OutboundRedis, Session};
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-redis-v3",
        world: "redis-host",
        imports: { default: trappable },
        with: { "spin:redis/redis.connection": crate::host::outbound_redis::Connection },
    });
}

use bindings::spin::redis::redis::{self, Error, RedisParameter, RedisResult};

version_conversions!(error);

type Answer<T> = wasmtime::Result<Result<T, Error>>;

fn session_of<T>(
    accessor: &Accessor<T, OutboundRedis>,
    handle: &Resource<Connection>,
) -> wasmtime::Result<Session> {
    accessor.with(|mut view| view.get().session(handle))
}

fn component_of<T>(accessor: &Accessor<T, OutboundRedis>) -> Arc<ComponentRedis> {
    accessor.with(|mut view| Arc::clone(&view.get().component))
}

impl redis::Host for InstanceRedis {}

impl redis::HostConnection for InstanceRedis {
    fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.close(handle)
    }
}

/// Runs `$op` on the handle's session and maps its error.
macro_rules! on_session {
    ($accessor:ident, $handle:ident, |$session:ident| $op:expr) => {{
        let $session = session_of($accessor, &$handle)?;
        Ok($op.await.map_err(Error::from))
    }};
}

impl<T> redis::HostConnectionWithStore<T> for OutboundRedis {
    async fn open(accessor: &Accessor<T, Self>, address: String) -> Answer<Resource<Connection>> {
        let opened = component_of(accessor).open(&address).await;
        Ok(opened
            .and_then(|c| accessor.with(|mut view| view.get().push(c)))
            .map_err(Error::from))
    }

    async fn publish(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Answer<()> {
        on_session!(accessor, handle, |s| commands::publish(
            &s, &channel, &payload
        ))
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
    ) -> Answer<Option<Vec<u8>>> {
        on_session!(accessor, handle, |s| commands::get(&s, &key))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        on_session!(accessor, handle, |s| commands::set(&s, &key, &value))
    }

    async fn incr(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
    ) -> Answer<i64> {
        on_session!(accessor, handle, |s| commands::incr(&s, &key))
    }

    async fn del(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        keys: Vec<String>,
    ) -> Answer<u32> {
        on_session!(accessor, handle, |s| commands::del(&s, &keys))
    }

    async fn sadd(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        on_session!(accessor, handle, |s| commands::sadd(&s, &key, &values))
    }

    async fn smembers(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
    ) -> Answer<Vec<String>> {
        on_session!(accessor, handle, |s| commands::smembers(&s, &key))
    }

    async fn srem(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        on_session!(accessor, handle, |s| commands::srem(&s, &key, &values))
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Answer<Vec<RedisResult>> {
        let mut session = session_of(accessor, &handle)?;
        let arguments = arguments.into_iter().map(Into::into).collect();
        Ok(match session.execute(&command, arguments).await {
            Ok((values, adopted)) => {
                if let Some(own) = adopted {
                    accessor.with(|mut view| view.get().adopt(&handle, own));
                }
                Ok(values.into_iter().map(Into::into).collect())
            }
            Err(err) => Err(err.into()),
        })
    }
}

pub(super) fn add_to_linker(
    linker: &mut Linker<InstanceState>,
    get: fn(&mut InstanceState) -> &mut InstanceRedis,
) -> anyhow::Result<()> {
    redis::add_to_linker::<InstanceState, OutboundRedis>(linker, get)?;
    Ok(())
}
