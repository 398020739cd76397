//! The one HTTP client under every guest ABI: hyper-util's pooled client
//! over rustls (HTTP/1.1, and HTTP/2 where ALPN picks it), with DNS
//! resolution, the blocked-network check and the connection caps in its
//! connector, and wasi:http's connect / first-byte / between-bytes
//! timeouts.
//!
//! The connection caps (`[outbound_http] max_connections`,
//! `[outbound_networking] max_total_connections`) count requests in flight:
//! a permit is taken before sending and held until the response body ends
//! or is dropped. (Held by the connection instead, an idle pooled
//! connection would keep its permit and starve the next request.)
//!
//! Pooled connections are kept per TLS configuration, so a connection made
//! with one component's client certificate never serves another's request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, Uri};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::host::outbound_networking::{NetworkPolicy, ResolveError};

/// wasi:http's timeouts when the guest sets none (wasmtime's defaults).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The three wasi:http timeouts of one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting (DNS, TCP and waiting for a connection permit).
    pub connect: Duration,
    /// From sending until the response head arrives (TLS included).
    pub first_byte: Duration,
    /// Between two frames of the response body.
    pub between_bytes: Duration,
}

impl Timeouts {
    /// The guest's options, with defaults for what it left unset.
    pub fn from_options(options: Option<RequestOptions>) -> Self {
        let options = options.unwrap_or_default();
        Self {
            connect: options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

/// What the connector of the request being sent needs and tells.
/// hyper-util's connector sees only a URI, so this reaches it as a
/// task-local.
#[derive(Clone)]
struct ConnectScope {
    timeout: Duration,
    /// Whether a new connection is being made (the first-byte timeout
    /// waits while it is, and restarts when it is made).
    connecting: Arc<tokio::sync::watch::Sender<Connecting>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connecting {
    NotYet,
    Started,
    Done,
}

tokio::task_local! {
    static CONNECT: ConnectScope;
}

/// `[outbound_http]` settings.
#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Keep idle connections for reuse.
    pub pooling: bool,
    /// Cap on outbound HTTP requests in flight at once.
    pub max_connections: Option<usize>,
}

type PooledClient = Client<HttpsConnector<TcpConnector>, WasiBody>;

/// The app's HTTP clients, one pool per TLS configuration.
pub struct HttpClients {
    network: Arc<NetworkPolicy>,
    pooling: bool,
    http_connections: Option<Arc<Semaphore>>,
    clients: Mutex<HashMap<usize, PooledClient>>,
}

impl HttpClients {
    /// Clients under `network`'s rules.
    pub fn new(network: Arc<NetworkPolicy>, settings: &ClientSettings) -> Self {
        Self {
            network,
            pooling: settings.pooling,
            http_connections: settings
                .max_connections
                .filter(|max| *max > 0 && *max <= Semaphore::MAX_PERMITS)
                .map(|max| Arc::new(Semaphore::new(max))),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` (an absolute URI) for `component`.
    pub async fn send(
        &self,
        component: &str,
        request: Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<Response<WasiBody>, Error> {
        let client = self.client_for(component, request.uri())?;
        let permits = tokio::time::timeout(timeouts.connect, self.permits())
            .await
            .map_err(|_| Error::ConnectionLimitReached)?;
        let (connecting, mut progress) = tokio::sync::watch::channel(Connecting::NotYet);
        let scope = ConnectScope {
            timeout: timeouts.connect,
            connecting: Arc::new(connecting),
        };
        let sent = CONNECT.scope(scope, client.request(request));
        let response = match first_byte_within(sent, &mut progress, timeouts.first_byte).await {
            None => return Err(Error::ConnectionReadTimeout),
            Some(Err(err)) => return Err(error_code(&err)),
            Some(Ok(response)) => response,
        };
        Ok(response
            .map(|body| TimedBody::new(body, timeouts.between_bytes, permits).boxed_unsync()))
    }

    /// A permit from each cap that is set (bounded by the caller).
    async fn permits(&self) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::new();
        for semaphore in [&self.network.connections, &self.http_connections]
            .into_iter()
            .flatten()
        {
            let permit = semaphore.clone().acquire_owned().await;
            permits.push(permit.expect("the semaphore is never closed"));
        }
        permits
    }

    fn client_for(&self, component: &str, uri: &Uri) -> Result<PooledClient, Error> {
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // Plain HTTP never uses the TLS configuration: share the default pool.
        let tls = if https {
            self.network.tls.for_host(component, host, port)
        } else {
            self.network.tls.default_choice()
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let client = clients.entry(tls.key).or_insert_with(|| {
            let config = tls.config;
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*config).clone())
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(TcpConnector {
                    network: self.network.clone(),
                });
            let mut builder = Client::builder(TokioExecutor::new());
            builder
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT);
            if !self.pooling {
                builder.pool_max_idle_per_host(0);
            }
            builder.build(connector)
        });
        Ok(client.clone())
    }
}

/// Awaits `sent`, allowing `first_byte` for the response head once there is
/// a connection: from the start with a pooled one, from when a new one is
/// made otherwise (connecting has its own timeout). `None` when it expires.
async fn first_byte_within<F: Future>(
    sent: F,
    progress: &mut tokio::sync::watch::Receiver<Connecting>,
    first_byte: Duration,
) -> Option<F::Output> {
    let mut sent = std::pin::pin!(sent);
    let mut deadline = Some(tokio::time::Instant::now() + first_byte);
    loop {
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            output = &mut sent => return Some(output),
            changed = progress.changed() => {
                if changed.is_err() {
                    // The connector's end is gone: keep the current deadline.
                    let at = deadline.unwrap_or_else(|| tokio::time::Instant::now() + first_byte);
                    return tokio::time::timeout_at(at, sent).await.ok();
                }
                deadline = match *progress.borrow_and_update() {
                    Connecting::Started => None,
                    Connecting::Done | Connecting::NotYet => Some(tokio::time::Instant::now() + first_byte),
                };
            }
            () = expiry => return None,
        }
    }
}

/// Why a connection could not be made; found again in the client's error
/// chain to give the guest the precise error code.
#[derive(Debug)]
enum ConnectError {
    Dns(std::io::Error),
    NotFound,
    IpProhibited,
    Refused,
    Timeout,
    Other(std::io::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(err) => write!(f, "DNS lookup failed: {err}"),
            Self::NotFound => f.write_str("the name resolves to no address"),
            Self::IpProhibited => f.write_str("every address is in a blocked network"),
            Self::Refused => f.write_str("connection refused"),
            Self::Timeout => f.write_str("connect timed out"),
            Self::Other(err) => write!(f, "connect failed: {err}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// The connector under TLS: resolve, drop blocked addresses, connect.
#[derive(Clone)]
struct TcpConnector {
    network: Arc<NetworkPolicy>,
}

impl tower_service::Service<Uri> for TcpConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        let scope = CONNECT.try_with(ConnectScope::clone).ok();
        let timeout = scope.as_ref().map_or(DEFAULT_TIMEOUT, |s| s.timeout);
        if let Some(scope) = &scope {
            scope.connecting.send_replace(Connecting::Started);
        }
        Box::pin(async move {
            let connected = tokio::time::timeout(timeout, connector.connect(uri))
                .await
                .map_err(|_| ConnectError::Timeout);
            if let Some(scope) = &scope {
                scope.connecting.send_replace(Connecting::Done);
            }
            connected?
        })
    }
}

impl TcpConnector {
    async fn connect(self, uri: Uri) -> Result<TokioIo<TcpStream>, ConnectError> {
        let host = uri.host().unwrap_or_default();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs = self
            .network
            .resolve(host, port)
            .await
            .map_err(|err| match err {
                ResolveError::Dns { source, .. } => ConnectError::Dns(source),
                ResolveError::NotFound(_) => ConnectError::NotFound,
                ResolveError::Blocked(_) => ConnectError::IpProhibited,
            })?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(TokioIo::new(stream));
                }
                Err(err) => last = Some(err),
            }
        }
        Err(match last {
            Some(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                ConnectError::Refused
            }
            Some(err) => ConnectError::Other(err),
            None => ConnectError::NotFound,
        })
    }
}

/// The wasi:http error code for a failed send, from the error chain.
fn error_code(err: &hyper_util::client::legacy::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return match connect {
                ConnectError::Dns(err) => Error::DnsError {
                    rcode: Some(err.to_string()),
                    info_code: None,
                },
                ConnectError::NotFound => Error::DestinationNotFound,
                ConnectError::IpProhibited => Error::DestinationIpProhibited,
                ConnectError::Refused => Error::ConnectionRefused,
                ConnectError::Timeout => Error::ConnectionTimeout,
                ConnectError::Other(_) => Error::DestinationUnavailable,
            };
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls_error_code(tls);
        }
        // TLS failures arrive as (possibly nested) io::Errors around a
        // rustls::Error; io::Error's `source` skips the error it wraps.
        let mut io = cause.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(|e| e.get_ref()) {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return tls_error_code(tls);
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return Error::HttpResponseTimeout;
            }
            if hyper.is_parse() || hyper.is_user() {
                return Error::HttpProtocolError;
            }
            if hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled() {
                return Error::ConnectionTerminated;
            }
        }
        source = cause.source();
    }
    Error::InternalError(Some(format!("{err:#}")))
}

fn tls_error_code(err: &rustls::Error) -> Error {
    match err {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Error::TlsCertificateError
        }
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// A response body that fails with `connection-read-timeout` when no frame
/// arrives within the between-bytes timeout, and holds the request's
/// connection permits until it ends.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    permits: Vec<OwnedSemaphorePermit>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration, permits: Vec<OwnedSemaphorePermit>) -> Self {
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            permits,
        }
    }
}

impl Body for TimedBody {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + self.timeout;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(if err.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::from(err)
            }))),
            Poll::Ready(None) => {
                self.permits.clear();
                Poll::Ready(None)
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
