//! The spinshim host: runs Spin applications on wasmtime.
//!
//! - [`engine`]: the one wasmtime engine of a process and its epoch clock.
//! - [`prepare`]: a locked app → compiled, linked, configured components.
//! - [`store`]: what one guest instance holds, and how it is created.
//! - [`host`]: host capabilities, one module each.
//! - [`trigger`]: how requests reach guests (HTTP).
//! - [`http_app`]: all of the above put together, ready to serve.
//! - [`files`], [`stdio`]: the guest's filesystem and output.
//! - [`signals`]: when a host process should stop.
//! - [`allocator`]: the binaries' memory allocator and its settings.

pub mod allocator;
pub mod engine;
pub mod files;
pub mod host;
pub mod http_app;
pub mod prepare;
pub mod signals;
pub mod stdio;
pub mod store;
pub mod trigger;

pub use engine::{build_engine, EngineOptions, EpochTicker, RuntimeEngine};
pub use http_app::HttpApp;
pub use prepare::{compile_from_source, PrepareOptions, PreparedApp};
pub use trigger::http::{HttpTrigger, HttpTriggerOptions};
