//! What a client connection is doing, as the listener's timeouts judge it.
//!
//! hyper's own header-read timer restarts whenever a connection waits for
//! a request, so it cannot tell a client trickling a request head
//! (slowloris) from an idle keep-alive connection, and HTTP/2 has none.
//! Instead the connection's socket is wrapped: the first byte read while no
//! request is in flight starts the header clock, the end of the last
//! request in flight starts the idle clock, and [`expired`] resolves when
//! either runs out.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;

use super::limits::HttpLimits;

/// No head started since the connection last became idle.
const NO_HEAD: u64 = u64::MAX;

/// The longest a connection's watch sleeps before looking again (a head
/// may start, or a request end, at any moment).
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// One connection's activity, shared by its socket, its requests and its
/// watch.
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `opened` when no request was left in flight.
    idle_since: AtomicU64,
    /// Milliseconds since `opened` of the first byte read while idle.
    head_started: AtomicU64,
}

/// Why a connection was closed by the listener.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// A request head took longer than the header-read timeout.
    HeaderRead(Duration),
    /// No request came within the idle timeout.
    Idle(Duration),
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expiry::HeaderRead(limit) => {
                write!(f, "request head not complete within {limit:?}")
            }
            Expiry::Idle(limit) => write!(f, "idle for {limit:?}"),
        }
    }
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NO_HEAD),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NO_HEAD - 1)
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> RequestInFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NO_HEAD, Ordering::Release);
        RequestInFlight(self.clone())
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started.load(Ordering::Acquire) == NO_HEAD
        {
            self.head_started.store(self.now(), Ordering::Release);
        }
    }

    /// The timeout that has run out, else how long to wait before asking
    /// again.
    fn check(&self, limits: &HttpLimits) -> Result<Duration, Expiry> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Ok(WATCH_INTERVAL);
        }
        let now = self.now();
        let head_started = self.head_started.load(Ordering::Acquire);
        let (since, limit, expiry): (u64, _, fn(Duration) -> Expiry) = if head_started != NO_HEAD {
            (head_started, limits.header_read_timeout, Expiry::HeaderRead)
        } else {
            let since = self.idle_since.load(Ordering::Acquire);
            (since, limits.idle_timeout, Expiry::Idle)
        };
        let Some(limit) = limit else {
            return Ok(WATCH_INTERVAL);
        };
        let elapsed = Duration::from_millis(now.saturating_sub(since));
        match limit.checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Ok(left.min(WATCH_INTERVAL)),
            _ => Err(expiry(limit)),
        }
    }
}

/// Resolves when the connection ran out of one of its timeouts.
pub(super) async fn expired(activity: &Activity, limits: &HttpLimits) -> Expiry {
    if limits.header_read_timeout.is_none() && limits.idle_timeout.is_none() {
        return std::future::pending().await;
    }
    loop {
        match activity.check(limits) {
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(expiry) => return expiry,
        }
    }
}

/// A request in flight on its connection; dropped when its response body
/// is done (or dropped).
pub(super) struct RequestInFlight(Arc<Activity>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            activity.idle_since.store(activity.now(), Ordering::Release);
        }
    }
}

/// A connection's socket, reporting what it reads to its [`Activity`], and
/// closed gracefully when dropped.
pub(super) struct WatchedSocket {
    socket: TcpStream,
    activity: Arc<Activity>,
}

impl WatchedSocket {
    pub(super) fn new(socket: TcpStream, activity: Arc<Activity>) -> Self {
        Self { socket, activity }
    }
}

/// How long a closed connection's unread input is drained.
const LINGER: Duration = Duration::from_secs(2);

impl Drop for WatchedSocket {
    /// A socket closed with input still unread (a guest that answered
    /// without reading the body) makes the kernel reset the connection,
    /// and the client loses the answer it was sent. So the write side is
    /// shut first and the rest of the input drained for a while, as
    /// servers' "lingering close" does.
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(std_socket) = self.socket_clone() else {
            return;
        };
        runtime.spawn(async move {
            let Ok(mut socket) = TcpStream::from_std(std_socket) else {
                return;
            };
            let _ = socket.shutdown().await;
            let mut sink = [0u8; 16 << 10];
            let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
    }
}

impl WatchedSocket {
    /// The socket, as a second handle the lingering close can own.
    fn socket_clone(&self) -> io::Result<std::net::TcpStream> {
        use std::os::fd::AsFd as _;
        let fd = self.socket.as_fd().try_clone_to_owned()?;
        let socket = std::net::TcpStream::from(fd);
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

impl AsyncRead for WatchedSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header: u64, idle: u64) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Some(Duration::from_millis(header)),
            idle_timeout: Some(Duration::from_millis(idle)),
            ..HttpLimits::default()
        }
    }

    #[test]
    fn a_started_head_runs_the_header_clock_and_a_request_stops_it() {
        let activity = Activity::new();
        let limits = limits(20, 10_000);
        activity.bytes_read();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            activity.check(&limits),
            Err(Expiry::HeaderRead(Duration::from_millis(20)))
        );
        let request = activity.request_started();
        std::thread::sleep(Duration::from_millis(30));
        assert!(activity.check(&limits).is_ok(), "a request is in flight");
        drop(request);
        assert!(activity.check(&limits).is_ok(), "the idle clock restarted");
    }

    #[test]
    fn a_connection_without_requests_idles_out() {
        let activity = Activity::new();
        let limits = limits(10_000, 20);
        assert!(activity.check(&limits).is_ok());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            activity.check(&limits),
            Err(Expiry::Idle(Duration::from_millis(20)))
        );
    }

    #[test]
    fn no_timeouts_never_expire() {
        let activity = Activity::new();
        let limits = HttpLimits {
            header_read_timeout: None,
            idle_timeout: None,
            ..HttpLimits::default()
        };
        activity.bytes_read();
        assert_eq!(activity.check(&limits), Ok(WATCH_INTERVAL));
    }
}
