//! Real peers for outbound tests, each on 127.0.0.1 with a free port and
//! its own thread: an HTTP echo server (HTTP/1.1 and h2, optionally TLS
//! with a CA made for the test), a TCP echo and a UDP echo.
//!
//! The HTTP server answers `echo <METHOD> <path?query> <version>` then a
//! line per `x-*` request header and the request body, except for:
//! - `/hang`: never answers;
//! - `/stall-body`: sends the head and one chunk, then stalls;
//! - `/reset`: closes the connection without answering.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// A running peer; stopped when dropped (its thread ends with the test
/// process at the latest).
pub struct Peer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A CA made for one test and a server certificate it signed for
/// `localhost` and `127.0.0.1`.
pub struct TestCa {
    /// The CA certificate, PEM, written to a file.
    pub ca_file: PathBuf,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl TestCa {
    /// Makes the CA in `dir` (as `ca.pem`).
    pub fn new(dir: &Path) -> Result<Self> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "spinshim test CA");
        let ca_key = rcgen::KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        let key = rcgen::KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem())?;
        Ok(Self {
            ca_file,
            server_chain: vec![cert.der().clone()],
            server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        })
    }

    fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Starts the HTTP echo server (plain HTTP/1.1 and h2c by prior knowledge).
pub fn http_echo() -> Result<Peer> {
    serve_http(None)
}

/// Starts the HTTP echo server over TLS with `ca`'s server certificate.
pub fn https_echo(ca: &TestCa) -> Result<Peer> {
    serve_http(Some(tokio_rustls::TlsAcceptor::from(ca.server_config()?)))
}

fn serve_http(tls: Option<tokio_rustls::TlsAcceptor>) -> Result<Peer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let accept = async {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        let builder = auto::Builder::new(TokioExecutor::new());
                        let service = service_fn(answer);
                        let _ = match tls {
                            Some(tls) => match tls.accept(stream).await {
                                Ok(stream) => {
                                    builder
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await
                                }
                                Err(_) => Ok(()),
                            },
                            None => {
                                builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                            }
                        };
                    });
                }
            };
            tokio::select! {
                _ = stopped => {}
                () = accept => {}
            }
        });
    });
    Ok(Peer {
        addr,
        stop: Some(stop),
    })
}

type EchoBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<EchoBody>, std::io::Error> {
    match req.uri().path() {
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "/reset" => {
            return Err(std::io::Error::other("reset by the test server"));
        }
        "/stall-body" => {
            let chunks = futures::stream::unfold(0, |n| async move {
                if n > 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"first"))),
                    n + 1,
                ))
            });
            return Ok(hyper::Response::new(StreamBody::new(chunks).boxed()));
        }
        _ => {}
    }
    let mut text = format!(
        "echo {} {} {:?}\n",
        req.method(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/"),
        req.version()
    );
    for (name, value) in req.headers() {
        if name.as_str().starts_with("x-") {
            text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    text.push_str(&String::from_utf8_lossy(&body));
    Ok(hyper::Response::new(
        http_body_util::Full::new(Bytes::from(text)).boxed(),
    ))
}

/// Starts a TCP server that sends back `echo:` and what it read until EOF.
pub fn tcp_echo() -> Result<Peer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut stream = stream;
                let mut data = Vec::new();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.read_to_end(&mut data);
                let _ = stream.write_all(b"echo:");
                let _ = stream.write_all(&data);
            });
        }
    });
    Ok(Peer { addr, stop: None })
}

/// Starts a UDP server that answers each datagram with `echo:` and it.
pub fn udp_echo() -> Result<Peer> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("binding the UDP echo")?;
    let addr = socket.local_addr()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&reply, from);
        }
    });
    Ok(Peer { addr, stop: None })
}
