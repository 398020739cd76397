//! The targets. Each returns quietly on input its reader refuses with an error:
//! only a panic, a hang or a failed property is a finding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use spinshim_app::locked::LockedApp;
use spinshim_app::outbound::{AllowedHost, AllowedHostsConfig};
use spinshim_app::routes::{RoutePattern, Router};
use spinshim_app::{HttpRoute, HttpTriggerConfig, Providers, RuntimeConfig};
use spinshim_oci::{Layer, OciApp};
use url::Url;

use crate::layers_input;

/// `spin.toml` text, read against a small app directory: a manifest that reads
/// must lock, its lock must read back unchanged, and no file it mounts may come
/// from outside the app directory.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = app_dir();
    let Ok(locked) = spinshim_app::parse_manifest(text, "spin.toml", dir) else {
        return;
    };
    let round_tripped = assert_lock_round_trip(&locked);
    use_lock(&round_tripped);
    for component in &locked.components {
        for file in &component.files {
            let Some(source) = &file.content.source else {
                continue;
            };
            let path = file_url_path(source);
            assert!(
                path.starts_with(dir),
                "component {:?} mounts {} from outside the app directory {}",
                component.id,
                path.display(),
                dir.display()
            );
        }
    }
}

/// Lock JSON: what reads must serialise and read back unchanged, and everything
/// the runtime derives from a lock before any code runs must not panic.
pub fn lock(data: &[u8]) {
    let Ok(locked) = LockedApp::from_json(data, "fuzz.lock") else {
        return;
    };
    let round_tripped = assert_lock_round_trip(&locked);
    use_lock(&round_tripped);
}

/// `runtime-config.toml` text: the top-level reader, the section checks and
/// path resolution.
pub fn runtime_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = RuntimeConfig::from_toml_str(text, "runtime-config.toml") else {
        return;
    };
    let known = [
        "key_value_store",
        "sqlite_database",
        "outbound_networking",
        "client_tls",
        "outbound_http",
    ];
    let _ = config.check_sections(&known);
    for key in known {
        let _ = config.raw_section(key);
        let _ = config.section::<serde_json::Value>(key);
        let _ = config.labelled_section::<serde_json::Value>(key);
    }
    if let Some(spinshim_app::StateDir::Path(dir)) = &config.state_dir {
        let _ = config.resolve_path(dir);
    }
    let app = LockedApp::from_json(
        br#"{"spin_lock_version":1,"components":[],"triggers":[]}"#,
        "empty",
    )
    .expect("the empty lock reads");
    let providers = Providers {
        static_values: Default::default(),
        env: HashMap::from([("SPIN_VARIABLE_X".to_owned(), "1".to_owned())]),
    };
    let _ = spinshim_app::resolve_app_variables_with(&app, &providers, &config.variables_providers);
}

/// Lines of text: the routes up to the first empty line, request paths after
/// it. The router's choice for every path must be the one the routing rules
/// give when each route is compared directly (see [`best_route`]).
pub fn route(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (routes, paths) = text.split_once("\n\n").unwrap_or((&text, ""));
    let raw_routes: Vec<String> = routes.lines().map(str::to_owned).collect();
    let mut patterns = Vec::new();
    for raw in &raw_routes {
        let Ok(pattern) = RoutePattern::parse(raw) else {
            assert!(
                Router::build([(raw.clone(), 0)]).is_err(),
                "the router took {raw:?}, which does not parse"
            );
            return;
        };
        assert!(
            raw.starts_with(pattern.component_route()),
            "{raw:?}: the component route {:?} is not its start",
            pattern.component_route()
        );
        patterns.push(pattern);
    }
    let (router, _duplicates) =
        Router::build(raw_routes.iter().cloned().zip(0..)).expect("every route parsed on its own");
    for path in paths.lines() {
        let expected = best_route(&patterns, path);
        let found = router.route(path).map(|m| *m.target());
        assert_eq!(
            found, expected,
            "path {path:?} among routes {raw_routes:?}: the router chose {found:?}"
        );
        if let Some(found) = router.route(path) {
            let pattern = &patterns[*found.target()];
            let names: Vec<&str> = found.named_captures().map(|(name, _)| name).collect();
            assert_eq!(names, pattern.param_names().collect::<Vec<_>>());
            if !pattern.is_wildcard() {
                assert_eq!(found.path_info(), "");
            }
        }
    }
}

/// Lines of text: `allowed_outbound_hosts` entries up to the first empty line,
/// URLs after it. A config allows a URL exactly when one of its entries does,
/// and whatever an entry allows, the allow-everything entry allows too.
pub fn outbound(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (entries, urls) = text.split_once("\n\n").unwrap_or((&text, ""));
    let entries: Vec<&str> = entries.lines().collect();
    let parsed: Vec<AllowedHost> = entries
        .iter()
        .filter_map(|entry| AllowedHost::parse(entry).ok())
        .collect();
    let whole = AllowedHostsConfig::parse(&entries);
    assert_eq!(
        whole.is_ok(),
        parsed.len() == entries.len(),
        "the list and its entries disagree on {entries:?}"
    );
    let _ = AllowedHostsConfig::parse_rendered(&entries);
    let config = AllowedHostsConfig::from_entries(parsed.clone());
    let everything = AllowedHostsConfig::parse(&["*://*:*"]).expect("allow-all parses");
    let _ = config.allows_relative();
    for url in urls.lines() {
        let Ok(url) = Url::parse(url) else {
            continue;
        };
        let allowed = config.allows(&url);
        let by_entry = parsed
            .iter()
            .any(|e| AllowedHostsConfig::from_entries(vec![e.clone()]).allows(&url));
        assert_eq!(allowed, by_entry, "{url} against {entries:?}");
        if allowed {
            assert!(
                everything.allows(&url),
                "{url} allowed by {entries:?} but not by *://*:*"
            );
        }
    }
}

/// Layers as containerd would hand them over (see [`layers_input`]): reading
/// them either fails or gives an app whose files all lie inside the assets
/// directory, as plain files, and whose components' code can be asked for.
pub fn oci_layers(data: &[u8]) {
    let raw = layers_input::decode(data);
    let layers: Vec<Layer<'_>> = raw
        .iter()
        .map(|l| Layer {
            media_type: l.media_type,
            digest: &l.digest,
            bytes: &l.bytes,
            precompiled: false,
        })
        .collect();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let assets = scratch.path().join("assets");
    let Ok(app) = OciApp::from_layers(&layers, &assets) else {
        assert_only_plain_files_inside(scratch.path(), &assets);
        return;
    };
    assert_only_plain_files_inside(scratch.path(), &assets);
    for component in &app.locked.components {
        if let Ok(code) = app.component_code(&component.id) {
            assert!(!code.precompiled, "code from layers is never precompiled");
        }
        for file in &component.files {
            if let Some(source) = &file.content.source {
                let path = file_url_path(source);
                assert!(
                    path.starts_with(&assets),
                    "{} is outside the assets",
                    path.display()
                );
            }
        }
    }
    let round_tripped = assert_lock_round_trip(&app.locked);
    use_lock(&round_tripped);
}

/// Serialises `locked`, reads it back and checks a second serialisation is the
/// same bytes; returns what was read back.
fn assert_lock_round_trip(locked: &LockedApp) -> LockedApp {
    let json = locked.to_json().expect("a lock serialises");
    let again = LockedApp::from_json(&json, "round trip").unwrap_or_else(|err| {
        panic!(
            "our own lock does not read back: {err}\n{}",
            String::from_utf8_lossy(&json)
        )
    });
    let json_again = again.to_json().expect("a lock serialises");
    assert_eq!(
        String::from_utf8_lossy(&json_again),
        String::from_utf8_lossy(&json),
        "the lock changed on a round trip"
    );
    again
}

/// What the runtime works out from a lock before loading code: the HTTP base,
/// trigger configs, the router, variables, each component's config and
/// outbound rules, and keeping a subset of components.
fn use_lock(locked: &LockedApp) {
    let _ = spinshim_app::validate_http_base(locked);
    let mut routes = Vec::new();
    for trigger in locked.triggers_of_type("http") {
        if let Ok(config) = HttpTriggerConfig::from_trigger(trigger) {
            let _ = config.executor();
            if let HttpRoute::Route(route) = config.route {
                routes.push((route, ()));
            }
        }
    }
    let _ = Router::build(routes);
    for kind in ["redis", "command", "mqtt"] {
        for trigger in locked.triggers_of_type(kind) {
            let _ = trigger.component();
        }
    }
    let providers = Providers {
        static_values: Default::default(),
        env: HashMap::new(),
    };
    if let Ok(variables) = spinshim_app::resolve_app_variables(locked, &providers) {
        for component in &locked.components {
            let _ = variables.component_config(component);
            let _ = variables.allowed_outbound_hosts(component);
        }
    }
    for component in &locked.components {
        let _ = component.key_value_stores();
        let _ = component.sqlite_databases();
        let _ = AllowedHostsConfig::parse(&component.allowed_outbound_hosts());
    }
    if let Some(first) = locked.components.first() {
        let mut kept = locked.clone();
        let _ = spinshim_app::retain_components(&mut kept, &[first.id.as_str()]);
    }
}

/// The route the routing rules pick for `path`, compared route by route: the
/// matching route whose segments, read left to right, are most specific (a
/// literal before a `:param`, the end of an exact route before a wildcard);
/// between equals, the later one.
fn best_route(patterns: &[RoutePattern], path: &str) -> Option<usize> {
    let parts = request_parts(path);
    let mut best: Option<(Vec<u8>, usize)> = None;
    for (index, pattern) in patterns.iter().enumerate() {
        let Some(rank) = rank_if_matching(pattern, &parts) else {
            continue;
        };
        // The last registration of a raw route replaces the earlier ones.
        if patterns[index + 1..]
            .iter()
            .any(|p| p.raw() == pattern.raw())
        {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(best_rank, _)| rank <= *best_rank)
        {
            best = Some((rank, index));
        }
    }
    best.map(|(_, index)| index)
}

/// Each segment's kind (0 literal, 1 param), then 0 for an exact end or 2 for
/// a wildcard, when `pattern` matches `parts`.
fn rank_if_matching(pattern: &RoutePattern, parts: &[&str]) -> Option<Vec<u8>> {
    let mut segments: Vec<&str> = pattern.normalized().split('/').skip(1).collect();
    if pattern.is_wildcard() {
        segments.pop();
    }
    let fits = if pattern.is_wildcard() {
        segments.len() <= parts.len()
    } else {
        segments.len() == parts.len()
    };
    if !fits {
        return None;
    }
    let mut rank = Vec::with_capacity(segments.len() + 1);
    for (segment, part) in segments.iter().zip(parts) {
        if segment.starts_with(':') {
            if part.is_empty() {
                return None;
            }
            rank.push(1);
        } else if segment == part {
            rank.push(0);
        } else {
            return None;
        }
    }
    rank.push(if pattern.is_wildcard() { 2 } else { 0 });
    Some(rank)
}

/// A request path's segments: one leading and one trailing `/` do not count.
fn request_parts(path: &str) -> Vec<&str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

/// The path of a `file:` URL the readers wrote.
fn file_url_path(source: &str) -> PathBuf {
    Url::parse(source)
        .ok()
        .and_then(|url| url.to_file_path().ok())
        .unwrap_or_else(|| panic!("a file mount's source is not a file URL: {source}"))
}

/// Fails if anything under `scratch` lies outside `assets` or is not a plain
/// file or directory.
fn assert_only_plain_files_inside(scratch: &Path, assets: &Path) {
    let mut pending = vec![scratch.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("the scratch directory reads") {
            let path = entry.expect("a directory entry").path();
            let kind = std::fs::symlink_metadata(&path)
                .expect("metadata")
                .file_type();
            assert!(
                path.starts_with(assets),
                "{} was written outside the assets directory",
                path.display()
            );
            assert!(
                kind.is_file() || kind.is_dir(),
                "{} is not a plain file",
                path.display()
            );
            if kind.is_dir() {
                pending.push(path);
            }
        }
    }
}

/// A small app directory, made once per process: a Wasm file, files to mount and
/// a directory tree, so `files` globs and sources have something to find. The
/// path is canonical, as the manifest reader makes it.
fn app_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, bytes) in [
            ("app.wasm", &b"\0asm\x0d\x00\x01\x00"[..]),
            ("static/index.html", b"<html>"),
            ("static/sub/a.txt", b"a"),
            ("static/sub/b.txt", b"b"),
            ("data/config.json", b"{}"),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write");
        }
        let canonical = dir.path().canonicalize().expect("a canonical path");
        (dir, canonical)
    })
    .1
}
