//! Requests a guest sends to its own app: self requests (a relative URL,
//! or host `self.alt`) and service chaining (`http://<id>.spin.internal`).
//! Both are served in this process by the HTTP trigger, without DNS or a
//! socket; the trigger registers itself once it is built.

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;
use http::{Request, Response};
use wasmtime_wasi_http::{Error, WasiBody};

/// Where an in-process request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalTarget {
    /// Through the app's router, as if it came from outside.
    App,
    /// Straight to this component (private ones too).
    Component(String),
}

/// What serves in-process requests: the HTTP trigger.
pub trait LocalHttp: Send + Sync {
    /// Serves `request` (its URI's path and query matter; its authority is
    /// the app's own).
    fn serve_local(
        self: Arc<Self>,
        target: LocalTarget,
        request: Request<WasiBody>,
    ) -> BoxFuture<'static, Result<Response<WasiBody>, Error>>;

    /// True when `component` can be reached by chaining.
    fn serves_component(&self, component: &str) -> bool;
}

/// The slot the trigger registers in; weak, so that the trigger (which
/// owns the components, which own this) is not kept alive by it.
#[derive(Default)]
pub struct LocalSlot {
    server: OnceLock<Weak<dyn LocalHttp>>,
}

impl LocalSlot {
    /// Registers the server (the first registration wins).
    pub fn register(&self, server: Weak<dyn LocalHttp>) {
        let _ = self.server.set(server);
    }

    /// The server, while it runs.
    pub fn server(&self) -> Option<Arc<dyn LocalHttp>> {
        self.server.get().and_then(Weak::upgrade)
    }
}
