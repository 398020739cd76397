//! The executor for Spin 1.x guests exporting `fermyon:spin/inbound-http`.
//!
//! These guests take the whole request as one value and return the whole
//! response, so the body is buffered both ways. Each request gets a fresh
//! instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;

use crate::store::{ComponentInstancer, InstanceState};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-http-guest",
        exports: { default: async },
    });
}

use bindings::fermyon::spin::http_types::{Method, Request};
use bindings::LegacyHttpGuestPre;

/// A request as the legacy guest sees it, before it is sent.
pub struct LegacyRequest {
    /// The method; `None` when the guest ABI cannot express it.
    pub method: Option<Method>,
    /// Path and query only.
    pub uri: String,
    /// Client headers followed by the `spin-*` headers.
    pub headers: Vec<(String, String)>,
    /// The buffered body.
    pub body: Bytes,
}

/// The guest's answer.
pub struct LegacyResponse {
    /// HTTP status (validated to be in 100..=600).
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Bytes,
}

/// Maps an HTTP method onto the seven the legacy ABI knows.
pub fn legacy_method(method: &http::Method) -> Option<Method> {
    Some(match *method {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::PATCH => Method::Patch,
        http::Method::HEAD => Method::Head,
        http::Method::OPTIONS => Method::Options,
        _ => return None,
    })
}

/// Runs `fermyon:spin/inbound-http` guests of one component.
pub struct LegacyExecutor {
    instancer: Arc<ComponentInstancer>,
    pre: LegacyHttpGuestPre<InstanceState>,
    request_timeout: Option<Duration>,
}

impl LegacyExecutor {
    /// Prepares the executor for a component exporting the legacy handler.
    pub fn new(
        instancer: Arc<ComponentInstancer>,
        request_timeout: Option<Duration>,
    ) -> Result<Self> {
        let pre = LegacyHttpGuestPre::new(instancer.pre().clone())
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component \"{}\"", instancer.id()))?;
        Ok(Self {
            instancer,
            pre,
            request_timeout,
        })
    }

    /// Handles one request in a fresh instance.
    pub async fn execute(&self, request: LegacyRequest) -> Result<LegacyResponse> {
        let Some(method) = request.method else {
            bail!("method not supported by fermyon:spin/inbound-http");
        };
        let call = self.call(Request {
            method,
            uri: request.uri,
            headers: request.headers,
            params: Vec::new(),
            body: (!request.body.is_empty()).then(|| request.body.to_vec()),
        });
        match self.request_timeout {
            Some(timeout) => tokio::time::timeout(timeout, call)
                .await
                .context("request timed out")?,
            None => call.await,
        }
    }

    async fn call(&self, request: Request) -> Result<LegacyResponse> {
        let mut store = self.instancer.new_store()?;
        if let Some(timeout) = self.request_timeout {
            store.data_mut().deadline = Some(Instant::now() + timeout);
        }
        let guest = self.pre.instantiate_async(&mut store).await?;
        let response = guest
            .fermyon_spin_inbound_http()
            .call_handle_request(&mut store, &request)
            .await?;
        if !(100..=600).contains(&response.status) {
            bail!("guest returned invalid status {}", response.status);
        }
        Ok(LegacyResponse {
            status: response.status,
            headers: response.headers.unwrap_or_default(),
            body: response.body.map(Bytes::from).unwrap_or_default(),
        })
    }
}
