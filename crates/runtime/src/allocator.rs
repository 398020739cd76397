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
///   kernel a second after a burst instead of staying with the process;
/// - `background_thread:true`, `max_background_threads:1`: one thread does
///   that purging, so an idle process (a pod between requests, a shim after
///   its start-up) gives its freed memory back too.
pub const MALLOC_CONF: &[u8] = b"narenas:2,background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// jemalloc's `const char *malloc_conf`, as a static the linker can export.
#[repr(transparent)]
pub struct ConfPtr(pub *const u8);

// SAFETY: it points at an immutable `'static` byte string.
unsafe impl Sync for ConfPtr {}

/// Installs jemalloc as the global allocator of the binary that invokes it,
/// together with [`MALLOC_CONF`] (jemalloc reads the configuration from a
/// symbol of the final binary, so it must be defined there).
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static GLOBAL_ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        #[export_name = "_rjem_malloc_conf"]
        static JEMALLOC_MALLOC_CONF: $crate::allocator::ConfPtr =
            $crate::allocator::ConfPtr($crate::allocator::MALLOC_CONF.as_ptr());
    };
}
