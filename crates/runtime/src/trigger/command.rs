//! The command trigger: a component exporting `wasi:cli/run`, run once to
//! its end, for jobs and init containers.
//!
//! The guest's arguments are the component id followed by the edge's
//! command arguments (`spinshim up -- ARGS`, the container's args after
//! the first). Its exit code becomes the process's: `exit(n)` is `n`, a
//! `run` returning an error is 1, a trap is an error (exit 1 with the
//! cause in the log). The reference shim exits 0 for any normal end and
//! 137 for an `exit` call; a job's status should say how the job went.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use spinshim_app::triggers::{trigger_config, CommandTriggerConfig, COMMAND_TRIGGER_TYPE};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::I32Exit;

use super::Shutdown;
use crate::prepare::PreparedApp;
use crate::store::{ComponentInstancer, InstanceState};

/// The export every command component must have.
const WASI_CLI_RUN_PREFIX: &str = "wasi:cli/run@0.2.";

/// The exit code of a command stopped by shutdown before it ended (the
/// shell's code for SIGTERM).
const STOPPED_EXIT_CODE: i32 = 128 + 15;

/// The app's command, ready to run.
pub struct CommandTrigger {
    instancer: Arc<ComponentInstancer>,
    pre: CommandPre<InstanceState>,
    args: Vec<String>,
}

impl CommandTrigger {
    /// Prepares the app's command trigger. An app with several runs the
    /// first, as the command trigger plugin does, and says so.
    pub fn build(app: &PreparedApp, args: &[String]) -> Result<Option<Self>> {
        let mut triggers = app.locked().triggers_of_type(COMMAND_TRIGGER_TYPE);
        let Some(first) = triggers.next() else {
            return Ok(None);
        };
        let ignored: Vec<&str> = triggers.map(|t| t.id.as_str()).collect();
        if !ignored.is_empty() {
            tracing::warn!(
                "command trigger: only the first command trigger (\"{}\") runs; ignoring {}",
                first.id,
                ignored.join(", ")
            );
        }
        let config: CommandTriggerConfig = trigger_config(first)?;
        let id = &config.component;
        let instancer = app
            .component(id)
            .with_context(|| format!("component \"{id}\" was not prepared"))?;
        if !instancer
            .export_names()
            .iter()
            .any(|name| name.starts_with(WASI_CLI_RUN_PREFIX))
        {
            anyhow::bail!(
                "component \"{id}\" is not a command: it does not export {WASI_CLI_RUN_PREFIX}x \
                 (build it as a wasm32-wasip2 binary with a main function)"
            );
        }
        let pre = CommandPre::new(instancer.pre().clone())
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component \"{id}\""))?;
        let args = std::iter::once(id.clone())
            .chain(args.iter().cloned())
            .collect();
        Ok(Some(Self {
            instancer,
            pre,
            args,
        }))
    }

    /// The start-up listing.
    pub fn describe(&self) -> String {
        format!("Running command component \"{}\"\n", self.instancer.id())
    }

    /// Runs the command to its end and returns its exit code. On shutdown
    /// the command gets `drain_timeout` to end by itself.
    pub async fn run(self, shutdown: Shutdown, drain_timeout: Duration) -> Result<i32> {
        let mut run = Box::pin(self.run_to_end());
        tokio::select! {
            code = &mut run => return code,
            () = shutdown => {}
        }
        match tokio::time::timeout(drain_timeout, run).await {
            Ok(code) => code,
            Err(_) => {
                tracing::warn!(
                    "command trigger: component \"{}\" still running after {drain_timeout:?}; \
                     stopping it",
                    self.instancer.id()
                );
                Ok(STOPPED_EXIT_CODE)
            }
        }
    }

    async fn run_to_end(&self) -> Result<i32> {
        let id = self.instancer.id();
        let mut store = self.instancer.new_store_with(&[], |wasi| {
            wasi.args(&self.args);
        })?;
        let command = self.pre.instantiate_async(&mut store).await?;
        match command.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => {
                tracing::warn!("command trigger: component \"{id}\" returned an error");
                Ok(1)
            }
            Err(trap) => match trap.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Ok(*code),
                None => Err(anyhow::Error::from(trap).context(format!("component \"{id}\""))),
            },
        }
    }
}
