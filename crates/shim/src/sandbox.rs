//! The container's process: load the app, serve it, stop on SIGTERM.
//!
//! runwasi calls [`SpinSandbox::run_wasi`] inside the container (its root
//! filesystem, namespaces and stdio). Everything here is reported to the
//! container's own stderr, which is what `ctr` shows and what a CRI pod
//! log holds; runwasi's log only records an exit code.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source, WasmLayer};
use containerd_shim_wasm::sandbox::Sandbox;
use spinshim_app::runtime_config::RuntimeConfig;
use spinshim_app::{retain_components, LockedApp, LockedComponent};
use spinshim_oci::{Layer, OciApp};
use spinshim_runtime::prepare::ComponentLoader;
use spinshim_runtime::signals::shutdown_requested;
use spinshim_runtime::trigger::http::bind;
use spinshim_runtime::{compile_from_source, HttpApp, HttpTriggerOptions, PrepareOptions};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use crate::container_env::{ContainerEnv, ShimSettings};

/// The app of a plain image (no Spin OCI layers).
const MANIFEST_PATH: &str = "/spin.toml";
/// Read if present, as with the reference shim.
const RUNTIME_CONFIG_PATH: &str = "/runtime-config.toml";
/// The app's state directory: staged files, assets from layers.
const STATE_DIR: &str = "/.spin";

/// Runs a Spin app as a container's process.
#[derive(Default)]
pub struct SpinSandbox;

impl Sandbox for SpinSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let env = ContainerEnv::from_entries(ctx.envs());
        init_logging(&env);
        match run(ctx, &env).await {
            Ok(()) => Ok(0),
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

async fn run(ctx: &impl RuntimeContext, env: &ContainerEnv) -> Result<()> {
    let settings = ShimSettings::from_env(env)?;
    let state_dir = Path::new(STATE_DIR);
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating the state directory {STATE_DIR}"))?;
    let runtime_config = load_runtime_config()?;
    match ctx.entrypoint().source {
        Source::Oci(layers) => {
            let described = describe(layers);
            let layers = borrow_layers(layers, &described);
            let app = OciApp::from_layers(&layers, &state_dir.join("assets"))?;
            let loader = |engine: &Engine, component: &LockedComponent| {
                load_layer_component(engine, &app, component)
            };
            let locked = app.locked.clone();
            serve(locked, &loader, &settings, &runtime_config, env, state_dir).await
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
            let loader = compile_from_source;
            serve(locked, &loader, &settings, &runtime_config, env, state_dir).await
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

/// A component from the image's layers. Native code is loaded only when
/// runwasi marks the layer precompiled, which it does only for content it
/// stored under this shim's own precompile label (see `compiler.rs`);
/// native code arriving any other way is refused.
fn load_layer_component(
    engine: &Engine,
    app: &OciApp<'_>,
    component: &LockedComponent,
) -> Result<Component> {
    let id = &component.id;
    let code = app.component_code(id)?;
    match (code.precompiled, Engine::detect_precompiled(code.bytes)) {
        (true, Some(Precompiled::Component)) => {
            // SAFETY: the bytes are wasmtime component code that our own
            // `SpinCompiler` produced with this engine's settings (the
            // cache key includes wasmtime's compatibility hash), read back
            // by runwasi from under our precompile label; wasmtime still
            // checks the version and settings recorded in them.
            unsafe { Component::deserialize(engine, code.bytes) }
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component \"{id}\": loading its precompiled code"))
        }
        (_, None) => Component::new(engine, code.bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component \"{id}\": compiling")),
        (_, Some(_)) => bail!(
            "component \"{id}\": its layer holds native code this shim did not compile; \
             images must carry Wasm"
        ),
    }
}

async fn serve(
    mut locked: LockedApp,
    loader: ComponentLoader<'_>,
    settings: &ShimSettings,
    runtime_config: &RuntimeConfig,
    env: &ContainerEnv,
    state_dir: &Path,
) -> Result<()> {
    if let Some(ids) = &settings.components_to_retain {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        retain_components(&mut locked, &ids).context("SPIN_COMPONENTS_TO_RETAIN")?;
    }
    let providers = env.variable_providers(&locked);
    let max_instance_memory = settings
        .max_instance_memory
        .or(runtime_config.max_instance_memory);
    let app = HttpApp::start(
        locked,
        &PrepareOptions {
            providers: &providers,
            runtime_providers: &runtime_config.variables_providers,
            max_instance_memory,
            loader,
            staging_root: Some(state_dir),
        },
        &HttpTriggerOptions::default(),
    )?;
    let listener = bind(settings.listen)?;
    print!("{}", app.route_listing(listener.local_addr()?));
    if let Some(app_id) = &settings.app_id {
        tracing::info!("app id {app_id}");
    }
    app.serve(listener, shutdown_requested(), settings.shutdown_timeout)
        .await
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
