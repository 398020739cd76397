//! Guest stdout and stderr, copied to the process's own with each line
//! prefixed by the component id, so the output of many components served
//! by one process stays attributable.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which of the process's streams a guest stream goes to.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The process's stdout.
    Stdout,
    /// The process's stderr.
    Stderr,
}

/// A [`StdoutStream`] that writes `[<component-id>] <line>` lines.
#[derive(Clone)]
pub struct PrefixedOutput {
    prefix: Arc<str>,
    target: Target,
}

impl PrefixedOutput {
    /// Output for `component_id` going to `target`.
    pub fn new(component_id: &str, target: Target) -> Self {
        Self {
            prefix: format!("[{component_id}] ").into(),
            target,
        }
    }
}

impl IsTerminal for PrefixedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PrefixedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            prefix: self.prefix.clone(),
            target: self.target,
            pending: Vec::new(),
        })
    }
}

/// Buffers a partial line until its newline arrives (or the stream ends).
struct LineWriter {
    prefix: Arc<str>,
    target: Target,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let mut out = Vec::with_capacity(self.prefix.len() + line.len() + 1);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(line);
        out.push(b'\n');
        // Output is best effort: a closed stdout must not fail the guest.
        let _ = match self.target {
            Target::Stdout => std::io::stdout().lock().write_all(&out),
            Target::Stderr => std::io::stderr().lock().write_all(&out),
        };
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut rest = buf;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(newline);
            if self.pending.is_empty() {
                self.emit(line);
            } else {
                self.pending.extend_from_slice(line);
                let whole = std::mem::take(&mut self.pending);
                self.emit(&whole);
            }
            rest = &tail[1..];
        }
        self.pending.extend_from_slice(rest);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.flush_pending();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_pending();
    }
}
