//! The container's process: load the app, serve it, stop on SIGTERM.
//!
//! runwasi calls [`SpinSandbox::run_wasi`] inside the container (its root
//! filesystem, namespaces and stdio). Everything here is reported to the
//! container's own stderr, which is what `ctr` shows and what a CRI pod
//! log holds; runwasi's log only records an exit code.

use std::path::Path;

use anyhow::{bail, Result};
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use containerd_shim_wasm::sandbox::Sandbox;
use spinshim_app::locked::LockedDependency;
use spinshim_app::runtime_config::RuntimeConfig;
use spinshim_app::{LockedApp, LockedComponent};
use spinshim_oci::{Layer, OciApp};
use spinshim_runtime::signals::shutdown_requested;
use spinshim_runtime::{
    App, CodeSource, ComponentCode, FromLock, HttpTriggerOptions, StartOptions, StateDirChoice,
    StateSeed,
};

use crate::container_env::{ContainerEnv, ShimSettings};

/// The app of a plain image (no Spin OCI layers).
const MANIFEST_PATH: &str = "/spin.toml";
/// Read if present, as with the reference shim.
const RUNTIME_CONFIG_PATH: &str = "/runtime-config.toml";
/// The app's state directory (unless runtime config names another):
/// stores, staged files, assets from layers.
const STATE_DIR: &str = "/.spin";

/// Runs a Spin app as a container's process.
#[derive(Default)]
pub struct SpinSandbox;

impl Sandbox for SpinSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let env = ContainerEnv::from_entries(ctx.envs());
        init_logging(&env);
        match run(ctx, &env).await {
            Ok(code) => Ok(code),
            Err(err) => {
                eprintln!("Error: {err:#}");
                Ok(1)
            }
        }
    }

    /// Any container given to this runtime is a Spin app; whether it really
    /// is one is reported by `run_wasi`, where the message reaches the log.
    async fn can_handle(&self, _ctx: &impl RuntimeContext) -> Result<()> {
        Ok(())
    }
}

async fn run(ctx: &impl RuntimeContext, env: &ContainerEnv) -> Result<i32> {
    spinshim_runtime::allocator::serve_in_forked_process();
    // The first arg is the entrypoint (`/`); a command trigger gets the rest.
    let command_args: Vec<String> = ctx.args().iter().skip(1).cloned().collect();
    let settings = ShimSettings::from_env(env)?;
    let work_dir = Path::new(STATE_DIR);
    std::fs::create_dir_all(work_dir)
        .map_err(|err| anyhow::anyhow!("creating the state directory {STATE_DIR}: {err}"))?;
    let runtime_config = load_runtime_config()?;
    match ctx.entrypoint().source {
        Source::Oci(layers) => {
            let described = describe(layers);
            let layers = borrow_layers(layers, &described);
            let app = OciApp::from_layers(&layers, &work_dir.join("assets"))?;
            let locked = app.locked.clone();
            let code = LayerCode(&app);
            serve(locked, &code, &settings, runtime_config, env, command_args).await
        }
        Source::File(_) => {
            if !Path::new(MANIFEST_PATH).is_file() {
                bail!(
                    "the container has no Spin app: runwasi handed over no Spin OCI layers and \
                     there is no {MANIFEST_PATH} (if the image is a Spin artifact, its layers \
                     could not be read from containerd: see containerd's log)"
                );
            }
            let locked = spinshim_app::load_app(Path::new(MANIFEST_PATH))?;
            serve(
                locked,
                &FromLock,
                &settings,
                runtime_config,
                env,
                command_args,
            )
            .await
        }
    }
}

fn load_runtime_config() -> Result<RuntimeConfig> {
    let path = Path::new(RUNTIME_CONFIG_PATH);
    if path.exists() {
        Ok(RuntimeConfig::from_file(path)?)
    } else {
        Ok(RuntimeConfig::default())
    }
}

/// Each layer's media type and digest, as owned strings the layers borrow.
fn describe(layers: &[WasmLayer]) -> Vec<(String, String)> {
    layers
        .iter()
        .map(|l| {
            (
                l.config.media_type().to_string(),
                l.config.digest().to_string(),
            )
        })
        .collect()
}

fn borrow_layers<'a>(layers: &'a [WasmLayer], described: &'a [(String, String)]) -> Vec<Layer<'a>> {
    layers
        .iter()
        .zip(described)
        .map(|(layer, (media_type, digest))| Layer {
            media_type,
            digest,
            bytes: &layer.layer,
            precompiled: layer.precompiled,
        })
        .collect()
}

/// Component code from the image's layers. runwasi marks a layer
/// precompiled only for content it stored under this shim's own
/// precompile label (see `compiler.rs`), so only then may it be native
/// code; native code arriving any other way is refused by the runtime.
struct LayerCode<'a>(&'a OciApp<'a>);

impl CodeSource for LayerCode<'_> {
    fn code<'a>(&'a self, component: &'a LockedComponent) -> Result<ComponentCode<'a>> {
        let code = self.0.component_code(&component.id)?;
        Ok(ComponentCode::from_layer(code.bytes, code.precompiled))
    }

    fn dependency_code<'a>(
        &'a self,
        component: &'a LockedComponent,
        key: &str,
        _dependency: &'a LockedDependency,
    ) -> Result<ComponentCode<'a>> {
        let code = self.0.dependency_code(&component.id, key)?;
        Ok(ComponentCode::from_layer(code.bytes, code.precompiled))
    }
}

async fn serve(
    locked: LockedApp,
    code: &dyn CodeSource,
    settings: &ShimSettings,
    runtime_config: RuntimeConfig,
    env: &ContainerEnv,
    command_args: Vec<String>,
) -> Result<i32> {
    let providers = env.variable_providers(&locked);
    let app = App::start(
        locked,
        StartOptions {
            // runwasi keeps the compiled code, in containerd's content store.
            compile_cache: None,
            code,
            providers,
            runtime_config,
            components_to_retain: settings.components_to_retain.clone(),
            max_instance_memory: settings.max_instance_memory,
            state_dir: StateDirChoice::Default(STATE_DIR.into()),
            staging_root: Some(STATE_DIR.into()),
            seed: StateSeed::default(),
            http: HttpTriggerOptions {
                listen: settings.listen,
                request_timeout: None,
                limits: settings.http_limits.clone(),
            },
            shutdown_timeout: settings.shutdown_timeout,
            command_args,
        },
    )
    .await?;
    print!("{}", app.describe());
    if let Some(app_id) = &settings.app_id {
        tracing::info!("app id {app_id}");
    }
    app.run(shutdown_requested()).await
}

/// The app's own diagnostics (failed requests, drain warnings) go to the
/// container's stderr; `RUST_LOG` in the container's env tunes them.
fn init_logging(env: &ContainerEnv) {
    let filter = env
        .get("RUST_LOG")
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
