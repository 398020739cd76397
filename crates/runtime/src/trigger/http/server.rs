//! The listening socket and connection handling: HTTP/1.1 and HTTP/2 via
//! hyper's auto builder, with a graceful drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use http_body_util::BodyExt as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;

use super::headers::ClientAddr;
use super::HttpTrigger;

/// Binds the HTTP listener; the error names the address.
pub fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

pub(super) async fn serve(
    trigger: Arc<HttpTrigger>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
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
        // Small guest writes should not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let trigger = trigger.clone();
        let client = Arc::new(ClientAddr::new(client_addr));
        let service = service_fn(move |req| {
            let trigger = trigger.clone();
            let client = client.clone();
            async move {
                let req = req.map(|body: hyper::body::Incoming| {
                    body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync()
                });
                Ok::<_, Infallible>(trigger.handle(req, &client).await)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection from {client_addr} ended: {err}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!("in-flight requests still running after {drain_timeout:?}; exiting");
        }
    }
    Ok(())
}
