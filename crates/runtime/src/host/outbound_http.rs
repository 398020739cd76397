//! Outbound HTTP from guests (`wasi:http/outgoing-handler`, `wasi:http/client`).
//!
//! Requests leave only for destinations the component's
//! `allowed_outbound_hosts` admits; anything else resolves to the
//! `HTTP-request-denied` error code, as Spin guests expect. The check sits
//! in wasi-http's send hook, so both WASI HTTP versions share it.

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use spinshim_app::outbound::AllowedHostsConfig;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;

/// One component's outbound HTTP policy; cheap to clone into each instance.
#[derive(Clone)]
pub struct OutboundHttp {
    component_id: Arc<str>,
    allowed: Arc<AllowedHostsConfig>,
}

/// The capability: wasi-http links its own interfaces (see
/// [`super::add_to_linker`]); this one only supplies each instance's policy.
impl Capability for OutboundHttp {
    type AppState = ();
    type ComponentState = OutboundHttp;
    type InstanceState = OutboundHttp;

    fn add_to_linker(_linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        Ok(())
    }

    async fn app_state(_ctx: &AppContext<'_>) -> Result<()> {
        Ok(())
    }

    fn component_state(_app: &Arc<()>, ctx: &ComponentContext<'_>) -> Result<OutboundHttp> {
        let allowed = ctx.variables.allowed_outbound_hosts(ctx.component)?;
        Ok(OutboundHttp::new(&ctx.component.id, allowed))
    }

    fn instance_state(component: &Arc<OutboundHttp>) -> OutboundHttp {
        OutboundHttp::clone(component)
    }
}

impl OutboundHttp {
    /// The policy for `component_id`, allowing what `allowed` admits.
    pub fn new(component_id: &str, allowed: AllowedHostsConfig) -> Self {
        Self {
            component_id: component_id.into(),
            allowed: Arc::new(allowed),
        }
    }

    fn permits(&self, uri: &http::Uri) -> Result<(), Error> {
        let url = url::Url::parse(&uri.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
        if self.allowed.allows(&url) {
            Ok(())
        } else {
            tracing::info!(
                component = %self.component_id,
                "outbound request to {url} denied: not in allowed_outbound_hosts"
            );
            Err(Error::HttpRequestDenied)
        }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let permitted = self.permits(request.uri());
        Box::new(async move {
            permitted?;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(http_body_util::BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
