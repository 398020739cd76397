//! The bodies between a client and a guest, as the listener guards them.
//!
//! A request body is counted against the body limit as the guest reads
//! it, and a fault of the client's (a malformed chunk, a body over the
//! limit, a connection cut mid-body) is remembered: the guest sees a
//! stream error, and if it then fails, the client gets the 4xx its own
//! fault deserves instead of a 500. A response body carries the request's
//! slot and in-flight mark until it is sent, so streaming responses count
//! as in flight.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use wasmtime_wasi_http::WasiBody;

/// What went wrong with a request body on the client's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientFault {
    /// More bytes than the body limit.
    TooLarge,
    /// Not valid HTTP framing, or cut off.
    Malformed,
}

impl ClientFault {
    /// The status a failed request gets for this fault.
    pub(super) fn status(self) -> StatusCode {
        match self {
            ClientFault::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ClientFault::Malformed => StatusCode::BAD_REQUEST,
        }
    }
}

/// Where a request body records its client's fault.
pub(super) type FaultRecord = Arc<OnceLock<ClientFault>>;

/// A request body from hyper, limited and watched for client faults.
pub(super) struct RequestBody {
    incoming: Incoming,
    limit: Option<u64>,
    read: u64,
    fault: FaultRecord,
}

impl RequestBody {
    pub(super) fn new(incoming: Incoming, limit: Option<u64>, fault: FaultRecord) -> Self {
        Self {
            incoming,
            limit,
            read: 0,
            fault,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.fault.get().is_some() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.incoming).poll_frame(cx);
        let frame = match polled {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(err))) => {
                let _ = self.fault.set(ClientFault::Malformed);
                return Poll::Ready(Some(Err(err.into())));
            }
            other => return other.map_err(Into::into),
        };
        if let Some(data) = frame.data_ref() {
            self.read += data.len() as u64;
            if let Some(limit) = self.limit.filter(|limit| self.read > *limit) {
                let _ = self.fault.set(ClientFault::TooLarge);
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(
                    Some(limit),
                ))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// A response body holding what must live until it is sent.
pub(super) struct ResponseBody<G> {
    body: WasiBody,
    _held: G,
}

impl<G> ResponseBody<G> {
    pub(super) fn new(body: WasiBody, held: G) -> Self {
        Self { body, _held: held }
    }
}

impl<G: Unpin> Body for ResponseBody<G> {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
