//! `spinshim`: run Spin apps locally with the same host the shim uses, and push
//! them to (or inspect them in) OCI registries.

mod inspect;
mod push;
mod registry;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

spinshim_runtime::global_allocator!();

/// Run Spin applications on the spinshim host.
#[derive(Parser)]
#[command(name = "spinshim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Up(up::UpArgs),
    Push(push::PushArgs),
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Push(args) => push::run(args).map(|()| 0),
        Command::Inspect(args) => inspect::run(args).map(|()| 0),
    };
    match result {
        // A command app's exit code, as a process keeps it (its low byte).
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the quiet default.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
