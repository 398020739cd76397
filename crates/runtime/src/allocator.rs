//! The memory allocator of the spinshim binaries: jemalloc, with a
//! configuration built in and a few switches for the shim's process tree.
//!
//! Serving a request allocates and frees many small objects on the tokio
//! worker threads (hyper, wasi-http resources, the guest's lowered
//! arguments). glibc's malloc spends a tenth of a request's CPU on that and
//! keeps per-thread arenas' freed memory. jemalloc is faster here, and with
//! few arenas and a dirty-page decay it gives memory back within a second
//! after load. Each binary installs it with [`crate::global_allocator!`].
//!
//! A pod is four processes of the same binary, and most of their threads
//! (runwasi's and ttrpc's) only wait. Two defaults of jemalloc cost every
//! pod memory, so both are turned off and turned back on where they pay:
//! - thread caches: every thread that ever allocates keeps one, stocked
//!   with freed objects (about 1 MiB over a shim's twenty threads). They are
//!   off by default; [`cache_this_thread`] turns one on for a thread that
//!   serves requests or compiles, where they save a tenth of the time.
//! - the purging thread: jemalloc re-creates it after `fork`, but runwasi's
//!   zygote and libcontainer fork with a raw `clone3`, so their children
//!   inherit a purging thread that does not exist, and never give freed
//!   pages back. The shim forks its zygote with [`PagesFreedAtOnce`] in
//!   force and starts the thread after ([`start_purging_thread`]); the
//!   container process restores both ([`serve_in_forked_process`]).

use std::cell::Cell;
use std::ffi::CStr;
use std::sync::Once;

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's `malloc_conf`, NUL-terminated:
/// - `narenas:2`: a pod is small; two arenas keep the metadata and
///   fragmentation down while two worker threads still rarely contend;
/// - `tcache:false`: no thread caches but where [`cache_this_thread`] asks;
/// - `max_background_threads:1`: one purging thread is enough for a pod;
/// - `dirty_decay_ms:1000`, `muzzy_decay_ms:0`: freed pages go back to the
///   kernel a second after a burst instead of staying with the process.
///
/// The purging thread that makes an idle process give its pages back too is
/// started at run time ([`start_purging_thread`]), after any raw fork.
pub const MALLOC_CONF: &[u8] =
    b"narenas:2,tcache:false,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

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

/// Gives the calling thread a jemalloc thread cache, once per thread: for
/// threads that allocate per request or compile. Cheap to call again.
pub fn cache_this_thread() {
    thread_local! {
        static CACHED: Cell<bool> = const { Cell::new(false) };
    }
    CACHED.with(|cached| {
        if !cached.replace(true) {
            write_or_log(c"thread.tcache.enabled", true);
        }
    });
}

/// Gives the calling thread and rayon's threads, where wasmtime compiles
/// functions in parallel, thread caches (compiling is 7% faster with them).
pub fn cache_compile_threads() {
    static RAYON: Once = Once::new();
    RAYON.call_once(|| {
        // Fails only if the global pool already exists, which then compiles
        // without caches: slower, not wrong.
        let _ = rayon::ThreadPoolBuilder::new()
            .start_handler(|_| cache_this_thread())
            .build_global();
    });
    cache_this_thread();
}

/// Starts jemalloc's purging thread in this process, so freed pages go back
/// to the kernel while the process idles too. Call it only in a process
/// that will not be forked with a raw `clone` any more.
pub fn start_purging_thread() {
    write_or_log(c"background_thread", true);
}

/// While it lives, freed pages go back to the kernel at once in this
/// process and in every process forked from it: for forking runwasi's
/// zygote, whose descendants allocate little and never purge otherwise.
/// Dropping it restores the decay of [`MALLOC_CONF`] here.
pub struct PagesFreedAtOnce(());

impl PagesFreedAtOnce {
    pub fn begin() -> Self {
        set_dirty_decay_ms(0);
        PagesFreedAtOnce(())
    }
}

impl Drop for PagesFreedAtOnce {
    fn drop(&mut self) {
        set_dirty_decay_ms(configured_dirty_decay_ms());
    }
}

/// For the container process, forked from the zygote under
/// [`PagesFreedAtOnce`]: restores the configured decay and starts the
/// purging thread, so the pod gives memory back after load like `up` does.
pub fn serve_in_forked_process() {
    set_dirty_decay_ms(configured_dirty_decay_ms());
    start_purging_thread();
}

fn configured_dirty_decay_ms() -> isize {
    // SAFETY: `opt.dirty_decay_ms` is a documented `ssize_t` mallctl.
    unsafe { tikv_jemalloc_ctl::raw::read(b"opt.dirty_decay_ms\0") }.unwrap_or(1000)
}

/// Sets the dirty decay of every existing arena and of arenas made later.
fn set_dirty_decay_ms(ms: isize) {
    write_or_log(c"arenas.dirty_decay_ms", ms);
    // SAFETY: `arenas.narenas` is a documented `unsigned` mallctl.
    let arenas: u32 = unsafe { tikv_jemalloc_ctl::raw::read(b"arenas.narenas\0") }.unwrap_or(0);
    for arena in 0..arenas {
        let name = format!("arena.{arena}.dirty_decay_ms\0");
        // SAFETY: `arena.<i>.dirty_decay_ms` is a documented `ssize_t`
        // mallctl. An arena no thread has used yet does not exist (EFAULT)
        // and will take `arenas.dirty_decay_ms` when it is made.
        let _ = unsafe { tikv_jemalloc_ctl::raw::write(name.as_bytes(), ms) };
    }
}

fn write_or_log<T>(name: &CStr, value: T) {
    // SAFETY: every caller passes a documented mallctl of type `T`.
    if let Err(err) = unsafe { tikv_jemalloc_ctl::raw::write(name.to_bytes_with_nul(), value) } {
        tracing::debug!("jemalloc {}: {err}", name.to_string_lossy());
    }
}
