//! Outbound HTTP from guests, for every ABI: `wasi:http/outgoing-handler`
//! (0.2) and `wasi:http/client` (0.3) through wasi-http's send hook, and
//! Spin 1.x's `fermyon:spin/http` ([`legacy`]).
//!
//! Every request goes through [`OutboundHttp::send`]:
//! - a relative URL (no authority) or host `self.alt` is a self request,
//!   allowed by an entry with host `self`, `self.alt` or `*`, and served by
//!   this app's router in process;
//! - `http://<component>.spin.internal` is service chaining, allowed by
//!   that URL (or `http://*.spin.internal`), and served by the component in
//!   process;
//! - anything else must match `allowed_outbound_hosts` and leaves through
//!   the pooled [`client`].
//!
//! A refusal is `HTTP-request-denied` (wasi:http) or
//! `destination-not-allowed` (legacy); the host only logs it.

pub mod client;
mod legacy;
pub mod local;
pub(crate) mod relative_urls;

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use http::{Request, Response};
use serde::Deserialize;
use spinshim_app::outbound::AllowedHostsConfig;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::{AppContext, Capability, ComponentContext, HasCapability};
use crate::store::InstanceState;
use client::{ClientSettings, HttpClients, Timeouts};
use local::{LocalSlot, LocalTarget};

/// The runtime-config key.
const SECTION: &str = "outbound_http";

/// The host part that marks service chaining.
const CHAINING_SUFFIX: &str = ".spin.internal";

/// `[outbound_http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundHttpSection {
    connection_pooling: Option<bool>,
    max_connections: Option<usize>,
    /// Deprecated in Spin: N concurrent requests = N + 1 connections.
    max_concurrent_requests: Option<usize>,
}

impl OutboundHttpSection {
    /// Spin's rules: without the section pooling is on; the section
    /// without `connection_pooling` turns it off.
    fn settings(section: Option<Self>, label: &str) -> Result<ClientSettings> {
        let field = format!("{label}: [{SECTION}] max_connections");
        let Some(section) = section else {
            return Ok(ClientSettings {
                pooling: true,
                max_connections: None,
            });
        };
        let max_connections = match (section.max_connections, section.max_concurrent_requests) {
            (Some(_), Some(_)) => anyhow::bail!(
                "{label}: [{SECTION}]: max_connections and max_concurrent_requests exclude each other"
            ),
            (Some(max), None) => Some(max),
            (None, Some(requests)) => Some(requests + 1),
            (None, None) => None,
        };
        // Checked here so that a bad value stops start-up naming the field.
        crate::host::outbound_networking::connection_cap(max_connections, &field)?;
        Ok(ClientSettings {
            pooling: section.connection_pooling.unwrap_or(false),
            max_connections,
        })
    }
}

/// The app's outbound HTTP: the clients and the in-process server slot.
pub struct OutboundHttpApp {
    clients: HttpClients,
    local: LocalSlot,
}

impl OutboundHttpApp {
    /// Where self requests and chaining are served from now on.
    pub fn local(&self) -> &LocalSlot {
        &self.local
    }
}

/// One component's outbound HTTP; cheap to clone into each instance.
#[derive(Clone)]
pub struct OutboundHttp {
    component_id: Arc<str>,
    allowed: Arc<AllowedHostsConfig>,
    app: Arc<OutboundHttpApp>,
}

/// The capability: wasi-http links its own interfaces (see
/// [`super::add_to_linker`]); this one adds the legacy interface and
/// supplies each instance's send hook.
impl Capability for OutboundHttp {
    const RUNTIME_CONFIG_KEYS: &'static [&'static str] = &[SECTION];
    type AppState = OutboundHttpApp;
    type ComponentState = OutboundHttp;
    type InstanceState = OutboundHttp;

    fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
    where
        InstanceState: HasCapability<Self>,
    {
        relative_urls::add_to_linker(linker)?;
        legacy::add_to_linker(linker)
    }

    async fn app_state(ctx: &AppContext<'_>) -> Result<OutboundHttpApp> {
        let section = ctx.runtime_config.section(SECTION)?;
        let settings = OutboundHttpSection::settings(section, &ctx.runtime_config.label)?;
        Ok(OutboundHttpApp {
            clients: HttpClients::new(ctx.network.clone(), &settings),
            local: LocalSlot::default(),
        })
    }

    fn component_state(
        app: &Arc<OutboundHttpApp>,
        ctx: &ComponentContext<'_>,
    ) -> Result<OutboundHttp> {
        Ok(OutboundHttp {
            component_id: ctx.component.id.as_str().into(),
            allowed: Arc::clone(ctx.allowed_hosts),
            app: app.clone(),
        })
    }

    fn instance_state(component: &Arc<OutboundHttp>) -> OutboundHttp {
        OutboundHttp::clone(component)
    }
}

/// Where a request goes once it is allowed.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    Local(LocalTarget),
    Network,
}

impl OutboundHttp {
    /// Sends one request from this component (see the module documentation).
    pub async fn send(
        &self,
        request: Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<Response<WasiBody>, Error> {
        match self.destination(request.uri())? {
            Destination::Network => {
                self.app
                    .clients
                    .send(&self.component_id, request, timeouts)
                    .await
            }
            Destination::Local(target) => {
                let server = self
                    .app
                    .local
                    .server()
                    .ok_or(Error::DestinationUnavailable)?;
                if let LocalTarget::Component(id) = &target {
                    if !server.serves_component(id) {
                        tracing::info!(
                            component = %self.component_id,
                            "request to {id}{CHAINING_SUFFIX} failed: no such component runs in this app"
                        );
                        return Err(Error::DestinationNotFound);
                    }
                }
                tokio::time::timeout(timeouts.first_byte, server.serve_local(target, request))
                    .await
                    .map_err(|_| Error::ConnectionReadTimeout)?
            }
        }
    }

    /// Checks permission and picks the destination.
    fn destination(&self, uri: &http::Uri) -> Result<Destination, Error> {
        let host = uri.host().unwrap_or_default();
        if host.is_empty() || host == relative_urls::SELF_AUTHORITY {
            if self.allowed.allows_relative() {
                return Ok(Destination::Local(LocalTarget::App));
            }
            return Err(self.denied(&uri.to_string(), "self requests need \"http://self\""));
        }
        let url = url::Url::parse(&uri.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
        if !self.allowed.allows(&url) {
            return Err(self.denied(url.as_str(), "not in allowed_outbound_hosts"));
        }
        match host.to_ascii_lowercase().strip_suffix(CHAINING_SUFFIX) {
            Some(id) if !id.is_empty() && !id.contains('.') => {
                Ok(Destination::Local(LocalTarget::Component(id.to_string())))
            }
            _ => Ok(Destination::Network),
        }
    }

    fn denied(&self, url: &str, why: &str) -> Error {
        tracing::info!(component = %self.component_id, "outbound request to {url} denied: {why}");
        Error::HttpRequestDenied
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                Response<WasiBody>,
                Box<dyn Future<Output = Result<(), Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    /// The client derives `Host` from the URI for HTTP/1.1 (and HTTP/2 uses
    /// `:authority`); a copy from wasi-http would be sent twice under h2.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let this = self.clone();
        Box::new(async move {
            let response = this.send(request, Timeouts::from_options(options)).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(entries: &[&str]) -> OutboundHttp {
        let network = Arc::new(
            crate::host::outbound_networking::NetworkPolicy::from_runtime_config(
                &Default::default(),
            )
            .unwrap(),
        );
        let settings = OutboundHttpSection::settings(None, "rc").unwrap();
        OutboundHttp {
            component_id: "c".into(),
            allowed: Arc::new(AllowedHostsConfig::parse(entries).unwrap()),
            app: Arc::new(OutboundHttpApp {
                clients: HttpClients::new(network, &settings),
                local: LocalSlot::default(),
            }),
        }
    }

    fn destination(entries: &[&str], uri: &str) -> Result<Destination, String> {
        let uri: http::Uri = uri.parse().unwrap();
        component(entries)
            .destination(&uri)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn self_requests_need_a_self_or_star_entry() {
        let local = Ok(Destination::Local(LocalTarget::App));
        assert_eq!(destination(&["http://self"], "/x"), local);
        assert_eq!(destination(&["http://self"], "http://self.alt/x"), local);
        assert_eq!(destination(&["*://*:*"], "/x"), local);
        assert_eq!(
            destination(&["https://example.com"], "/x"),
            Err("HttpRequestDenied".into())
        );
    }

    #[test]
    fn chaining_needs_the_component_url_or_the_wildcard() {
        let chained = Ok(Destination::Local(LocalTarget::Component("back".into())));
        assert_eq!(
            destination(
                &["http://back.spin.internal"],
                "http://back.spin.internal/p"
            ),
            chained
        );
        assert_eq!(
            destination(&["http://*.spin.internal"], "http://back.spin.internal/p"),
            chained
        );
        assert_eq!(
            destination(
                &["http://front.spin.internal"],
                "http://back.spin.internal/p"
            ),
            Err("HttpRequestDenied".into())
        );
    }

    #[test]
    fn other_hosts_go_to_the_network_only_when_allowed() {
        assert_eq!(
            destination(&["https://example.com"], "https://example.com/"),
            Ok(Destination::Network)
        );
        assert_eq!(
            destination(&["https://example.com"], "http://example.com/"),
            Err("HttpRequestDenied".into())
        );
    }

    #[test]
    fn outbound_http_section_follows_spins_pooling_rules() {
        let section = |text: &str| -> Result<ClientSettings> {
            let rc = spinshim_app::RuntimeConfig::from_toml_str(text, "rc").unwrap();
            OutboundHttpSection::settings(rc.section(SECTION).unwrap(), "rc")
        };
        assert!(OutboundHttpSection::settings(None, "rc").unwrap().pooling);
        assert!(
            !section("[outbound_http]\nmax_connections = 3\n")
                .unwrap()
                .pooling
        );
        assert!(
            section("[outbound_http]\nconnection_pooling = true\n")
                .unwrap()
                .pooling
        );
        assert_eq!(
            section("[outbound_http]\nmax_concurrent_requests = 3\n")
                .unwrap()
                .max_connections,
            Some(4)
        );
        assert!(
            section("[outbound_http]\nmax_connections = 1\nmax_concurrent_requests = 3\n").is_err()
        );
    }
}
