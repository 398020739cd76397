//! A guest `stream<T>` fed by a host task through a bounded channel, so
//! rows reach the guest as the server sends them and the host holds only
//! the channel's few items, however large the result.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use wasmtime::component::{Destination, StreamProducer, StreamResult, VecBuffer};
use wasmtime::StoreContextMut;

/// The receiving end of a host task's channel, as a stream producer. The
/// stream ends when every sender is gone.
pub struct ChannelStream<T>(mpsc::Receiver<T>);

impl<T> ChannelStream<T> {
    pub fn new(receiver: mpsc::Receiver<T>) -> Self {
        Self(receiver)
    }
}

impl<T, D> StreamProducer<D> for ChannelStream<T>
where
    T: Unpin + Send + Sync + 'static,
{
    type Item = T;
    type Buffer = VecBuffer<T>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, T, VecBuffer<T>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let receiver = &mut self.get_mut().0;
        let capacity = match destination.remaining(store) {
            // A zero-length read asks only whether items are coming.
            Some(0) => return Poll::Ready(Ok(StreamResult::Completed)),
            Some(n) => n,
            None => usize::MAX,
        };
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(first)) => {
                let mut items = vec![first];
                while items.len() < capacity {
                    match receiver.try_recv() {
                        Ok(item) => items.push(item),
                        Err(_) => break,
                    }
                }
                destination.set_buffer(items.into());
                Poll::Ready(Ok(StreamResult::Completed))
            }
            Poll::Ready(None) => Poll::Ready(Ok(StreamResult::Dropped)),
            Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}
