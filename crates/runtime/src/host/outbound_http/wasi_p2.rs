//! `wasi:http/outgoing-handler` 0.2 with relative URLs.
//!
//! wasi-http 48 builds the outgoing URI from the request's authority and
//! rejects an empty one before any hook runs, so a guest's relative URL
//! (a Spin self request) would fail as `HTTP-request-URI-invalid`. This
//! wrapper gives such a request the authority `self.alt`, which
//! [`super::OutboundHttp::send`] treats as a self request, and otherwise
//! leaves wasi-http's implementation to do the work.

use anyhow::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::WasiHttpView;

use crate::store::InstanceState;

/// The authority a relative request is given.
pub(super) const SELF_AUTHORITY: &str = "self.alt";

/// The outgoing-handler interface as wasi-http 48 serves it (guests
/// importing any 0.2.x bind to it by semver).
const INTERFACE: &str = "wasi:http/outgoing-handler@0.2.12";

type HandleResult = Result<Resource<HostFutureIncomingResponse>, types::ErrorCode>;

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    linker.instance(INTERFACE)?.func_wrap(
        "handle",
        |mut store: StoreContextMut<'_, InstanceState>,
         (request, options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<types::RequestOptions>>,
        )|
         -> wasmtime::Result<(HandleResult,)> {
            let mut http = store.data_mut().http();
            if let Ok(outgoing) = http.table.get_mut(&request) {
                if outgoing.authority.as_deref().is_none_or(str::is_empty) {
                    outgoing.authority = Some(SELF_AUTHORITY.to_string());
                }
            }
            match outgoing_handler::Host::handle(&mut http, request, options) {
                Ok(future) => Ok((Ok(future),)),
                Err(err) => Ok((Err(types::Host::convert_error_code(&mut http, err)?),)),
            }
        },
    )?;
    Ok(())
}
