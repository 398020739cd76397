//! `spinshim up`: serve an app from a directory, manifest or lock file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use indexmap::IndexMap;
use spinshim_app::runtime_config::RuntimeConfig;
use spinshim_app::variables::{parse_variable_arg, Providers};
use spinshim_runtime::{
    App, CompileCache, FromLock, HttpLimits, HttpTriggerOptions, SqlSeed, StartOptions,
    StateDirChoice, StateSeed,
};

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

    /// Where key-value stores and SQLite databases live; "" keeps them in memory [default: .spin beside the manifest].
    #[arg(long, value_name = "DIR", value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    state_dir: Option<PathBuf>,

    /// Set a key in the default key-value store before serving (repeatable).
    #[arg(long = "key-value", value_name = "KEY=VALUE")]
    key_values: Vec<String>,

    /// Run a statement, or the statements in @FILE, on the default SQLite database before serving (repeatable).
    #[arg(long = "sqlite", value_name = "STATEMENT|@FILE")]
    sqlite_statements: Vec<String>,

    /// Run only this component (repeatable), as Spin's `--component-id`
    /// and the shim's `SPIN_COMPONENTS_TO_RETAIN` do.
    #[arg(short = 'c', long = "component-id", value_name = "ID")]
    component_ids: Vec<String>,

    /// Answer a request with 500 if its handler runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<f64>,

    /// How long in-flight requests may finish after Ctrl-C / SIGTERM, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    shutdown_timeout: f64,

    /// Where compiled components are kept between starts [default: $XDG_CACHE_HOME/spinshim/compiled, else ~/.cache/spinshim/compiled].
    #[arg(long, value_name = "DIR", env = "SPINSHIM_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile every component at start, keeping nothing (as Spin's `--disable-cache`).
    #[arg(long)]
    disable_cache: bool,

    /// Arguments for a command trigger's component (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    command_args: Vec<String>,
}

/// Runs `up` to completion (until a shutdown signal).
pub fn run(args: UpArgs) -> Result<i32> {
    spinshim_runtime::allocator::start_purging_thread();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(serve(args));
    // The app has halted its guests; a host call that never returns (a
    // hung database, say) must not keep the process alive past its drain.
    runtime.shutdown_timeout(HOST_CALL_GRACE);
    served
}

/// How long host calls still running after the drain may take to end.
const HOST_CALL_GRACE: Duration = Duration::from_millis(500);

async fn serve(args: UpArgs) -> Result<i32> {
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
    let providers = Providers::from_process(static_values);
    let state_dir = match &args.state_dir {
        // As in Spin, `--state-dir ""` keeps every store in memory.
        Some(dir) if dir.as_os_str().is_empty() => StateDirChoice::None,
        Some(dir) => StateDirChoice::Explicit(dir.clone()),
        None => StateDirChoice::Default(app_dir(&args.from).join(".spin")),
    };
    let compile_cache = compile_cache(&args);
    let app = App::start(
        locked,
        StartOptions {
            code: &FromLock,
            compile_cache: compile_cache.as_ref(),
            providers,
            runtime_config,
            components_to_retain: (!args.component_ids.is_empty())
                .then(|| args.component_ids.clone()),
            max_instance_memory: None,
            state_dir,
            staging_root: None,
            seed: seed(&args)?,
            http: HttpTriggerOptions {
                listen: args.listen,
                request_timeout: args.request_timeout.map(Duration::from_secs_f64),
                limits: HttpLimits::from_env(|name| std::env::var(name).ok())?,
            },
            shutdown_timeout: Duration::from_secs_f64(args.shutdown_timeout),
            command_args: args.command_args.clone(),
        },
    )
    .await?;
    print!("{}", app.describe());
    app.run(spinshim_runtime::signals::shutdown_requested())
        .await
}

/// The compile cache `up` keeps, unless disabled. One it cannot use is
/// said once and the app compiles as without one.
fn compile_cache(args: &UpArgs) -> Option<CompileCache> {
    if args.disable_cache {
        return None;
    }
    let dir = args.cache_dir.clone().or_else(CompileCache::default_dir)?;
    match CompileCache::open(&dir) {
        Ok(cache) => Some(cache),
        Err(err) => {
            eprintln!("Warning: components compile at every start: {err:#}");
            None
        }
    }
}

/// The directory the app was loaded from (a lock file's or manifest's
/// directory, or the directory itself).
fn app_dir(from: &Path) -> PathBuf {
    if from.is_dir() {
        return from.to_owned();
    }
    match from.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `--key-value` pairs and `--sqlite` statements (an `@FILE` is read here).
fn seed(args: &UpArgs) -> Result<StateSeed> {
    let key_values = args
        .key_values
        .iter()
        .map(|arg| match arg.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => bail!("--key-value \"{arg}\": expected KEY=VALUE"),
        })
        .collect::<Result<_>>()?;
    let sqlite_statements = args
        .sqlite_statements
        .iter()
        .map(|arg| sql_seed(arg))
        .collect::<Result<_>>()?;
    Ok(StateSeed {
        key_values,
        sqlite_statements,
    })
}

/// One `--sqlite` value: a statement for the `default` database, or
/// `@FILE` / `@FILE:LABEL` (as in Spin, split at the first `:`).
fn sql_seed(arg: &str) -> Result<SqlSeed> {
    let Some(spec) = arg.strip_prefix('@') else {
        return Ok(SqlSeed {
            database: "default".to_string(),
            sql: arg.to_string(),
            origin: format!("{arg:?}"),
        });
    };
    let spec = spec.trim();
    let (file, database) = match spec.split_once(':') {
        Some((file, label)) => (file.trim(), label.trim()),
        None => (spec, "default"),
    };
    if file.is_empty() {
        bail!("--sqlite @{spec}: no file named");
    }
    if database.is_empty() {
        bail!("--sqlite @{spec}: the database label after ':' is empty");
    }
    let sql = std::fs::read_to_string(file)
        .with_context(|| format!("--sqlite @{spec}: reading {file}"))?;
    Ok(SqlSeed {
        database: database.to_string(),
        sql,
        origin: format!("@{spec}"),
    })
}
