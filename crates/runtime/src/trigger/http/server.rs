//! The listening socket and connection handling: HTTP/1.1 and HTTP/2 via
//! hyper's auto builder, held to the listener's [`HttpLimits`], with a
//! bounded drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::body;
use super::client_body::{FaultRecord, RequestBody, ResponseBody};
use super::connection::{self, Activity, RequestInFlight, WatchedSocket};
use super::headers::ClientAddr;
use super::limits::HttpLimits;
use super::HttpTrigger;

/// Binds the HTTP listener; the error names the address.
pub fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

/// What every connection of one listener shares.
struct Listener {
    trigger: Arc<HttpTrigger>,
    limits: HttpLimits,
    builder: auto::Builder<TokioExecutor>,
    /// A permit per open connection.
    connections: Arc<Semaphore>,
    /// A permit per request in flight.
    requests: Arc<Semaphore>,
    /// Turns true when the listener stops.
    stopping: watch::Receiver<bool>,
}

pub(super) async fn serve(
    trigger: Arc<HttpTrigger>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> Result<()> {
    let limits = trigger.limits.clone();
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Listener {
        builder: connection_builder(&limits),
        connections: Arc::new(Semaphore::new(limits.max_connections)),
        requests: Arc::new(Semaphore::new(limits.max_in_flight)),
        limits,
        trigger,
        stopping,
    });
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the connection cap, stop accepting: clients queue in the
        // kernel's backlog rather than in our memory.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = shared.connections.clone().acquire_owned() => permit?,
        };
        let (stream, client_addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accepting a connection failed: {err}");
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(
            shared.clone(),
            stream,
            client_addr,
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    drain(&shared, drain_timeout).await;
    Ok(())
}

/// hyper's builder with the head limits; everything else is hyper's
/// default.
fn connection_builder(limits: &HttpLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The connection watch times request heads, on HTTP/2 too.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes);
    builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Waits until every connection has closed, for at most `drain_timeout`.
async fn drain(shared: &Listener, drain_timeout: Duration) {
    let all = u32::try_from(shared.limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = shared.connections.acquire_many(all) => {}
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!("in-flight requests still running after {drain_timeout:?}; exiting");
        }
    }
}

async fn serve_connection(
    shared: Arc<Listener>,
    stream: TcpStream,
    client_addr: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    // Small guest writes should not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let client = Arc::new(ClientAddr::new(client_addr));
    let service = service_fn({
        let shared = shared.clone();
        let activity = activity.clone();
        move |req| {
            let in_flight = activity.request_started();
            handle(shared.clone(), req, client.clone(), in_flight)
        }
    });
    let socket = TokioIo::new(WatchedSocket::new(stream, activity.clone()));
    let connection = shared.builder.serve_connection(socket, service);
    let mut connection = std::pin::pin!(connection);
    // The timeouts and the stop are watched by a task of their own, so a
    // wake of this one polls one channel beside hyper, not timers too.
    let (close, mut closing) = oneshot::channel();
    let watch = tokio::spawn(watch_connection(shared.clone(), activity, close));
    let ended = tokio::select! {
        biased;
        ended = connection.as_mut() => ended,
        reason = &mut closing => match reason {
            Ok(Close::Expired(expiry)) => {
                // Nothing is in flight, so dropping the connection loses nothing.
                tracing::debug!("closing the connection from {client_addr}: {expiry}");
                return;
            }
            Ok(Close::Stopping) | Err(_) => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        },
    };
    watch.abort();
    if let Err(err) = ended {
        tracing::debug!("connection from {client_addr} ended: {err}");
    }
}

/// Why the listener closes a connection.
enum Close {
    /// The listener stops: finish what is in flight, take nothing new.
    Stopping,
    /// One of its timeouts ran out with nothing in flight.
    Expired(connection::Expiry),
}

/// Sends the first reason to close the connection.
async fn watch_connection(
    shared: Arc<Listener>,
    activity: Arc<Activity>,
    close: oneshot::Sender<Close>,
) {
    let reason = tokio::select! {
        () = stopped(shared.stopping.clone()) => Close::Stopping,
        expiry = connection::expired(&activity, &shared.limits) => Close::Expired(expiry),
    };
    let _ = close.send(reason);
}

/// Resolves once the listener stops.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    // Either it turned true, or the listener is gone altogether.
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// One request: wait for a slot, guard the body, let the trigger answer.
async fn handle(
    shared: Arc<Listener>,
    req: Request<Incoming>,
    client: Arc<ClientAddr>,
    in_flight: RequestInFlight,
) -> Result<Response<ResponseBody<(Option<OwnedSemaphorePermit>, RequestInFlight)>>, Infallible> {
    // The semaphore is never closed, so this waits for a slot.
    let slot = shared.requests.clone().acquire_owned().await.ok();
    let fault = FaultRecord::default();
    let response = match too_large(&req, shared.limits.max_body_bytes) {
        Some(status) => body::status_only(status),
        None => {
            let limit = shared.limits.max_body_bytes;
            let req =
                req.map(|incoming| RequestBody::new(incoming, limit, fault.clone()).boxed_unsync());
            let response = shared.trigger.handle(req, &client).await;
            blame_the_client(response, &fault)
        }
    };
    Ok(response.map(|body| ResponseBody::new(body, (slot, in_flight))))
}

/// 413 for a declared length over the limit, before any guest runs.
fn too_large(req: &Request<Incoming>, limit: Option<u64>) -> Option<StatusCode> {
    let limit = limit?;
    let declared: u64 = req
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (declared > limit).then_some(StatusCode::PAYLOAD_TOO_LARGE)
}

/// A guest that failed after its client sent a bad body answers for the
/// client's fault, not its own.
fn blame_the_client(
    response: Response<wasmtime_wasi_http::WasiBody>,
    fault: &FaultRecord,
) -> Response<wasmtime_wasi_http::WasiBody> {
    match fault.get() {
        Some(fault) if response.status().is_server_error() => body::status_only(fault.status()),
        _ => response,
    }
}
