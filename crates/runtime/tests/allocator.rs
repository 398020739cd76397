//! The allocator macro installs jemalloc with the built-in configuration
//! (a misspelt symbol would leave jemalloc on its defaults, silently), and
//! the run-time switches of `allocator.rs` reach jemalloc.

use spinshim_runtime::allocator;
use tikv_jemalloc_ctl::raw;

spinshim_runtime::global_allocator!();

fn read<T: Copy>(name: &[u8]) -> T {
    // SAFETY: the callers name documented jemalloc mallctls of type `T`.
    unsafe { raw::read(name) }.unwrap_or_else(|err| panic!("{name:?}: {err}"))
}

#[test]
fn jemalloc_runs_with_the_built_in_configuration() {
    let narenas: u32 = read(b"opt.narenas\0");
    let dirty: isize = read(b"opt.dirty_decay_ms\0");
    let muzzy: isize = read(b"opt.muzzy_decay_ms\0");
    let tcache: bool = read(b"opt.tcache\0");
    let background: bool = read(b"opt.background_thread\0");
    assert_eq!(
        (narenas, dirty, muzzy, tcache, background),
        (2, 1000, 0, false, false)
    );
}

#[test]
fn only_threads_that_ask_get_a_cache() {
    std::thread::spawn(|| {
        assert!(!read::<bool>(b"thread.tcache.enabled\0"));
        allocator::cache_this_thread();
        assert!(read::<bool>(b"thread.tcache.enabled\0"));
    })
    .join()
    .unwrap();
    std::thread::spawn(|| assert!(!read::<bool>(b"thread.tcache.enabled\0")))
        .join()
        .unwrap();
}

#[test]
fn decay_and_purging_switch_as_the_shim_forks() {
    // Make sure arena 0 exists, so its own decay is checked too.
    drop(vec![0u8; 1 << 16]);
    let arena0 = || read::<isize>(b"arena.0.dirty_decay_ms\0");
    let new_arenas = || read::<isize>(b"arenas.dirty_decay_ms\0");
    let at_once = allocator::PagesFreedAtOnce::begin();
    assert_eq!((arena0(), new_arenas()), (0, 0));
    drop(at_once);
    assert_eq!((arena0(), new_arenas()), (1000, 1000));

    allocator::serve_in_forked_process();
    assert_eq!(arena0(), 1000);
    assert!(read::<bool>(b"background_thread\0"));
}
