//! The allocator macro installs jemalloc with the built-in configuration
//! (a misspelt symbol would leave jemalloc on its defaults, silently).

spinshim_runtime::global_allocator!();

#[test]
fn jemalloc_runs_with_the_built_in_configuration() {
    use tikv_jemalloc_ctl::raw;
    // SAFETY: these `opt.*` names are documented jemalloc mallctls of these types.
    let narenas: u32 = unsafe { raw::read(b"opt.narenas\0") }.expect("opt.narenas");
    let dirty: isize = unsafe { raw::read(b"opt.dirty_decay_ms\0") }.expect("opt.dirty_decay_ms");
    let muzzy: isize = unsafe { raw::read(b"opt.muzzy_decay_ms\0") }.expect("opt.muzzy_decay_ms");
    let background: bool =
        unsafe { raw::read(b"opt.background_thread\0") }.expect("opt.background_thread");
    assert_eq!((narenas, dirty, muzzy, background), (2, 1000, 0, true));
}
