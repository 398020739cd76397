//! `spinshim up`: serve an app from a directory, manifest or lock file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use indexmap::IndexMap;
use spinshim_app::runtime_config::RuntimeConfig;
use spinshim_app::variables::{parse_variable_arg, Providers};
use spinshim_runtime::{compile_from_source, HttpApp, HttpTriggerOptions, PrepareOptions};

/// Where `up` listens unless told otherwise (Spin's default).
const DEFAULT_LISTEN: &str = "127.0.0.1:3000";

/// Run a Spin application locally.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// The app: a directory holding spin.toml, a spin.toml file, or a lock file (spin.lock / *.json).
    #[arg(short = 'f', long = "from", value_name = "APP", default_value = ".")]
    from: PathBuf,

    /// Address to serve HTTP on.
    #[arg(long, value_name = "ADDR", env = "SPIN_HTTP_LISTEN_ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Set an application variable (repeatable); wins over SPIN_VARIABLE_<NAME> and defaults.
    #[arg(long = "variable", value_name = "KEY=VALUE")]
    variables: Vec<String>,

    /// A runtime-config.toml (state dir, variables providers, store definitions).
    #[arg(long, value_name = "FILE", env = "RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,

    /// Answer a request with 500 if its handler runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<f64>,

    /// How long in-flight requests may finish after Ctrl-C / SIGTERM, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    shutdown_timeout: f64,
}

/// Runs `up` to completion (until a shutdown signal).
pub fn run(args: UpArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: UpArgs) -> Result<()> {
    let locked = spinshim_app::manifest::load_app(&args.from)?;
    let runtime_config = match &args.runtime_config_file {
        Some(path) => RuntimeConfig::from_file(path)?,
        None => RuntimeConfig::default(),
    };
    let static_values: IndexMap<String, String> = args
        .variables
        .iter()
        .map(|arg| parse_variable_arg(arg))
        .collect::<Result<_, _>>()?;
    let providers = Providers::from_process(static_values).with_dotenv(Path::new(".env"))?;

    let app = HttpApp::start(
        locked,
        &PrepareOptions {
            providers: &providers,
            runtime_providers: &runtime_config.variables_providers,
            max_instance_memory: runtime_config.max_instance_memory,
            loader: &compile_from_source,
            staging_root: None,
        },
        &HttpTriggerOptions {
            request_timeout: args.request_timeout.map(Duration::from_secs_f64),
        },
    )?;

    let listener = spinshim_runtime::trigger::http::bind(args.listen)?;
    print!("{}", app.route_listing(listener.local_addr()?));
    app.serve(
        listener,
        spinshim_runtime::signals::shutdown_requested(),
        Duration::from_secs_f64(args.shutdown_timeout),
    )
    .await
}
