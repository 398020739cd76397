//! `wasi:http@0.2.0-rc-2023-10-18` and its `wasi:io` (Spin 2.0, spin-sdk
//! 2.x), served by forwarding to wasmtime's 0.2 implementations.
//!
//! This candidate differs from 0.2 nearly everywhere (constructors taking
//! borrowed headers, a request-options record in milliseconds, a four-case
//! error, `poll-list`/`poll-one`, `forward`), so it has bindings of its own
//! (`wit/wasi-rc-2023-10-18`). Every resource is mapped to the Rust type
//! 0.2's bindings use, so one resource table holds both and the guest's
//! incoming-handler export, renamed to 0.2's by [`super`], is served by the
//! 0.2 path with its 0.2 request and outparam.

use std::time::Duration;

use anyhow::Result;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io as io_latest;
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::WasiView as _;
use wasmtime_wasi_http::p2::bindings::http as http_latest;
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtxView, WasiHttpView};

use crate::host::outbound_http::relative_urls::give_relative_urls_self_authority;
use crate::store::InstanceState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/wasi-rc-2023-10-18",
        world: "host",
        imports: {
            "wasi:io/poll": async | trappable,
            "wasi:io/streams": async | trappable,
            default: trappable,
        },
        trappable_error_type: {
            "wasi:io/streams.stream-error" => wasmtime_wasi::p2::StreamError,
        },
        with: {
            "wasi:io/poll.pollable": wasmtime_wasi::p2::DynPollable,
            "wasi:io/streams.input-stream": wasmtime_wasi::p2::DynInputStream,
            "wasi:io/streams.output-stream": wasmtime_wasi::p2::DynOutputStream,
            "wasi:io/streams.error": wasmtime_wasi::p2::IoError,
            "wasi:http/types.fields": wasmtime_wasi_http::p2::bindings::http::types::Fields,
            "wasi:http/types.incoming-request": wasmtime_wasi_http::p2::bindings::http::types::IncomingRequest,
            "wasi:http/types.outgoing-request": wasmtime_wasi_http::p2::bindings::http::types::OutgoingRequest,
            "wasi:http/types.response-outparam": wasmtime_wasi_http::p2::bindings::http::types::ResponseOutparam,
            "wasi:http/types.incoming-response": wasmtime_wasi_http::p2::bindings::http::types::IncomingResponse,
            "wasi:http/types.incoming-body": wasmtime_wasi_http::p2::bindings::http::types::IncomingBody,
            "wasi:http/types.future-trailers": wasmtime_wasi_http::p2::bindings::http::types::FutureTrailers,
            "wasi:http/types.outgoing-response": wasmtime_wasi_http::p2::bindings::http::types::OutgoingResponse,
            "wasi:http/types.outgoing-body": wasmtime_wasi_http::p2::bindings::http::types::OutgoingBody,
            "wasi:http/types.future-incoming-response": wasmtime_wasi_http::p2::bindings::http::types::FutureIncomingResponse,
        },
    });
}

use bindings::wasi::http::{outgoing_handler, types};
use bindings::wasi::io::{poll, streams};
use http_latest::types::{
    ErrorCode, Fields, FutureIncomingResponse, FutureTrailers, IncomingBody, IncomingRequest,
    IncomingResponse, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
};
use http_latest::types::{
    HostFields as _, HostOutgoingRequest as _, HostOutgoingResponse as _, HostRequestOptions as _,
};
use io_latest::poll::HostPollable as _;
use types::Error;
use wasmtime_wasi::p2::{DynInputStream as InputStream, DynOutputStream as OutputStream};
use wasmtime_wasi::p2::{DynPollable as Pollable, IoError};

/// The guest's wasi:io calls work on the WASI resource table.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

fn wasi_table(state: &mut InstanceState) -> &mut ResourceTable {
    state.ctx().table
}

/// Links the candidate's wasi:io and wasi:http imports.
pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> Result<()> {
    poll::add_to_linker::<InstanceState, Io>(linker, wasi_table)?;
    streams::add_to_linker::<InstanceState, Io>(linker, wasi_table)?;
    let http = <InstanceState as WasiHttpView>::http;
    types::add_to_linker::<InstanceState, WasiHttp>(linker, http)?;
    outgoing_handler::add_to_linker::<InstanceState, WasiHttp>(linker, http)?;
    Ok(())
}

/// A failure this candidate has no way to report: the guest traps with
/// `what` and the reason.
fn trap<T>(what: &str, result: Result<T, impl std::fmt::Display>) -> wasmtime::Result<T> {
    result.map_err(|err| wasmtime::format_err!("{what}: {err}"))
}

/// 0.2's error code as this candidate's error: `unexpected-error` with
/// the code, as Spin answers.
fn error_of(code: ErrorCode) -> Error {
    Error::UnexpectedError(code.to_string())
}

fn method_of(method: types::Method) -> http_latest::types::Method {
    use http_latest::types::Method as M;
    use types::Method as R;
    match method {
        R::Get => M::Get,
        R::Head => M::Head,
        R::Post => M::Post,
        R::Put => M::Put,
        R::Delete => M::Delete,
        R::Connect => M::Connect,
        R::Options => M::Options,
        R::Trace => M::Trace,
        R::Patch => M::Patch,
        R::Other(other) => M::Other(other),
    }
}

fn method_from(method: http_latest::types::Method) -> types::Method {
    use http_latest::types::Method as M;
    use types::Method as R;
    match method {
        M::Get => R::Get,
        M::Head => R::Head,
        M::Post => R::Post,
        M::Put => R::Put,
        M::Delete => R::Delete,
        M::Connect => R::Connect,
        M::Options => R::Options,
        M::Trace => R::Trace,
        M::Patch => R::Patch,
        M::Other(other) => R::Other(other),
    }
}

fn scheme_of(scheme: types::Scheme) -> http_latest::types::Scheme {
    match scheme {
        types::Scheme::Http => http_latest::types::Scheme::Http,
        types::Scheme::Https => http_latest::types::Scheme::Https,
        types::Scheme::Other(other) => http_latest::types::Scheme::Other(other),
    }
}

fn scheme_from(scheme: http_latest::types::Scheme) -> types::Scheme {
    match scheme {
        http_latest::types::Scheme::Http => types::Scheme::Http,
        http_latest::types::Scheme::Https => types::Scheme::Https,
        http_latest::types::Scheme::Other(other) => types::Scheme::Other(other),
    }
}

/// A borrowed handle to the resource `owned` names.
fn borrow<T: 'static>(owned: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(owned.rep())
}

impl types::Host for WasiHttpCtxView<'_> {}

impl types::HostFields for WasiHttpCtxView<'_> {
    fn new(&mut self, entries: Vec<(String, Vec<u8>)>) -> wasmtime::Result<Resource<Fields>> {
        trap("fields constructor", self.from_list(entries))
    }

    fn get(&mut self, fields: Resource<Fields>, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        http_latest::types::HostFields::get(self, fields, name)
    }

    fn set(
        &mut self,
        fields: Resource<Fields>,
        name: String,
        value: Vec<Vec<u8>>,
    ) -> wasmtime::Result<()> {
        trap(
            "fields.set",
            http_latest::types::HostFields::set(self, fields, name, value),
        )
    }

    fn delete(&mut self, fields: Resource<Fields>, name: String) -> wasmtime::Result<()> {
        trap(
            "fields.delete",
            http_latest::types::HostFields::delete(self, fields, name),
        )
    }

    fn append(
        &mut self,
        fields: Resource<Fields>,
        name: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<()> {
        trap(
            "fields.append",
            http_latest::types::HostFields::append(self, fields, name, value),
        )
    }

    fn entries(&mut self, fields: Resource<Fields>) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        http_latest::types::HostFields::entries(self, fields)
    }

    fn clone(&mut self, fields: Resource<Fields>) -> wasmtime::Result<Resource<Fields>> {
        http_latest::types::HostFields::clone(self, fields)
    }

    fn drop(&mut self, fields: Resource<Fields>) -> wasmtime::Result<()> {
        http_latest::types::HostFields::drop(self, fields)
    }
}

impl types::HostIncomingRequest for WasiHttpCtxView<'_> {
    fn method(&mut self, request: Resource<IncomingRequest>) -> wasmtime::Result<types::Method> {
        Ok(method_from(
            http_latest::types::HostIncomingRequest::method(self, request)?,
        ))
    }

    fn path_with_query(
        &mut self,
        request: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        http_latest::types::HostIncomingRequest::path_with_query(self, request)
    }

    fn scheme(
        &mut self,
        request: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Option<types::Scheme>> {
        let scheme = http_latest::types::HostIncomingRequest::scheme(self, request)?;
        Ok(scheme.map(scheme_from))
    }

    fn authority(
        &mut self,
        request: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Option<String>> {
        http_latest::types::HostIncomingRequest::authority(self, request)
    }

    fn headers(
        &mut self,
        request: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Resource<Fields>> {
        http_latest::types::HostIncomingRequest::headers(self, request)
    }

    fn consume(
        &mut self,
        request: Resource<IncomingRequest>,
    ) -> wasmtime::Result<Result<Resource<IncomingBody>, ()>> {
        http_latest::types::HostIncomingRequest::consume(self, request)
    }

    fn drop(&mut self, request: Resource<IncomingRequest>) -> wasmtime::Result<()> {
        http_latest::types::HostIncomingRequest::drop(self, request)
    }
}

impl types::HostOutgoingRequest for WasiHttpCtxView<'_> {
    /// 0.2's request made from a copy of the borrowed headers, then given
    /// each part; a part 0.2 refuses traps, having no error to report.
    fn new(
        &mut self,
        method: types::Method,
        path_with_query: Option<String>,
        scheme: Option<types::Scheme>,
        authority: Option<String>,
        headers: Resource<Fields>,
    ) -> wasmtime::Result<Resource<OutgoingRequest>> {
        let headers = http_latest::types::HostFields::clone(self, headers)?;
        let request = http_latest::types::HostOutgoingRequest::new(self, headers)?;
        let refused = |part: &str| wasmtime::format_err!("outgoing-request: invalid {part}");
        if self
            .set_method(borrow(&request), method_of(method))?
            .is_err()
        {
            return Err(refused("method"));
        }
        if self
            .set_path_with_query(borrow(&request), path_with_query)?
            .is_err()
        {
            return Err(refused("path-with-query"));
        }
        if self
            .set_scheme(borrow(&request), scheme.map(scheme_of))?
            .is_err()
        {
            return Err(refused("scheme"));
        }
        if self.set_authority(borrow(&request), authority)?.is_err() {
            return Err(refused("authority"));
        }
        Ok(request)
    }

    fn write(
        &mut self,
        request: Resource<OutgoingRequest>,
    ) -> wasmtime::Result<Result<Resource<OutgoingBody>, ()>> {
        http_latest::types::HostOutgoingRequest::body(self, request)
    }

    fn drop(&mut self, request: Resource<OutgoingRequest>) -> wasmtime::Result<()> {
        http_latest::types::HostOutgoingRequest::drop(self, request)
    }
}

impl types::HostResponseOutparam for WasiHttpCtxView<'_> {
    fn set(
        &mut self,
        param: Resource<ResponseOutparam>,
        response: Result<Resource<OutgoingResponse>, Error>,
    ) -> wasmtime::Result<()> {
        let response = response.map_err(|err| ErrorCode::InternalError(Some(format!("{err:?}"))));
        http_latest::types::HostResponseOutparam::set(self, param, response)
    }

    fn drop(&mut self, param: Resource<ResponseOutparam>) -> wasmtime::Result<()> {
        http_latest::types::HostResponseOutparam::drop(self, param)
    }
}

impl types::HostIncomingResponse for WasiHttpCtxView<'_> {
    fn status(&mut self, response: Resource<IncomingResponse>) -> wasmtime::Result<u16> {
        http_latest::types::HostIncomingResponse::status(self, response)
    }

    fn headers(
        &mut self,
        response: Resource<IncomingResponse>,
    ) -> wasmtime::Result<Resource<Fields>> {
        http_latest::types::HostIncomingResponse::headers(self, response)
    }

    fn consume(
        &mut self,
        response: Resource<IncomingResponse>,
    ) -> wasmtime::Result<Result<Resource<IncomingBody>, ()>> {
        http_latest::types::HostIncomingResponse::consume(self, response)
    }

    fn drop(&mut self, response: Resource<IncomingResponse>) -> wasmtime::Result<()> {
        http_latest::types::HostIncomingResponse::drop(self, response)
    }
}

impl types::HostIncomingBody for WasiHttpCtxView<'_> {
    fn stream(
        &mut self,
        body: Resource<IncomingBody>,
    ) -> wasmtime::Result<Result<Resource<InputStream>, ()>> {
        http_latest::types::HostIncomingBody::stream(self, body)
    }

    fn finish(
        &mut self,
        body: Resource<IncomingBody>,
    ) -> wasmtime::Result<Resource<FutureTrailers>> {
        http_latest::types::HostIncomingBody::finish(self, body)
    }

    fn drop(&mut self, body: Resource<IncomingBody>) -> wasmtime::Result<()> {
        http_latest::types::HostIncomingBody::drop(self, body)
    }
}

impl types::HostFutureTrailers for WasiHttpCtxView<'_> {
    fn subscribe(
        &mut self,
        trailers: Resource<FutureTrailers>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        http_latest::types::HostFutureTrailers::subscribe(self, trailers)
    }

    /// No trailers is an empty set here: this candidate has no way to say
    /// there are none.
    fn get(
        &mut self,
        trailers: Resource<FutureTrailers>,
    ) -> wasmtime::Result<Option<Result<Resource<Fields>, Error>>> {
        Ok(
            match http_latest::types::HostFutureTrailers::get(self, trailers)? {
                None => None,
                Some(Ok(Ok(Some(trailers)))) => Some(Ok(trailers)),
                Some(Ok(Ok(None))) => Some(Ok(http_latest::types::HostFields::new(self)?)),
                Some(Ok(Err(code))) => Some(Err(error_of(code))),
                Some(Err(())) => {
                    wasmtime::bail!("future-trailers.get: the trailers were taken already")
                }
            },
        )
    }

    fn drop(&mut self, trailers: Resource<FutureTrailers>) -> wasmtime::Result<()> {
        http_latest::types::HostFutureTrailers::drop(self, trailers)
    }
}

impl types::HostOutgoingResponse for WasiHttpCtxView<'_> {
    fn new(
        &mut self,
        status_code: u16,
        headers: Resource<Fields>,
    ) -> wasmtime::Result<Resource<OutgoingResponse>> {
        let headers = http_latest::types::HostFields::clone(self, headers)?;
        let response = http_latest::types::HostOutgoingResponse::new(self, headers)?;
        if self
            .set_status_code(borrow(&response), status_code)?
            .is_err()
        {
            wasmtime::bail!("outgoing-response: invalid status code {status_code}");
        }
        Ok(response)
    }

    fn write(
        &mut self,
        response: Resource<OutgoingResponse>,
    ) -> wasmtime::Result<Result<Resource<OutgoingBody>, ()>> {
        http_latest::types::HostOutgoingResponse::body(self, response)
    }

    fn drop(&mut self, response: Resource<OutgoingResponse>) -> wasmtime::Result<()> {
        http_latest::types::HostOutgoingResponse::drop(self, response)
    }
}

impl types::HostOutgoingBody for WasiHttpCtxView<'_> {
    fn write(
        &mut self,
        body: Resource<OutgoingBody>,
    ) -> wasmtime::Result<Result<Resource<OutputStream>, ()>> {
        http_latest::types::HostOutgoingBody::write(self, body)
    }

    fn finish(
        &mut self,
        body: Resource<OutgoingBody>,
        trailers: Option<Resource<Fields>>,
    ) -> wasmtime::Result<()> {
        trap(
            "outgoing-body.finish",
            http_latest::types::HostOutgoingBody::finish(self, body, trailers),
        )
    }

    fn drop(&mut self, body: Resource<OutgoingBody>) -> wasmtime::Result<()> {
        http_latest::types::HostOutgoingBody::drop(self, body)
    }
}

impl types::HostFutureIncomingResponse for WasiHttpCtxView<'_> {
    fn get(
        &mut self,
        response: Resource<FutureIncomingResponse>,
    ) -> wasmtime::Result<Option<Result<Result<Resource<IncomingResponse>, Error>, ()>>> {
        let got = http_latest::types::HostFutureIncomingResponse::get(self, response)?;
        Ok(got.map(|once| once.map(|answer| answer.map_err(error_of))))
    }

    fn subscribe(
        &mut self,
        response: Resource<FutureIncomingResponse>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        http_latest::types::HostFutureIncomingResponse::subscribe(self, response)
    }

    fn drop(&mut self, response: Resource<FutureIncomingResponse>) -> wasmtime::Result<()> {
        http_latest::types::HostFutureIncomingResponse::drop(self, response)
    }
}

impl outgoing_handler::Host for WasiHttpCtxView<'_> {
    /// Sent as 0.2 sends (relative URLs as self requests), the options'
    /// milliseconds given to 0.2's options as durations.
    fn handle(
        &mut self,
        request: Resource<OutgoingRequest>,
        options: Option<types::RequestOptions>,
    ) -> wasmtime::Result<Result<Resource<FutureIncomingResponse>, Error>> {
        let options = match options {
            Some(options) => Some(request_options(self, options)?),
            None => None,
        };
        give_relative_urls_self_authority(self, &request);
        match http_latest::outgoing_handler::Host::handle(self, request, options) {
            Ok(future) => Ok(Ok(future)),
            Err(err) => Ok(Err(error_of(err.downcast()?))),
        }
    }
}

/// 0.2's request options from this candidate's record.
fn request_options(
    http: &mut WasiHttpCtxView<'_>,
    options: types::RequestOptions,
) -> wasmtime::Result<Resource<http_latest::types::RequestOptions>> {
    let made = http_latest::types::HostRequestOptions::new(http)?;
    let nanos = |ms: Option<u32>| ms.map(|ms| Duration::from_millis(ms.into()).as_nanos() as u64);
    let set = [
        http.set_connect_timeout(borrow(&made), nanos(options.connect_timeout_ms))?,
        http.set_first_byte_timeout(borrow(&made), nanos(options.first_byte_timeout_ms))?,
        http.set_between_bytes_timeout(borrow(&made), nanos(options.between_bytes_timeout_ms))?,
    ];
    if set.iter().any(Result::is_err) {
        http_latest::types::HostRequestOptions::drop(http, made)?;
        wasmtime::bail!("request-options: a timeout out of range");
    }
    Ok(made)
}

impl poll::Host for ResourceTable {
    async fn poll_list(
        &mut self,
        pollables: Vec<Resource<Pollable>>,
    ) -> wasmtime::Result<Vec<u32>> {
        io_latest::poll::Host::poll(self, pollables).await
    }

    async fn poll_one(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        self.block(pollable).await
    }
}

impl poll::HostPollable for ResourceTable {
    async fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        io_latest::poll::HostPollable::drop(self, pollable)
    }
}

impl streams::Host for ResourceTable {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        match err {
            StreamError::Closed => Ok(streams::StreamError::Closed),
            StreamError::LastOperationFailed(err) => {
                Ok(streams::StreamError::LastOperationFailed(self.push(err)?))
            }
            StreamError::Trap(err) => Err(err),
        }
    }
}

impl streams::HostError for ResourceTable {
    async fn to_debug_string(&mut self, err: Resource<IoError>) -> wasmtime::Result<String> {
        io_latest::error::HostError::to_debug_string(self, err)
    }

    async fn drop(&mut self, err: Resource<IoError>) -> wasmtime::Result<()> {
        io_latest::error::HostError::drop(self, err)
    }
}

impl streams::HostInputStream for ResourceTable {
    async fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        io_latest::streams::HostInputStream::read(self, stream, len)
    }

    async fn blocking_read(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        io_latest::streams::HostInputStream::blocking_read(self, stream, len).await
    }

    async fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        io_latest::streams::HostInputStream::skip(self, stream, len)
    }

    async fn blocking_skip(
        &mut self,
        stream: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        io_latest::streams::HostInputStream::blocking_skip(self, stream, len).await
    }

    async fn subscribe(
        &mut self,
        stream: Resource<InputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        io_latest::streams::HostInputStream::subscribe(self, stream)
    }

    async fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        io_latest::streams::HostInputStream::drop(self, stream).await
    }
}

/// How much [`streams::HostOutputStream::forward`] moves per step.
const FORWARD_CHUNK: u64 = 64 * 1024;

impl streams::HostOutputStream for ResourceTable {
    async fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        io_latest::streams::HostOutputStream::check_write(self, stream)
    }

    async fn write(
        &mut self,
        stream: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::write(self, stream, contents)
    }

    async fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::blocking_write_and_flush(self, stream, contents).await
    }

    async fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::flush(self, stream)
    }

    async fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::blocking_flush(self, stream).await
    }

    async fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        io_latest::streams::HostOutputStream::subscribe(self, stream)
    }

    async fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::write_zeroes(self, stream, len)
    }

    async fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        io_latest::streams::HostOutputStream::blocking_write_zeroes_and_flush(self, stream, len)
            .await
    }

    /// This candidate's splice takes the source stream and ends it.
    async fn splice(
        &mut self,
        stream: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let moved = io_latest::streams::HostOutputStream::splice(self, stream, borrow(&src), len);
        io_latest::streams::HostInputStream::drop(self, src)
            .await
            .map_err(StreamError::Trap)?;
        moved
    }

    async fn blocking_splice(
        &mut self,
        stream: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let moved =
            io_latest::streams::HostOutputStream::blocking_splice(self, stream, borrow(&src), len)
                .await;
        io_latest::streams::HostInputStream::drop(self, src)
            .await
            .map_err(StreamError::Trap)?;
        moved
    }

    /// Everything `src` has, until it closes.
    async fn forward(
        &mut self,
        stream: Resource<OutputStream>,
        src: Resource<InputStream>,
    ) -> StreamResult<u64> {
        let mut total = 0u64;
        let moved = loop {
            let step = io_latest::streams::HostOutputStream::blocking_splice(
                self,
                borrow(&stream),
                borrow(&src),
                FORWARD_CHUNK,
            )
            .await;
            match step {
                Ok(n) => total += n,
                Err(StreamError::Closed) => break Ok(total),
                Err(err) => break Err(err),
            }
        };
        io_latest::streams::HostInputStream::drop(self, src)
            .await
            .map_err(StreamError::Trap)?;
        moved
    }

    async fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        io_latest::streams::HostOutputStream::drop(self, stream).await
    }
}
