//! The memory allocator of the spinshim binaries: jemalloc, with a
//! configuration built in.
//!
//! Serving a request allocates and frees many small objects on the tokio
//! worker threads (hyper, wasi-http resources, the guest's lowered
//! arguments). glibc's malloc spends a tenth of a request's CPU on that and
//! keeps per-thread arenas' freed memory. jemalloc is faster here and, with
//! few arenas and a dirty-page decay, gives memory back within a second
//! after load. Each binary installs it with [`crate::global_allocator!`].

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's `malloc_conf`, NUL-terminated:
/// - `narenas:2`: a pod is small; two arenas keep the per-thread metadata
///   and fragmentation down while two worker threads still rarely contend;
/// - `dirty_decay_ms:1000`, `muzzy_decay_ms:0`: freed pages go back to the
///   kernel a second after a burst instead of staying with the process.
pub const MALLOC_CONF: &[u8; 47] = b"narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Installs jemalloc as the global allocator of the binary that invokes it,
/// together with [`MALLOC_CONF`] (jemalloc reads the configuration from a
/// symbol of the final binary, so it must be defined there).
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        #[allow(non_upper_case_globals)]
        #[export_name = "_rjem_malloc_conf"]
        static jemalloc_malloc_conf: &[u8; $crate::allocator::MALLOC_CONF.len()] =
            $crate::allocator::MALLOC_CONF;
    };
}
