//! `containerd-shim-spin-v2`: runs Spin apps as containerd tasks.
//!
//! containerd starts this binary for `runtime_type = "io.containerd.spin.v2"`.
//! runwasi's `containerd-shim-wasm` does the containerd side (task API,
//! container set-up, reading the image's layers from the content store,
//! caching precompiled code); this crate adds what is Spin's:
//!
//! - [`sandbox`]: the container's process: the app from its layers or
//!   `/spin.toml`, served by the spinshim runtime until SIGTERM.
//! - [`compiler`]: ahead-of-time compilation of component layers.
//! - [`container_env`]: the `SPIN_*` settings from the container's env.
//! - [`precompile_lock`]: first starts on a node take turns (a runwasi race).
//! - [`dead_shim`]: what a killed shim's container leaves is removed.
//! - [`task_front`]: containerd's socket, relayed to runwasi's task service
//!   with `Pids` answered, so a restarted containerd keeps its tasks.

mod compiler;
mod container_env;
mod dead_shim;
mod precompile_lock;
mod sandbox;
mod task_front;

use containerd_shim_wasm::shim::{version, Cli, Config, Shim, Version};

spinshim_runtime::global_allocator!();

/// The Spin runtime for runwasi.
struct SpinShim;

impl Shim for SpinShim {
    /// Also the middle of runwasi's precompile label, `runwasi.io/precompiled/spin/…`.
    fn name() -> &'static str {
        "spin"
    }

    fn version() -> Version {
        version!()
    }

    type Sandbox = sandbox::SpinSandbox;

    #[allow(refining_impl_trait)]
    async fn compiler() -> Option<compiler::SpinCompiler> {
        match compiler::SpinCompiler::new() {
            Ok(compiler) => Some(compiler),
            Err(err) => {
                log::error!("no precompilation, components compile at start: {err:#}");
                None
            }
        }
    }

    fn supported_layers_types() -> &'static [&'static str] {
        spinshim_oci::media_types::ALL
    }
}

fn main() {
    dead_shim::clean_up_on_delete(SpinShim::name());
    let _front = {
        // The zygote and the container processes it forks give freed
        // pages back at once; the shim itself purges with its own thread.
        let _at_once = spinshim_runtime::allocator::PagesFreedAtOnce::begin();
        task_front::TaskFront::install()
    };
    spinshim_runtime::allocator::start_purging_thread();
    // The shim's own log (containerd's side) stays at `error` unless
    // RUST_LOG or containerd's debug flag asks for more: per-request
    // logging once cost the reference shim most of its throughput.
    SpinShim::run(Config {
        default_log_level: "error".to_string(),
        ..Default::default()
    });
}
