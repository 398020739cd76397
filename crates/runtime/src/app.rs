//! The one start-up sequence, shared by `spinshim up` and the shim.
//!
//! The edges only turn their own inputs (flags and files, or the
//! container's env) into [`StartOptions`]; everything after that is here,
//! in this order: keep the retained components, check trigger types,
//! resolve variables, pick the state dir, build every capability's app
//! state (runtime config included), build the engine, compile and link the
//! triggered components, and build and bind the triggers. Any failure
//! stops start-up with an error naming what is at fault.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use spinshim_app::variables::{resolve_app_variables_with, Providers};
use spinshim_app::{retain_components, LockedApp, RuntimeConfig, StateDir};

use crate::code::CodeSource;
use crate::compile_cache::CompileCache;
use crate::engine::{build_engine, EngineOptions, EpochTicker};
use crate::host::outbound_networking::NetworkPolicy;
use crate::host::{AppContext, AppHost, StateSeed};
use crate::prepare::{PrepareOptions, PreparedApp};
use crate::store::ComponentInstancer;
use crate::trigger::http::HttpTriggerOptions;
use crate::trigger::{check_trigger_types, TriggerOptions, Triggers};

/// Where the app keeps its state unless runtime config says otherwise.
#[derive(Clone, Debug)]
pub enum StateDirChoice {
    /// Given explicitly (`--state-dir`): wins over runtime config.
    Explicit(PathBuf),
    /// The edge's default (`up`: `.spin` beside the manifest; the shim:
    /// `/.spin`), used when runtime config has no `state_dir`.
    Default(PathBuf),
    /// No state dir at all: stores are in memory.
    None,
}

/// Everything start-up needs besides the app.
///
/// Variables resolve as in Spin: `--variable` values, runtime config's
/// providers, then the environment (which a `.env` file in the working
/// directory completes), then defaults.
pub struct StartOptions<'a> {
    /// Where component code comes from.
    pub code: &'a dyn CodeSource,
    /// Where compiled code is kept between starts; `spinshim up` has one,
    /// the shim's is containerd's content store (through runwasi).
    pub compile_cache: Option<&'a CompileCache>,
    /// `--variable` values and the environment (process or container).
    pub providers: Providers,
    /// The runtime config (empty when there is none).
    pub runtime_config: RuntimeConfig,
    /// Run only these components (`SPIN_COMPONENTS_TO_RETAIN`).
    pub components_to_retain: Option<Vec<String>>,
    /// Cap on one instance's linear memory; wins over runtime config's
    /// `max_instance_memory`.
    pub max_instance_memory: Option<u64>,
    /// The state dir.
    pub state_dir: StateDirChoice,
    /// Where component files are staged (the system temp dir when `None`).
    pub staging_root: Option<PathBuf>,
    /// Data for the default stores.
    pub seed: StateSeed,
    /// The HTTP trigger's settings.
    pub http: HttpTriggerOptions,
    /// The command trigger's arguments (`spinshim up -- ARGS`, the
    /// container's args after the first).
    pub command_args: Vec<String>,
    /// How long in-flight work may finish after a shutdown request.
    pub shutdown_timeout: Duration,
}

/// A started app: components linked, triggers bound, nothing served yet.
pub struct App {
    triggers: Triggers,
    shutdown_timeout: Duration,
    state_dir: Option<PathBuf>,
    // Kept alive while serving: the prepared app owns the staged files and
    // the components (which hold the capabilities' state), the ticker
    // drives request deadlines.
    prepared: PreparedApp,
    _ticker: EpochTicker,
}

impl App {
    /// Runs the start-up sequence (see the module documentation).
    pub async fn start(mut locked: LockedApp, options: StartOptions<'_>) -> Result<Self> {
        if let Some(ids) = &options.components_to_retain {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            retain_components(&mut locked, &ids).context("SPIN_COMPONENTS_TO_RETAIN")?;
        }
        check_trigger_types(&locked)?;
        let runtime_config = &options.runtime_config;
        // Like Spin's default env provider, both edges also read `.env`
        // in the working directory (values already set win).
        let providers = options.providers.with_dotenv(Path::new(".env"))?;
        let variables =
            resolve_app_variables_with(&locked, &providers, &runtime_config.variables_providers)?;
        let state_dir = state_dir(&options.state_dir, runtime_config);
        let network = Arc::new(NetworkPolicy::from_runtime_config(runtime_config)?);
        let host = AppHost::new(&AppContext {
            app: &locked,
            runtime_config,
            state_dir: state_dir.as_deref(),
            variables: &variables,
            seed: &options.seed,
            network: &network,
        })
        .await?;
        let max_instance_memory = options
            .max_instance_memory
            .or(runtime_config.max_instance_memory);
        let engine = build_engine(&EngineOptions {
            max_instance_memory,
            ..Default::default()
        })?;
        let ticker = EpochTicker::start(engine.engine());
        let prepared = PreparedApp::prepare(
            locked,
            engine,
            &PrepareOptions {
                variables: &variables,
                host: &host,
                max_instance_memory,
                code: options.code,
                compile_cache: options.compile_cache,
                staging_root: options.staging_root.as_deref(),
            },
        )?;
        let trigger_options = TriggerOptions {
            http: options.http.clone(),
            command_args: options.command_args.clone(),
        };
        let triggers = Triggers::build(&prepared, &variables, &trigger_options).await?;
        if let Some(local) = triggers.local_http() {
            host.local_http().register(local);
        }
        Ok(Self {
            triggers,
            shutdown_timeout: options.shutdown_timeout,
            state_dir,
            prepared,
            _ticker: ticker,
        })
    }

    /// What a host prints once the app is up: each trigger's listing
    /// (for HTTP: the address and every route's URL, in Spin's layout).
    pub fn describe(&self) -> String {
        self.triggers.describe()
    }

    /// Where the HTTP trigger listens, if the app has one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.triggers.http_addr()
    }

    /// A prepared component, by id (benchmarks instantiate it directly).
    pub fn component(&self, id: &str) -> Option<Arc<ComponentInstancer>> {
        self.prepared.component(id)
    }

    /// The state dir in use, if any.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }

    /// Runs every trigger until `shutdown` resolves (or one trigger ends by
    /// itself), then lets in-flight work finish for at most the shutdown
    /// timeout. Returns the exit code for the process: a command
    /// trigger's, else 0.
    ///
    /// Guests still running after that trap at their next epoch tick, so
    /// nothing of the app outlives this call by more than a tick; an edge
    /// exits right after it.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<i32> {
        let ran = self.triggers.run(shutdown, self.shutdown_timeout).await;
        self.prepared.engine().halt_guests();
        ran
    }
}

/// `--state-dir` > runtime config's `state_dir` (`""` disables it; a
/// relative path is taken from the current directory, as Spin does) >
/// the edge's default.
fn state_dir(choice: &StateDirChoice, runtime_config: &RuntimeConfig) -> Option<PathBuf> {
    match (choice, &runtime_config.state_dir) {
        (StateDirChoice::Explicit(dir), _) => Some(dir.clone()),
        (_, Some(StateDir::Disabled)) => None,
        (_, Some(StateDir::Path(dir))) => Some(dir.clone()),
        (StateDirChoice::Default(dir), None) => Some(dir.clone()),
        (StateDirChoice::None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dir_flag_wins_then_runtime_config_then_the_default() {
        let config = |dir: Option<StateDir>| RuntimeConfig {
            state_dir: dir,
            ..Default::default()
        };
        let flag = StateDirChoice::Explicit("flag".into());
        let default = StateDirChoice::Default("default".into());
        let from_file = Some(StateDir::Path("file".into()));
        assert_eq!(
            state_dir(&flag, &config(from_file.clone())),
            Some("flag".into())
        );
        assert_eq!(
            state_dir(&default, &config(from_file.clone())),
            Some("file".into())
        );
        assert_eq!(state_dir(&default, &config(Some(StateDir::Disabled))), None);
        assert_eq!(state_dir(&default, &config(None)), Some("default".into()));
        assert_eq!(state_dir(&StateDirChoice::None, &config(None)), None);
    }
}
