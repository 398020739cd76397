//! What one request to `images/hello` (wasi:http 0.2, a fresh instance per
//! request) costs the host, from the instantiation alone up to a whole HTTP
//! exchange.
//!
//! - `instantiate/new_store`: the fresh `Store` a request gets (WASI
//!   context, limits, epoch deadline), dropped again.
//! - `instantiate/store_and_instance`: everything a 0.2 request does before
//!   the guest runs, through the component's executor exactly as its worker
//!   does it (`ComponentHandler::instantiate`); dropping the instance
//!   (its pooling slot goes back) is included.
//! - `request/executor`: one GET handed to the component's executor
//!   (instantiate, run the guest, collect the body); no HTTP parsing,
//!   routing or `spin-*` headers.
//! - `request/http`: one GET over a keep-alive loopback connection to a
//!   served [`App`] (hyper, router, `spin-*` headers, executor), the
//!   client's own work included.
//!
//! Needs `images/target/wasm32-wasip2/release/hello.wasm`, built by
//! `scripts/build-images.sh`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use spinshim_app::variables::Providers;
use spinshim_app::LockedApp;
use spinshim_runtime::store::ComponentInstancer;
use spinshim_runtime::trigger::http::handler_kind::HandlerKind;
use spinshim_runtime::trigger::http::wasi_http;
use spinshim_runtime::{App, FromLock, HttpTriggerOptions, StartOptions, StateDirChoice};
use wasmtime_wasi_http::handler::HandlerState as _;

/// `images/hello/spin.toml`, after checking its component has been built.
fn hello_manifest() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = root.join("images/target/wasm32-wasip2/release/hello.wasm");
    if !wasm.is_file() {
        eprintln!(
            "error: {} is missing; build the sample apps first with scripts/build-images.sh",
            wasm.display()
        );
        std::process::exit(1);
    }
    root.join("images/hello/spin.toml")
}

fn hello_app() -> LockedApp {
    spinshim_app::manifest::load_app(&hello_manifest()).expect("loading images/hello")
}

/// Starts images/hello on a free loopback port, as `spinshim up` would.
fn start_hello(runtime: &tokio::runtime::Runtime) -> App {
    runtime
        .block_on(App::start(
            hello_app(),
            StartOptions {
                code: &FromLock,
                compile_cache: None,
                providers: Providers::default(),
                runtime_config: Default::default(),
                components_to_retain: None,
                max_instance_memory: None,
                state_dir: StateDirChoice::None,
                staging_root: None,
                seed: Default::default(),
                http: HttpTriggerOptions {
                    listen: ([127, 0, 0, 1], 0).into(),
                    request_timeout: None,
                    limits: Default::default(),
                },
                shutdown_timeout: Duration::from_secs(1),
                command_args: Vec::new(),
            },
        ))
        .expect("starting images/hello")
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn block_on<F: Future>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output {
    runtime.block_on(future)
}

fn instantiation(c: &mut Criterion) {
    let runtime = multi_thread_runtime();
    let app = start_hello(&runtime);
    let instancer: Arc<ComponentInstancer> = app.component("hello").expect("component");
    let executor =
        wasi_http::executor(instancer.clone(), HandlerKind::WasiHttpP2, None).expect("executor");

    let mut group = c.benchmark_group("instantiate");
    group.bench_function("new_store", |b| {
        b.iter(|| instancer.new_store().expect("store"))
    });
    group.bench_function("store_and_instance", |b| {
        b.iter(|| {
            block_on(&runtime, executor.state().instantiate())
                .map_err(anyhow::Error::from)
                .expect("instantiate")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("request");
    group.bench_function("executor", |b| {
        b.iter(|| {
            block_on(&runtime, async {
                let request = http::Request::get("http://localhost/")
                    .body(
                        Empty::<Bytes>::new()
                            .map_err(|never| match never {})
                            .boxed_unsync(),
                    )
                    .expect("request");
                let response = executor
                    .handle((), request)
                    .await
                    .map_err(anyhow::Error::from)
                    .expect("response");
                assert_eq!(response.status(), 200);
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            })
        })
    });
    group.finish();
}

fn http_request(c: &mut Criterion) {
    let server = multi_thread_runtime();
    let app = start_hello(&server);
    let addr = app.http_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server.spawn(app.run(async {
        let _ = stopped.await;
    }));

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let mut sender = client.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        sender
    });

    let mut group = c.benchmark_group("request");
    group.bench_function("http", |b| {
        b.iter(|| {
            client.block_on(async {
                let request = http::Request::get("/")
                    .header(http::header::HOST, "localhost")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let response = sender.send_request(request).await.expect("response");
                assert_eq!(response.status(), 200);
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            })
        })
    });
    group.finish();

    drop(sender);
    let _ = stop.send(());
    server
        .block_on(serving)
        .expect("server task")
        .expect("serving");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = instantiation, http_request
}
criterion_main!(benches);
