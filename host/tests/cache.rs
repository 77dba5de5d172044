//! Components are compiled once: a second runtime over the same cache
//! directory (a restart) loads the compiled artifact instead.

use std::path::Path;

use tgw::runtime::Runtime;

#[test]
fn a_restart_loads_compiled_components_from_disk() {
    let cache = tempfile::tempdir().unwrap();
    let echo = Path::new(tgw::guests::GUEST_ECHO);

    let first = Runtime::new(Some(cache.path())).unwrap();
    let loaded = first.load_file(echo).unwrap();
    assert!(!loaded.from_cache, "an empty cache cannot hit");
    assert!(loaded.digest.starts_with("sha256:") && loaded.digest.len() == 7 + 64);
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one artifact written");
    drop(first);

    let second = Runtime::new(Some(cache.path())).unwrap();
    let reloaded = second.load_file(echo).unwrap();
    assert!(reloaded.from_cache, "the restart recompiled");
    assert_eq!(reloaded.digest, loaded.digest);

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cache.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn a_corrupt_cache_entry_is_recompiled_not_trusted() {
    let cache = tempfile::tempdir().unwrap();
    let echo = Path::new(tgw::guests::GUEST_ECHO);
    Runtime::new(Some(cache.path()))
        .unwrap()
        .load_file(echo)
        .unwrap();
    let entry = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, b"not a compiled component").unwrap();

    let runtime = Runtime::new(Some(cache.path())).unwrap();
    let loaded = runtime.load_file(echo).unwrap();
    assert!(!loaded.from_cache);
    assert_ne!(std::fs::read(&entry).unwrap(), b"not a compiled component");
}

#[test]
fn bytes_that_are_not_a_component_are_refused_with_the_reason() {
    let runtime = Runtime::new(None).unwrap();
    let error = runtime
        .load_bytes("junk.wasm", b"\0asm junk")
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("junk.wasm is not a valid WebAssembly component"),
        "{error}"
    );
    let error = runtime
        .load_file(Path::new("/nonexistent/x.wasm"))
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("reading component /nonexistent/x.wasm"),
        "{error}"
    );
}
