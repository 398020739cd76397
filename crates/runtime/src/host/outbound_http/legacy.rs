//! Spin 1.x's outbound HTTP, `fermyon:spin/http.send-request`: the whole
//! request in, the whole response out, through the same
//! [`OutboundHttp::send`] as wasi:http. A relative URI is a self request.

use anyhow::Result;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use wasmtime::component::{HasData, Linker};
use wasmtime_wasi_http::{Error, WasiBody};

use super::client::Timeouts;
use super::OutboundHttp;
use crate::host::{state_of, HasCapability};
use crate::store::InstanceState;
use crate::trigger::http::headers::header_pairs;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-legacy",
        world: "legacy-http-host",
        imports: { default: async },
    });
}

use bindings::fermyon::spin::http_types::{HttpError, Method, Request, Response};

/// The largest response body the host buffers for a legacy guest (Spin's
/// limit on host-buffered bytes).
const MAX_RESPONSE_BYTES: usize = crate::host::MAX_HOST_BUFFERED_BYTES;

struct Legacy;

impl HasData for Legacy {
    type Data<'a> = &'a mut OutboundHttp;
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()>
where
    InstanceState: HasCapability<OutboundHttp>,
{
    bindings::fermyon::spin::http::add_to_linker::<_, Legacy>(linker, state_of::<OutboundHttp>)?;
    Ok(())
}

impl bindings::fermyon::spin::http_types::Host for OutboundHttp {}

impl bindings::fermyon::spin::http::Host for OutboundHttp {
    async fn send_request(&mut self, request: Request) -> Result<Response, HttpError> {
        let request = into_http(request)?;
        let response = self
            .send(request, Timeouts::from_options(None))
            .await
            .map_err(legacy_error)?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|err| match err.downcast::<Error>() {
                Ok(err) => legacy_error(*err),
                Err(_too_large) => HttpError::RuntimeError,
            })?
            .to_bytes();
        let headers = header_pairs(&parts.headers).collect();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: Some(headers),
            body: Some(body.to_vec()),
        })
    }
}

fn into_http(request: Request) -> Result<http::Request<WasiBody>, HttpError> {
    let method = match request.method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Patch => http::Method::PATCH,
        Method::Head => http::Method::HEAD,
        Method::Options => http::Method::OPTIONS,
    };
    let uri: http::Uri = request.uri.parse().map_err(|_| HttpError::InvalidUrl)?;
    if uri.scheme().is_none() && !request.uri.starts_with('/') {
        return Err(HttpError::InvalidUrl);
    }
    let mut builder = http::Request::builder().method(method).uri(uri);
    // The client derives Host from the URI (see `set_host_header`).
    for (name, value) in request
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
    {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Bytes::from(request.body.unwrap_or_default());
    builder
        .body(
            http_body_util::Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|_| HttpError::RequestError)
}

fn legacy_error(err: Error) -> HttpError {
    match err {
        Error::HttpRequestDenied => HttpError::DestinationNotAllowed,
        Error::HttpRequestUriInvalid => HttpError::InvalidUrl,
        Error::ConnectionLimitReached => HttpError::TooManyRequests,
        _ => HttpError::RequestError,
    }
}
