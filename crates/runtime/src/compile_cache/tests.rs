use std::cell::Cell;

use super::*;
use crate::engine::{build_engine, EngineOptions};

/// The smallest valid component, and one with a custom section after it.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
const OTHER_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00\x00\x04\x03abc";

fn engine() -> Engine {
    build_engine(&EngineOptions {
        disable_pooling: true,
        ..Default::default()
    })
    .unwrap()
    .engine()
    .clone()
}

/// Loads `wasm` through `cache`, counting the compiles.
fn load(cache: &CompileCache, engine: &Engine, wasm: &[u8], compiles: &Cell<u32>) {
    cache
        .load_or_compile(engine, "c", wasm, || {
            compiles.set(compiles.get() + 1);
            Ok(Component::new(engine, wasm)?)
        })
        .unwrap();
}

/// A cache in a new directory that has compiled `EMPTY_COMPONENT` once.
fn one_compiled() -> (tempfile::TempDir, CompileCache, Engine, Cell<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::open(dir.path()).unwrap();
    let engine = engine();
    let compiles = Cell::new(0);
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    (dir, cache, engine, compiles)
}

fn cached_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn code_compiled_once_loads_from_the_cache_and_other_code_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::open(&dir.path().join("compiled")).unwrap();
    let engine = engine();
    let compiles = Cell::new(0);
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    assert_eq!(compiles.get(), 1);
    load(&cache, &engine, OTHER_COMPONENT, &compiles);
    assert_eq!(compiles.get(), 2);
    let files = cached_files(&cache.dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let mode = fs::metadata(&cache.dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_damaged_file_is_compiled_again_and_replaced() {
    let (dir, cache, engine, compiles) = one_compiled();
    let [file] = &cached_files(dir.path())[..] else {
        panic!("one file expected")
    };
    let whole = fs::read(file).unwrap();
    fs::write(file, &whole[..whole.len() / 2]).unwrap();
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    assert_eq!(compiles.get(), 2);
    assert_eq!(fs::read(file).unwrap(), whole);
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    assert_eq!(compiles.get(), 2);
}

#[test]
fn a_directory_others_may_write_to_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = CompileCache::open(dir.path()).err().unwrap().to_string();
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
    assert!(err.contains("mode 777"), "{err}");
}

#[test]
fn a_file_of_another_user_or_a_link_is_not_loaded() {
    let (dir, cache, engine, compiles) = one_compiled();
    let [file] = &cached_files(dir.path())[..] else {
        panic!("one file expected")
    };
    // A link in the file's place, to code this cache did write.
    let elsewhere = dir.path().join("elsewhere");
    fs::rename(file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, file).unwrap();
    load(&cache, &engine, EMPTY_COMPONENT, &compiles);
    assert_eq!(compiles.get(), 2);
    assert!(fs::symlink_metadata(file).unwrap().is_file());
    // Another user's file (only root can make one).
    if effective_uid() == 0 {
        std::os::unix::fs::chown(file, Some(1), None).unwrap();
        load(&cache, &engine, EMPTY_COMPONENT, &compiles);
        assert_eq!(compiles.get(), 3);
        assert_eq!(fs::metadata(file).unwrap().uid(), 0);
    }
}

#[test]
fn the_key_covers_the_code_but_not_the_allocator() {
    let engine = engine();
    let pooling = build_engine(&EngineOptions::default())
        .unwrap()
        .engine()
        .clone();
    let key = cache_key(&engine, EMPTY_COMPONENT);
    assert_eq!(key, cache_key(&engine, EMPTY_COMPONENT));
    assert_ne!(key, cache_key(&engine, OTHER_COMPONENT));
    assert_eq!(key.len(), 64);
    // Code compiled on demand loads in the pooling engine `up` serves with.
    assert_eq!(key, cache_key(&pooling, EMPTY_COMPONENT));
}
