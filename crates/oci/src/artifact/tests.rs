use serde_json::json;

use super::*;
use crate::test_support::{text, wasm, TempApp};

const ONE_COMPONENT: &str = r#"
spin_manifest_version = 2
[application]
name = "sentinel-app"
version = "1.2.3"
description = "a test app"
authors = ["Ada <ada@example.com>", "Bob"]
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "app.wasm"
files = ["static/**/*"]
"#;

fn kinds(artifact: &Artifact) -> Vec<&str> {
    artifact
        .layers
        .iter()
        .map(|l| match l.media_type.as_str() {
            media_types::WASM_LAYER => "wasm",
            media_types::DATA_LAYER => "data",
            media_types::ARCHIVE_LAYER => "archive",
            media_types::LOCKED_APP => "lock",
            _ => "other",
        })
        .collect()
}

fn build_default(locked: &LockedApp) -> Artifact {
    build(locked, &ArtifactOptions::default()).unwrap()
}

#[test]
fn sources_become_digests_and_the_origin_is_dropped() {
    let big = wasm(1, 4096);
    let app = TempApp::new(ONE_COMPONENT, &[("app.wasm", &big)]);
    let locked = app.load();
    assert!(locked.metadata.contains_key("origin"));
    let artifact = build_default(&locked);

    assert_eq!(kinds(&artifact), ["wasm", "lock"]);
    assert_eq!(artifact.layers[0].data, big);
    let source = &artifact.locked.components[0].source;
    assert_eq!(source.content_type, "application/wasm");
    assert_eq!(
        source.content.digest.as_deref(),
        Some(sha256_digest(&big).as_str())
    );
    assert_eq!(source.content.source, None);
    assert_eq!(source.content.inline, None);
    assert!(!artifact.locked.metadata.contains_key("origin"));

    let lock: Value = serde_json::from_slice(&artifact.lock_layer().unwrap().data).unwrap();
    assert_eq!(lock["spin_lock_version"], 0);
    assert!(lock["metadata"].get("origin").is_none());
    assert_eq!(
        lock["components"][0]["source"],
        json!({"content_type": "application/wasm", "digest": sha256_digest(&big)})
    );
    assert_eq!(lock["metadata"]["name"], "sentinel-app");
}

#[test]
fn small_wasm_is_inlined_and_still_pushed_as_a_layer() {
    let tiny = wasm(2, 128);
    let app = TempApp::new(ONE_COMPONENT, &[("app.wasm", &tiny)]);
    let artifact = build_default(&app.load());
    assert_eq!(kinds(&artifact), ["wasm", "lock"]);
    let content = &artifact.locked.components[0].source.content;
    assert_eq!(content.inline.as_deref(), Some(tiny.as_slice()));
    assert_eq!(
        content.digest.as_deref(),
        Some(sha256_digest(&tiny).as_str())
    );
}

#[test]
fn files_get_relative_paths_and_only_files_over_128_bytes_become_layers() {
    let at_limit = text("s", 128);
    let over_limit = text("o", 129);
    let app = TempApp::new(
        ONE_COMPONENT,
        &[
            ("app.wasm", &wasm(1, 300)),
            ("static/small.txt", &at_limit),
            ("static/sub/big.txt", &over_limit),
        ],
    );
    let artifact = build_default(&app.load());
    assert_eq!(artifact.mode, AssemblyMode::Simple);
    assert_eq!(kinds(&artifact), ["wasm", "data", "lock"]);
    assert_eq!(artifact.layers[1].data, over_limit);

    let lock: Value = serde_json::from_slice(&artifact.lock_layer().unwrap().data).unwrap();
    let inline = base64_of(&at_limit);
    assert_eq!(
        lock["components"][0]["files"],
        json!([
            {"inline": inline, "digest": sha256_digest(&at_limit), "path": "static/small.txt"},
            {"digest": sha256_digest(&over_limit), "path": "static/sub/big.txt"}
        ])
    );
}

fn base64_of(bytes: &[u8]) -> String {
    let entry = ContentRef {
        inline: Some(bytes.to_vec()),
        ..Default::default()
    };
    serde_json::to_value(entry).unwrap()["inline"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn identical_sources_and_files_are_pushed_once() {
    let manifest = r#"
spin_manifest_version = 2
[application]
name = "dedup"
[[trigger.http]]
route = "/a"
component = "a"
[[trigger.http]]
route = "/b"
component = "b"
[component.a]
source = "one.wasm"
files = ["a/*"]
[component.b]
source = "two.wasm"
files = ["b/*"]
"#;
    let same_wasm = wasm(7, 1000);
    let page = text("page", 500);
    let app = TempApp::new(
        manifest,
        &[
            ("one.wasm", &same_wasm),
            ("two.wasm", &same_wasm),
            ("a/index.html", &page),
            ("a/copy.html", &page),
            ("b/index.html", &page),
        ],
    );
    let artifact = build_default(&app.load());
    assert_eq!(kinds(&artifact), ["wasm", "data", "lock"]);
    let digests: Vec<_> = artifact
        .locked
        .components
        .iter()
        .map(|c| c.source.content.digest.clone())
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(artifact.locked.components[0].files.len(), 2);
    assert_eq!(artifact.locked.components[1].files.len(), 1);
}

#[test]
fn the_config_names_the_lock_layer_and_the_manifest_describes_every_blob() {
    let app = TempApp::new(ONE_COMPONENT, &[("app.wasm", &wasm(1, 300))]);
    let artifact = build_default(&app.load());
    let lock = artifact.lock_layer().unwrap();
    let config = ImageConfig::from_json(&artifact.config.data, "config").unwrap();
    assert_eq!(config.locked_app_digest(), Some(lock.digest.as_str()));
    assert_eq!(config.architecture, "wasm");
    assert_eq!(config.os, "Wasip1");
    assert_eq!(artifact.config.media_type, media_types::OCI_IMAGE_CONFIG);

    let bytes = artifact.manifest_bytes().unwrap();
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(
        manifest["config"],
        json!({
            "mediaType": media_types::OCI_IMAGE_CONFIG,
            "digest": sha256_digest(&artifact.config.data),
            "size": artifact.config.data.len()
        })
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (descriptor, blob) in layers.iter().zip(&artifact.layers) {
        assert_eq!(descriptor["digest"], sha256_digest(&blob.data));
        assert_eq!(descriptor["size"], blob.data.len());
        assert_eq!(descriptor["mediaType"], blob.media_type);
    }
}

#[test]
fn standard_annotations_are_inferred_but_never_override_explicit_ones() {
    let app = TempApp::new(ONE_COMPONENT, &[("app.wasm", &wasm(1, 300))]);
    let mut explicit = BTreeMap::new();
    explicit.insert(ANNOTATION_TITLE.to_owned(), "explicit-title".to_owned());
    explicit.insert("com.example.team".to_owned(), "web".to_owned());
    let options = ArtifactOptions {
        annotations: explicit,
        created: Some("2026-01-02T03:04:05+00:00".into()),
        force_archive: false,
    };
    let artifact = build(&app.load(), &options).unwrap();
    let expected: BTreeMap<String, String> = [
        (ANNOTATION_TITLE, "explicit-title"),
        ("com.example.team", "web"),
        (ANNOTATION_DESCRIPTION, "a test app"),
        (ANNOTATION_VERSION, "1.2.3"),
        (ANNOTATION_AUTHORS, "Ada <ada@example.com>, Bob"),
        (ANNOTATION_CREATED, "2026-01-02T03:04:05+00:00"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(artifact.annotations, expected);
    assert_eq!(artifact.manifest().annotations, expected);
}

#[test]
fn archive_mode_packs_each_components_files_into_one_layer_and_keeps_the_lock_entries() {
    let app = TempApp::new(
        ONE_COMPONENT,
        &[
            ("app.wasm", &wasm(1, 300)),
            ("static/a.txt", &text("a", 10)),
            ("static/b.txt", &text("b", 1000)),
        ],
    );
    let locked = app.load();
    let simple = build_default(&locked);
    let archived = build(
        &locked,
        &ArtifactOptions {
            force_archive: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(archived.mode, AssemblyMode::Archive);
    assert_eq!(kinds(&archived), ["wasm", "archive", "lock"]);
    assert_eq!(
        archived.locked.components[0].files,
        simple.locked.components[0].files
    );
}

fn many_files_app(count: usize) -> TempApp {
    let contents: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| (format!("static/f{i}.txt"), text(&format!("{i}-"), 200)))
        .collect();
    let mut files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let module = wasm(1, 300);
    files.push(("app.wasm", &module));
    TempApp::new(ONE_COMPONENT, &files)
}

#[test]
fn archive_mode_starts_at_500_layers_besides_the_lock() {
    let simple = build_default(&many_files_app(498).load());
    assert_eq!(simple.mode, AssemblyMode::Simple);
    assert_eq!(simple.layers.len(), 500);

    let archived = build_default(&many_files_app(499).load());
    assert_eq!(archived.mode, AssemblyMode::Archive);
    assert_eq!(kinds(&archived), ["wasm", "archive", "lock"]);
    assert_eq!(archived.locked.components[0].files.len(), 499);
}

#[test]
fn a_source_that_is_not_wasm_is_refused_naming_the_component_and_file() {
    let app = TempApp::new(ONE_COMPONENT, &[("app.wasm", b"#!/bin/sh\n")]);
    let err = build(&app.load(), &ArtifactOptions::default()).unwrap_err();
    let path = app.dir.path().canonicalize().unwrap().join("app.wasm");
    assert_eq!(
        err.to_string(),
        format!("component \"web\": {} is not a Wasm binary", path.display())
    );
}

fn lock_with_component(component: Value) -> LockedApp {
    let lock = json!({
        "spin_lock_version": 0,
        "metadata": {"name": "hand-written"},
        "triggers": [],
        "components": [component]
    });
    LockedApp::from_json(&serde_json::to_vec(&lock).unwrap(), "spin.lock").unwrap()
}

#[test]
fn dependencies_pushed_uncomposed_become_wasm_layers_named_by_digest() {
    let locked = lock_with_component(json!({
        "id": "composed",
        "source": {"content_type": "application/wasm", "inline": "AGFzbQ0AAQA="},
        "dependencies": {"a:b/c": {
            "source": {"content_type": "application/wasm", "inline": "AGFzbQ0AAQBkZXA="},
            "export": "a:b/d",
            "inherit": "All"
        }}
    }));
    let artifact = build(&locked, &ArtifactOptions::default()).unwrap();
    let wasm_layers: Vec<&Blob> = artifact
        .layers
        .iter()
        .filter(|l| l.media_type == media_types::WASM_LAYER)
        .collect();
    assert_eq!(wasm_layers.len(), 2);
    let dependency = &artifact.locked.components[0].dependencies["a:b/c"];
    assert_eq!(
        dependency.source.content.digest.as_ref(),
        Some(&wasm_layers[1].digest)
    );
    assert_eq!(wasm_layers[1].data, b"\0asm\x0d\x00\x01\x00dep");
    assert_eq!(dependency.export.as_deref(), Some("a:b/d"));
    assert_eq!(dependency.source.content.source, None);
}

#[test]
fn content_that_is_not_local_is_refused_naming_it() {
    let locked = lock_with_component(json!({
        "id": "remote",
        "source": {"content_type": "application/wasm", "digest": "sha256:abc"}
    }));
    assert_eq!(
        build(&locked, &ArtifactOptions::default())
            .unwrap_err()
            .to_string(),
        "component \"remote\": source \"sha256:abc\" is not a local file"
    );
    let locked = lock_with_component(json!({
        "id": "remote",
        "source": {"content_type": "application/wasm", "source": "https://example.com/x.wasm"}
    }));
    assert_eq!(
        build(&locked, &ArtifactOptions::default())
            .unwrap_err()
            .to_string(),
        "component \"remote\": source \"https://example.com/x.wasm\" is not a local file"
    );
}

#[test]
fn lock_file_paths_that_climb_out_are_refused() {
    let locked = lock_with_component(json!({
        "id": "web",
        "source": {"content_type": "application/wasm", "inline": "AGFzbQ0AAQA="},
        "files": [{"inline": "aGk=", "path": "/../etc/passwd"}]
    }));
    assert_eq!(
        build(&locked, &ArtifactOptions::default())
            .unwrap_err()
            .to_string(),
        "component \"web\": file path \"/../etc/passwd\" must be relative and stay inside the component's files"
    );
}

#[test]
fn a_directory_mount_in_a_lock_contributes_every_file_below_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("css")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
    std::fs::write(dir.path().join("css/site.css"), "body{}").unwrap();
    let url = url::Url::from_file_path(dir.path()).unwrap().to_string();
    let locked = lock_with_component(json!({
        "id": "web",
        "source": {"content_type": "application/wasm", "inline": "AGFzbQ0AAQA="},
        "files": [{"source": url, "path": "/site"}]
    }));
    let artifact = build_default(&locked);
    let paths: Vec<_> = artifact.locked.components[0]
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    assert_eq!(paths, ["site/css/site.css", "site/index.html"]);
}
