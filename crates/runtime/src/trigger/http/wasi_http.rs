//! The executor for `wasi:http` guests, both 0.2 and 0.3.
//!
//! wasi-http's [`ProxyHandler`] owns the worker tasks; we decide how long an
//! instance lives. Spin guarantees a fresh instance per request for 0.2
//! guests; for 0.3 guests it reuses an instance for a bounded number of
//! (possibly concurrent) requests, and so do we.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, WorkerExpiration, WorkerState,
    WorkerStatus,
};
use wasmtime_wasi_http::WasiHttpView;

use super::handler_kind::HandlerKind;
use crate::store::{ComponentInstancer, InstanceState};

/// How many requests an instance may serve, and for how long it may idle.
#[derive(Clone, Copy, Debug)]
pub struct ReusePolicy {
    /// Requests per instance over its lifetime.
    pub max_requests: usize,
    /// Requests one instance may serve at the same time.
    pub max_concurrent: usize,
    /// How long an idle instance is kept for the next request.
    pub idle_timeout: Duration,
}

impl ReusePolicy {
    /// A fresh instance for every request (`wasi:http@0.2`, as Spin does).
    pub const FRESH: Self = Self {
        max_requests: 1,
        max_concurrent: 1,
        idle_timeout: Duration::ZERO,
    };
    /// Spin's defaults for `wasi:http@0.3` guests.
    pub const P3_DEFAULT: Self = Self {
        max_requests: 128,
        max_concurrent: 16,
        idle_timeout: Duration::from_secs(1),
    };
}

/// Serves one component's requests.
pub type WasiHttpExecutor = ProxyHandler<ComponentHandler>;

/// Builds the executor for a component exporting a wasi:http handler.
pub fn executor(
    instancer: Arc<ComponentInstancer>,
    kind: HandlerKind,
    request_timeout: Option<Duration>,
) -> Result<WasiHttpExecutor> {
    let pre = instancer.pre().clone();
    let (pre, reuse) = match kind {
        HandlerKind::WasiHttpP3 => (
            ProxyPre::P3(
                wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("component \"{}\"", instancer.id()))?,
            ),
            ReusePolicy::P3_DEFAULT,
        ),
        _ => (
            ProxyPre::P2(
                wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("component \"{}\"", instancer.id()))?,
            ),
            ReusePolicy::FRESH,
        ),
    };
    Ok(ProxyHandler::new(ComponentHandler {
        component_id: instancer.id().into(),
        instancer,
        pre,
        reuse,
        request_timeout,
    }))
}

/// The [`HandlerState`] of one component.
///
/// Its [`HandlerState::instantiate`] is exactly what serving a `wasi:http@0.2`
/// request costs beyond running the guest: a fresh [`Store`] from the
/// component's [`ComponentInstancer`] and an instance from its pre-linked
/// `InstancePre` (reach it through [`ProxyHandler::state`]; the
/// `instantiate` benchmark does).
pub struct ComponentHandler {
    instancer: Arc<ComponentInstancer>,
    /// For each instance's error reports, made once.
    component_id: Arc<str>,
    pre: ProxyPre<InstanceState>,
    reuse: ReusePolicy,
    request_timeout: Option<Duration>,
}

impl HandlerState for ComponentHandler {
    type StoreData = InstanceState;
    type WorkerExpiration = Expiration;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, Expiration, Worker>> {
        let mut store = self
            .instancer
            .new_store()
            .map_err(wasmtime::Error::from_anyhow)?;
        let proxy = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance {
            store,
            proxy,
            view: WasiHttpView::http,
            expiration: Expiration {
                idle_timeout: self.reuse.idle_timeout,
                request_timeout: self.request_timeout,
                sleep: None,
            },
            state: Worker {
                component_id: self.component_id.clone(),
                reuse: self.reuse,
                request_timeout: self.request_timeout,
            },
        })
    }
}

/// Decides when an instance is done: idle too long, or a request overran.
pub struct Expiration {
    idle_timeout: Duration,
    request_timeout: Option<Duration>,
    /// The timer and the deadline it is set for; made the first time a
    /// deadline applies, which without a request timeout a fresh-instance
    /// worker never reaches.
    sleep: Option<(Pin<Box<tokio::time::Sleep>>, Instant)>,
}

impl WorkerExpiration for Expiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let limit = match status {
            WorkerStatus::Idle => Some(self.idle_timeout),
            WorkerStatus::Requests | WorkerStatus::PostReturn => self.request_timeout,
        };
        let Some(deadline) = limit.and_then(|limit| start.checked_add(limit)) else {
            return Poll::Pending;
        };
        let (sleep, armed_for) = self.sleep.get_or_insert_with(|| {
            (
                Box::pin(tokio::time::sleep_until(deadline.into())),
                deadline,
            )
        });
        if *armed_for != deadline {
            *armed_for = deadline;
            sleep.as_mut().reset(deadline.into());
        }
        sleep.as_mut().poll(cx)
    }
}

/// Per-instance bookkeeping: admission, deadlines and error reporting.
pub struct Worker {
    component_id: Arc<str>,
    reuse: ReusePolicy,
    request_timeout: Option<Duration>,
}

impl WorkerState for Worker {
    type StoreData = InstanceState;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.reuse.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.reuse.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, InstanceState>,
        _data: (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        match self.request_timeout {
            Some(timeout) => {
                store.data_mut().deadline = Some(Instant::now() + timeout);
                Box::pin(tokio::time::sleep(timeout))
            }
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        if let Err(err) = result {
            tracing::error!(component = %self.component_id, "instance failed: {err:#}");
        }
        drop(store);
    }
}
