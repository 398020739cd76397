//! The spinshim host: runs Spin applications on wasmtime.
//!
//! - [`app`]: the one start-up sequence ([`App::start`], [`App::run`]).
//! - [`engine`]: the one wasmtime engine of a process and its epoch clock.
//! - [`code`]: component code (Wasm, or our own precompiled code) → wasmtime.
//! - [`compile_cache`]: `spinshim up`'s compiled code, kept between starts.
//! - [`prepare`]: a locked app → compiled, linked, configured components.
//! - [`store`]: what one guest instance holds, and how it is created.
//! - [`host`]: host capabilities, one module each.
//! - [`trigger`]: how requests reach guests (HTTP).
//! - [`files`], [`stdio`]: the guest's filesystem and output.
//! - [`signals`]: when a host process should stop.
//! - [`allocator`]: the binaries' memory allocator and its settings.

pub mod allocator;
pub mod app;
pub mod code;
pub mod compile_cache;
pub mod componentize;
mod compose;
pub mod engine;
pub mod files;
pub mod host;
pub mod prepare;
pub mod release_candidates;
pub mod signals;
pub mod stdio;
pub mod store;
pub mod trigger;

pub use app::{App, StartOptions, StateDirChoice};
pub use code::{CodeSource, ComponentCode, FromLock, Precompiler};
pub use compile_cache::CompileCache;
pub use engine::{build_engine, EngineOptions, EpochTicker, RuntimeEngine};
pub use host::{SqlSeed, StateSeed};
pub use prepare::{PrepareOptions, PreparedApp};
pub use trigger::http::{HttpLimits, HttpTrigger, HttpTriggerOptions};
