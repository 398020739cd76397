//! `wasi:http/outgoing-handler` 0.2 and `wasi:http/client` 0.3 with
//! relative URLs.
//!
//! wasi-http 48 builds the outgoing URI from the request's authority and
//! rejects an empty one before any hook runs, so a guest's relative URL
//! (a Spin self request) would fail as `HTTP-request-URI-invalid`. These
//! wrappers give such a request the authority `self.alt`, which
//! [`super::OutboundHttp::send`] treats as a self request, and otherwise
//! leave wasi-http's implementation to do the work.

use anyhow::Result;
use http::uri::Authority;
use wasmtime::component::{Accessor, HasData, Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::p3::bindings::http::client as p3_client;
use wasmtime_wasi_http::p3::bindings::http::types::{Request as P3Request, Response as P3Response};
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtxView, WasiHttpView};

use crate::store::InstanceState;

/// The authority a relative request is given.
pub(super) const SELF_AUTHORITY: &str = "self.alt";

/// The outgoing-handler interface as wasi-http 48 serves it (guests
/// importing any 0.2.x bind to it by semver).
const INTERFACE: &str = "wasi:http/outgoing-handler@0.2.12";

type HandleResult = Result<Resource<HostFutureIncomingResponse>, types::ErrorCode>;

/// Links both wrappers.
pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    add_p2_to_linker(linker)?;
    p3_client::add_to_linker::<_, RelativeUrlsP3>(linker, <InstanceState as WasiHttpView>::http)?;
    Ok(())
}

fn add_p2_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    linker.instance(INTERFACE)?.func_wrap(
        "handle",
        |mut store: StoreContextMut<'_, InstanceState>,
         (request, options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<types::RequestOptions>>,
        )|
         -> wasmtime::Result<(HandleResult,)> {
            let mut http = store.data_mut().http();
            give_relative_urls_self_authority(&mut http, &request);
            match outgoing_handler::Host::handle(&mut http, request, options) {
                Ok(future) => Ok((Ok(future),)),
                Err(err) => Ok((Err(types::Host::convert_error_code(&mut http, err)?),)),
            }
        },
    )?;
    Ok(())
}

/// Gives a 0.2-shaped outgoing request without an authority (a relative
/// URL) the authority [`SELF_AUTHORITY`], so it is sent as a self request.
pub(crate) fn give_relative_urls_self_authority(
    http: &mut WasiHttpCtxView<'_>,
    request: &Resource<HostOutgoingRequest>,
) {
    if let Ok(outgoing) = http.table.get_mut(request) {
        if outgoing.authority.as_deref().is_none_or(str::is_empty) {
            outgoing.authority = Some(SELF_AUTHORITY.to_string());
        }
    }
}

/// `wasi:http/client.send` 0.3 through wasi-http, relative URLs first given
/// the authority `self.alt`.
struct RelativeUrlsP3;

impl HasData for RelativeUrlsP3 {
    type Data<'a> = WasiHttpCtxView<'a>;
}

impl<T: 'static> p3_client::HostWithStore<T> for RelativeUrlsP3 {
    async fn send(
        store: &Accessor<T, Self>,
        request: Resource<P3Request>,
    ) -> Result<
        Resource<P3Response>,
        wasmtime_wasi::TrappableError<wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>,
    > {
        store.with(|mut access| {
            if let Ok(outgoing) = access.get().table.get_mut(&request) {
                if outgoing.authority.is_none() {
                    outgoing.authority = Some(Authority::from_static(SELF_AUTHORITY));
                }
            }
        });
        let wasi_http = store.with_getter::<WasiHttp>(store.getter());
        <WasiHttp as p3_client::HostWithStore<T>>::send(&wasi_http, request).await
    }
}
