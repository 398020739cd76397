//! Host-made response bodies, in the body type wasi-http guests produce.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use wasmtime_wasi_http::WasiBody;

/// A body holding `bytes`.
pub fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> WasiBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A response with `status` and an empty body (Spin's 404 and 500).
pub fn status_only(status: StatusCode) -> Response<WasiBody> {
    let mut response = Response::new(empty());
    *response.status_mut() = status;
    response
}
