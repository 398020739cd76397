//! The HTTP trigger: Spin routing in front of per-component executors.
//!
//! Everything that can be decided once is decided in [`HttpTrigger::new`]:
//! the router, each component's executor (chosen from its exports), and
//! the static responses. Per request the trigger only routes, adds the
//! `spin-*` headers and hands the request to the executor.

use std::future::Future;
mod body;
mod client_body;
mod connection;
pub mod handler_kind;
pub mod headers;
mod legacy;
pub mod limits;
mod server;
pub use server::bind;
pub mod wagi;
pub mod wasi_http;
pub mod well_known;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use spinshim_app::http::{HttpExecutor, HttpRoute, HttpTriggerConfig, StaticResponse};
use spinshim_app::routes::{RouteMatch, Router};
use wasmtime_wasi_http::WasiBody;

use crate::host::outbound_http::local::{LocalHttp, LocalTarget};
use crate::prepare::PreparedApp;
use handler_kind::HandlerKind;
use headers::{ClientAddr, RequestFacts, RouteHeaders};
use legacy::{LegacyExecutor, LegacyRequest};
pub use limits::HttpLimits;
use wagi::{WagiExecutor, WagiRequest};
use wasi_http::WasiHttpExecutor;
pub use well_known::AppInfo;

/// The HTTP trigger's settings.
#[derive(Clone, Debug)]
pub struct HttpTriggerOptions {
    /// Where to listen.
    pub listen: SocketAddr,
    /// How long a request may run before it is answered with a 500.
    pub request_timeout: Option<Duration>,
    /// What the listener lets one client hold.
    pub limits: HttpLimits,
}

impl Default for HttpTriggerOptions {
    /// Spin's local default, 127.0.0.1:3000, with no request timeout.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            request_timeout: None,
            limits: HttpLimits::default(),
        }
    }
}

/// The HTTP trigger with its bound listener.
pub struct HttpServer {
    trigger: Arc<HttpTrigger>,
    listener: tokio::net::TcpListener,
}

impl HttpServer {
    /// Builds the trigger and binds its listener; the error names the
    /// address if it is taken.
    pub fn build(app: &PreparedApp, options: &HttpTriggerOptions) -> Result<Self> {
        let listener = bind(options.listen)?;
        let listen = listener.local_addr()?;
        let trigger = Arc::new(HttpTrigger::new(app, options, listen)?);
        Ok(Self { trigger, listener })
    }

    /// The trigger, as the server of self requests and service chaining.
    pub fn local_http(&self) -> Weak<dyn LocalHttp> {
        let trigger: Arc<dyn LocalHttp> = self.trigger.clone();
        Arc::downgrade(&trigger)
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The start-up listing for the bound address.
    pub fn route_listing(&self) -> String {
        match self.local_addr() {
            Ok(addr) => self.trigger.route_listing(addr),
            Err(err) => format!("Serving HTTP (address unknown: {err})\n"),
        }
    }

    /// Serves until `shutdown` resolves, then drains for at most
    /// `drain_timeout`.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()>,
        drain_timeout: Duration,
    ) -> Result<()> {
        self.trigger
            .serve(self.listener, shutdown, drain_timeout)
            .await
    }
}

/// One line of the route table printed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDescription {
    /// The route as written.
    pub route: String,
    /// The component serving it, or `None` for a static response.
    pub component: Option<String>,
}

enum Target {
    Component { id: String, executor: Executor },
    Static(StaticResponse),
}

/// What the router hands back: the target and the route's part of the
/// `spin-*` headers, made once.
struct Route {
    target: Arc<Target>,
    headers: RouteHeaders,
}

enum Executor {
    WasiHttp(WasiHttpExecutor),
    Legacy(LegacyExecutor),
    Wagi(WagiExecutor),
}

/// A ready-to-serve HTTP trigger.
pub struct HttpTrigger {
    router: Router<Route>,
    /// One `/...` router per component, for service chaining (which
    /// reaches private components too).
    chained: HashMap<String, Router<Route>>,
    routes: Vec<RouteDescription>,
    info: AppInfo,
    listen: SocketAddr,
    limits: HttpLimits,
}

impl HttpTrigger {
    /// Builds the router and an executor for every routed component.
    pub fn new(
        app: &PreparedApp,
        options: &HttpTriggerOptions,
        listen: SocketAddr,
    ) -> Result<Self> {
        spinshim_app::http::validate_http_base(app.locked())?;
        let mut routes = Vec::new();
        let mut descriptions = Vec::new();
        let mut chained = HashMap::new();
        for trigger in app.locked().triggers_of_type("http") {
            let config = HttpTriggerConfig::from_trigger(trigger)?;
            let target = match (&config.static_response, &config.component) {
                (Some(response), _) => Target::Static(response.clone()),
                (None, Some(id)) => Target::Component {
                    id: id.clone(),
                    executor: executor_for(app, id, &config.executor(), options)?,
                },
                (None, None) => anyhow::bail!(
                    "trigger \"{}\": needs a component or a static_response",
                    trigger.id
                ),
            };
            let target = Arc::new(target);
            if let Target::Component { id, .. } = target.as_ref() {
                if !chained.contains_key(id) {
                    chained.insert(id.clone(), chaining_router(target.clone())?);
                }
            }
            let HttpRoute::Route(route) = &config.route else {
                continue; // private: reachable only by service chaining
            };
            descriptions.push(RouteDescription {
                route: route.clone(),
                component: config.component.clone(),
            });
            routes.push((route.clone(), target));
        }
        let (router, duplicates) = Router::build(routes).context("building the HTTP router")?;
        for duplicate in duplicates {
            let describe = |index: usize| {
                descriptions[index]
                    .component
                    .as_deref()
                    .unwrap_or("(static response)")
                    .to_string()
            };
            tracing::warn!(
                "route \"{}\" is defined more than once: {} is unreachable, {} serves it",
                duplicate.raw_route,
                describe(duplicate.index),
                describe(duplicate.winner)
            );
        }
        let router = router.map_targets(|pattern, target| Route {
            target,
            headers: RouteHeaders::new(pattern),
        });
        Ok(Self {
            router,
            chained,
            listen,
            limits: options.limits.clone(),
            routes: descriptions,
            info: AppInfo {
                name: app.locked().name().unwrap_or_default().to_string(),
                version: app.locked().version().map(str::to_string),
                oci_image_digest: app.locked().oci_image_digest().map(str::to_string),
            },
        })
    }

    /// The public routes, in manifest order.
    pub fn routes(&self) -> &[RouteDescription] {
        &self.routes
    }

    /// What a server prints at start: where it serves and each route's URL,
    /// in Spin's layout.
    pub fn route_listing(&self, addr: SocketAddr) -> String {
        let mut listing = format!("Serving http://{addr}\nAvailable Routes:\n");
        for route in &self.routes {
            let name = route.component.as_deref().unwrap_or("(static response)");
            let (path, wildcard) = match route.route.strip_suffix("/...") {
                Some(base) => (base, " (wildcard)"),
                None => (route.route.as_str(), ""),
            };
            listing.push_str(&format!("  {name}: http://{addr}{path}{wildcard}\n"));
        }
        listing
    }

    /// Serves on `listener` until `shutdown` resolves, then lets in-flight
    /// requests finish for at most `drain_timeout`.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
        drain_timeout: Duration,
    ) -> Result<()> {
        server::serve(self, listener, shutdown, drain_timeout).await
    }

    /// Answers one request from a client.
    async fn handle(
        &self,
        mut req: Request<WasiBody>,
        client_addr: &ClientAddr,
    ) -> Response<WasiBody> {
        req.headers_mut().remove(http::header::CONNECTION);
        let path = req.uri().path().to_owned();
        if let Some(name) = path.strip_prefix(well_known::PREFIX) {
            return well_known::respond(name, &self.info);
        }
        let Some(matched) = self.router.route(&path) else {
            return body::status_only(StatusCode::NOT_FOUND);
        };
        self.dispatch(req, matched, client_addr).await
    }

    /// Runs the matched route's target.
    async fn dispatch(
        &self,
        req: Request<WasiBody>,
        matched: RouteMatch<'_, Route>,
        client_addr: &ClientAddr,
    ) -> Response<WasiBody> {
        let path = req.uri().path().to_owned();
        let route = matched.target();
        let (component_id, executor) = match route.target.as_ref() {
            Target::Static(response) => return static_response(response),
            Target::Component { id, executor } => (id, executor),
        };
        let Some(host) = request_host(&req) else {
            return body::status_only(StatusCode::BAD_REQUEST);
        };
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| path.clone());
        let facts = RequestFacts {
            scheme: "http",
            host: Some(&host),
            path_and_query: &path_and_query,
            client_addr,
        };
        let result = match executor {
            Executor::WasiHttp(executor) => {
                let set_spin_headers = |headers: &mut http::HeaderMap| {
                    headers::set_spin_headers(headers, &facts, &matched, &route.headers)
                };
                run_wasi_http(executor, req, &host, &path_and_query, set_spin_headers).await
            }
            Executor::Legacy(executor) => {
                let spin_headers = headers::spin_headers(&facts, &matched);
                run_legacy(executor, req, &path_and_query, spin_headers).await
            }
            Executor::Wagi(executor) => {
                let spin_headers = headers::spin_headers(&facts, &matched);
                run_wagi(executor, req, &host, client_addr, spin_headers).await
            }
        };
        result.unwrap_or_else(|err| {
            // One line per failure: `{:#}` keeps the cause chain but not a
            // captured backtrace, which would flood a container log.
            tracing::error!(component = %component_id, "request to {path} failed: {err:#}");
            body::status_only(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    /// A request from one of the app's own guests (see [`LocalHttp`]).
    async fn handle_local(
        &self,
        target: LocalTarget,
        mut req: Request<WasiBody>,
    ) -> Response<WasiBody> {
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        match target {
            LocalTarget::App => {
                // As if it came in on the listener: the app's own address.
                let authority = self.listen.to_string();
                if let Ok(uri) = format!("http://{authority}{path_and_query}").parse() {
                    *req.uri_mut() = uri;
                }
                if let Ok(host) = http::HeaderValue::from_str(&authority) {
                    req.headers_mut().insert(http::header::HOST, host);
                }
                let client = ClientAddr::new(SocketAddr::from(([127, 0, 0, 1], 0)));
                self.handle(req, &client).await
            }
            LocalTarget::Component(id) => {
                let Some(matched) = self
                    .chained
                    .get(&id)
                    .and_then(|r| r.route(req.uri().path()))
                else {
                    return body::status_only(StatusCode::NOT_FOUND);
                };
                let client = ClientAddr::new(SocketAddr::from(([0, 0, 0, 0], 0)));
                self.dispatch(req, matched, &client).await
            }
        }
    }
}

impl LocalHttp for HttpTrigger {
    fn serve_local(
        self: Arc<Self>,
        target: LocalTarget,
        request: Request<WasiBody>,
    ) -> BoxFuture<'static, Result<Response<WasiBody>, wasmtime_wasi_http::Error>> {
        Box::pin(async move { Ok(self.handle_local(target, request).await) })
    }

    fn serves_component(&self, component: &str) -> bool {
        self.chained.contains_key(component)
    }
}

/// The router chaining to one component uses: everything matches `/...`.
fn chaining_router(target: Arc<Target>) -> Result<Router<Route>> {
    let (router, _) = Router::build([("/...".to_string(), target)])
        .context("building a service chaining route")?;
    Ok(router.map_targets(|pattern, target| Route {
        target,
        headers: RouteHeaders::new(pattern),
    }))
}

fn executor_for(
    app: &PreparedApp,
    id: &str,
    executor: &HttpExecutor,
    options: &HttpTriggerOptions,
) -> Result<Executor> {
    let instancer = app
        .component(id)
        .with_context(|| format!("component \"{id}\" was not prepared"))?;
    if let HttpExecutor::Wagi { argv, .. } = executor {
        return Ok(Executor::Wagi(WagiExecutor::new(
            instancer,
            argv.clone(),
            options.request_timeout,
        )?));
    }
    let exports = instancer.export_names();
    let kind = handler_kind::detect(id, exports.iter().map(String::as_str))?;
    Ok(match kind {
        HandlerKind::SpinLegacy => {
            Executor::Legacy(LegacyExecutor::new(instancer, options.request_timeout)?)
        }
        _ => Executor::WasiHttp(wasi_http::executor(
            instancer,
            kind,
            options.request_timeout,
        )?),
    })
}

/// The authority the client addressed: the URI's (HTTP/2) or `Host`.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    if let Some(authority) = req.uri().authority() {
        return Some(authority.to_string());
    }
    req.headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

async fn run_wasi_http(
    executor: &WasiHttpExecutor,
    req: Request<WasiBody>,
    host: &str,
    path_and_query: &str,
    set_spin_headers: impl FnOnce(&mut http::HeaderMap) -> Result<()>,
) -> Result<Response<WasiBody>> {
    let (mut parts, body) = req.into_parts();
    parts.uri = format!("http://{host}{path_and_query}")
        .parse()
        .with_context(|| format!("request URI for host {host:?}"))?;
    set_spin_headers(&mut parts.headers)?;
    Ok(executor
        .handle((), Request::from_parts(parts, body))
        .await?)
}

async fn run_wagi(
    executor: &WagiExecutor,
    req: Request<WasiBody>,
    host: &str,
    client_addr: &ClientAddr,
    spin_headers: Vec<(String, String)>,
) -> Result<Response<WasiBody>> {
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, WagiExecutor::MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return Ok(body::status_only(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Err(err) => return Err(anyhow::anyhow!("reading request body: {err}")),
    };
    let headers = headers::header_pairs(&parts.headers).collect();
    executor
        .execute(WagiRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            protocol: format!("{:?}", parts.version),
            host,
            client_ip: client_addr.ip().to_string(),
            headers,
            spin_headers,
            body,
        })
        .await
}

async fn run_legacy(
    executor: &LegacyExecutor,
    req: Request<WasiBody>,
    path_and_query: &str,
    spin_headers: Vec<(String, String)>,
) -> Result<Response<WasiBody>> {
    let Some(method) = legacy::legacy_method(req.method()) else {
        return Ok(body::status_only(StatusCode::METHOD_NOT_ALLOWED));
    };
    let (parts, body) = req.into_parts();
    let mut headers: Vec<(String, String)> = headers::header_pairs(&parts.headers)
        .filter(|(name, _)| !spin_headers.iter().any(|(n, _)| n == name))
        .collect();
    headers.extend(spin_headers);
    let body = body
        .collect()
        .await
        .context("reading request body")?
        .to_bytes();
    let response = executor
        .execute(LegacyRequest {
            method: Some(method),
            uri: path_and_query.to_string(),
            headers,
            body,
        })
        .await?;
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(body::full(response.body))
        .context("guest returned an invalid response header")
}

fn static_response(response: &StaticResponse) -> Response<WasiBody> {
    let body = response.body.clone().map(Bytes::from).unwrap_or_default();
    let mut builder = Response::builder().status(response.status_code);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(body::full(body)).unwrap_or_else(|err| {
        tracing::error!("static response is invalid: {err}");
        body::status_only(StatusCode::INTERNAL_SERVER_ERROR)
    })
}
