//! Host capabilities: one module per capability, each owning its manifest
//! permission, its per-instance state and its linker wiring.
//!
//! [`add_to_linker`] is the one place capabilities are registered.

pub mod outbound_http;
pub mod variables;

use anyhow::Result;
use wasmtime::component::Linker;

use crate::store::InstanceState;

/// Links every interface the host serves: WASI (0.2 and 0.3), WASI HTTP
/// (0.2 and 0.3) and Spin's own capabilities.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    variables::add_to_linker(linker)?;
    // Spin 1.x HTTP guests import this interface for its types alone; it
    // has no functions, but the instance must exist for them to link.
    linker.instance("fermyon:spin/http-types")?;
    Ok(())
}
