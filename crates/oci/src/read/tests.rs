use serde_json::{json, Value};

use super::*;
use crate::digest::sha256_digest;

fn layer<'a>(media_type: &'a str, digest: &'a str, bytes: &'a [u8]) -> Layer<'a> {
    Layer {
        media_type,
        digest,
        bytes,
        precompiled: false,
    }
}

fn lock(components: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "spin_lock_version": 0,
        "metadata": {"name": "sentinel", "triggers": {"http": {}}},
        "triggers": [{"id": "t", "trigger_type": "http", "trigger_config": {"route": "/...", "component": "api"}}],
        "components": components
    }))
    .unwrap()
}

fn error_of(layers: &[Layer<'_>], assets: &Path) -> String {
    OciApp::from_layers(layers, assets).unwrap_err().to_string()
}

const WASM: &[u8] = b"\0asm\x0d\x00\x01\x00 pretend component";

#[test]
fn without_a_lock_layer_several_layers_are_refused() {
    let assets = tempfile::tempdir().unwrap();
    let layers = [
        layer(media_types::WASM_LAYER, "sha256:a", WASM),
        layer(media_types::DATA_LAYER, "sha256:b", b"data"),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "no Spin lock layer (application/vnd.fermyon.spin.application.v1+config) among the 2 layer(s), and they are not a single Wasm component"
    );
}

#[test]
fn a_malformed_lock_names_its_layer() {
    let assets = tempfile::tempdir().unwrap();
    let wasm = layer(media_types::WASM_LAYER, "sha256:w", WASM);
    let not_json = [wasm, layer(media_types::LOCKED_APP, "sha256:bad", b"{nope")];
    assert_eq!(
        error_of(&not_json, assets.path()),
        "lock layer sha256:bad: key must be a string at line 1 column 2"
    );
    let no_version = [
        wasm,
        layer(
            media_types::LOCKED_APP,
            "sha256:old",
            br#"{"components": []}"#,
        ),
    ];
    assert_eq!(
        error_of(&no_version, assets.path()),
        "lock layer sha256:old: missing field \"spin_lock_version\""
    );
    let err = OciApp::from_layers(&no_version, assets.path()).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<Error>(),
        Some(Error::Lock { digest, .. }) if digest == "sha256:old"
    ));
}

#[test]
fn a_source_digest_without_a_layer_names_the_component_and_digest() {
    let assets = tempfile::tempdir().unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:missing"}
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:other", WASM),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "component \"api\": source digest sha256:missing matches no Wasm layer"
    );
}

#[test]
fn a_data_digest_does_not_satisfy_a_source() {
    let assets = tempfile::tempdir().unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:d"}
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::DATA_LAYER, "sha256:d", WASM),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "component \"api\": source digest sha256:d matches no Wasm layer"
    );
}

#[test]
fn a_file_digest_without_a_layer_names_the_component_path_and_digest() {
    let assets = tempfile::tempdir().unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:w"},
        "files": [{"digest": "sha256:gone", "path": "static/index.html"}]
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "component \"api\": file \"static/index.html\": digest sha256:gone matches no data layer or archived file"
    );
}

#[test]
fn file_paths_that_escape_are_refused_before_anything_is_written() {
    for bad in ["../outside.txt", "/etc/passwd", "a/../../x", ""] {
        let assets = tempfile::tempdir().unwrap();
        let lock = lock(json!([{
            "id": "api",
            "source": {"content_type": "application/wasm", "digest": "sha256:w"},
            "files": [
                {"inline": "b2s=", "path": "fine.txt"},
                {"inline": "aGk=", "path": bad}
            ]
        }]));
        let layers = [
            layer(media_types::LOCKED_APP, "sha256:l", &lock),
            layer(media_types::WASM_LAYER, "sha256:w", WASM),
        ];
        assert_eq!(
            error_of(&layers, assets.path()),
            format!("component \"api\": file path {bad:?} must be relative and stay inside the component's files")
        );
        assert_eq!(std::fs::read_dir(assets.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_component_id_that_would_leave_the_assets_dir_is_refused() {
    let assets = tempfile::tempdir().unwrap();
    let lock = serde_json::to_vec(&json!({
        "spin_lock_version": 0,
        "components": [{
            "id": "..",
            "source": {"content_type": "application/wasm", "digest": "sha256:w"},
            "files": [{"inline": "aGk=", "path": "x.txt"}]
        }]
    }))
    .unwrap();
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "component \"..\": the id cannot name an asset directory"
    );
}

#[test]
fn a_layer_of_a_foreign_media_type_is_refused_naming_it() {
    let assets = tempfile::tempdir().unwrap();
    let layers = [layer(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "sha256:rootfs",
        b"",
    )];
    assert_eq!(
        error_of(&layers, assets.path()),
        "layer sha256:rootfs: media type \"application/vnd.oci.image.layer.v1.tar+gzip\" is not part of a Spin app"
    );
}

#[test]
fn a_lone_wasm_layer_is_an_app_serving_every_path() {
    for media_type in [media_types::WASM, media_types::WASM_LAYER] {
        let assets = tempfile::tempdir().unwrap();
        let digest = sha256_digest(WASM);
        let layers = [layer(media_type, &digest, WASM)];
        let app = OciApp::from_layers(&layers, assets.path()).unwrap();
        assert_eq!(app.locked.name(), Some(WASM_FILE_APP_NAME));
        assert_eq!(app.locked.triggers.len(), 1);
        let trigger = &app.locked.triggers[0];
        assert_eq!(trigger.id, "http-trigger1");
        assert_eq!(
            trigger.trigger_config,
            json!({"route": "/...", "component": "http-trigger1-component"})
        );
        assert!(app.locked.trigger_metadata("http").is_some());
        let component = &app.locked.components[0];
        assert_eq!(component.id, "http-trigger1-component");
        assert!(component.metadata.is_empty() && component.files.is_empty());
        let code = app.component_code("http-trigger1-component").unwrap();
        assert_eq!(code.bytes, WASM);
        assert!(!code.precompiled);
        // It survives the lock round trip the runtime relies on.
        let json = app.locked.to_json().unwrap();
        assert_eq!(LockedApp::from_json(&json, "x").unwrap(), app.locked);
    }
}

#[test]
fn code_comes_from_the_layer_with_its_precompiled_flag_else_from_inline_bytes() {
    let assets = tempfile::tempdir().unwrap();
    let lock = serde_json::to_vec(&json!({
        "spin_lock_version": 0,
        "components": [
            {"id": "layered", "source": {"content_type": "application/wasm", "digest": "sha256:w", "inline": "AGFzbQ0AAQA="}},
            {"id": "inlined", "source": {"content_type": "application/wasm", "digest": "sha256:not-pushed", "inline": "AGFzbQ0AAQA="}}
        ]
    }))
    .unwrap();
    let aot = b"precompiled machine code";
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        Layer {
            media_type: media_types::WASM_LAYER,
            digest: "sha256:w",
            bytes: aot,
            precompiled: true,
        },
    ];
    let app = OciApp::from_layers(&layers, assets.path()).unwrap();
    let layered = app.component_code("layered").unwrap();
    assert_eq!((layered.bytes, layered.precompiled), (&aot[..], true));
    let inlined = app.component_code("inlined").unwrap();
    assert_eq!(
        (inlined.bytes, inlined.precompiled),
        (&b"\0asm\x0d\x00\x01\x00"[..], false)
    );
    assert_eq!(
        app.component_code("nope").unwrap_err().to_string(),
        "component \"nope\" is not part of the app"
    );
}

#[test]
fn files_are_written_under_the_component_and_mounted_at_root() {
    let assets = tempfile::tempdir().unwrap();
    let page = b"<html>a page long enough to have been pushed as a layer</html>";
    let page_digest = sha256_digest(page);
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:w"},
        "files": [
            {"digest": page_digest, "path": "static/index.html"},
            {"digest": page_digest, "path": "static/copy.html"},
            {"inline": "aGk=", "digest": "sha256:unpushed", "path": "hi.txt"}
        ]
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
        layer(media_types::DATA_LAYER, &page_digest, page),
    ];
    let mut app = OciApp::from_layers(&layers, assets.path()).unwrap();
    let dir = assets.path().join("api");
    assert_eq!(std::fs::read(dir.join("static/index.html")).unwrap(), page);
    assert_eq!(std::fs::read(dir.join("static/copy.html")).unwrap(), page);
    assert_eq!(std::fs::read(dir.join("hi.txt")).unwrap(), b"hi");
    let files = &app.locked.components[0].files;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, PathBuf::from("/"));
    assert_eq!(
        files[0].content.source.as_deref(),
        Some(url::Url::from_file_path(&dir).unwrap().as_str())
    );

    app.set_origin("registry.example/app:1");
    assert_eq!(
        app.locked.metadata["origin"],
        "vnd.fermyon.origin-oci:registry.example/app:1"
    );
}

#[test]
fn dependencies_pushed_uncomposed_are_read_from_their_layers() {
    let assets = tempfile::tempdir().unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:w"},
        "dependencies": {"a:b/c": {"source": {"content_type": "application/wasm", "digest": "sha256:d"}, "export": null}}
    }]));
    let dependency = b"\0asm\x0d\x00\x01\x00dependency";
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
        layer(media_types::WASM_LAYER, "sha256:d", dependency),
    ];
    let app = OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(
        app.dependency_code("api", "a:b/c").unwrap().bytes,
        dependency
    );
    assert!(app.dependency_code("api", "x:y").is_err());
}

#[test]
fn a_dependency_in_no_layer_is_refused_naming_it() {
    let assets = tempfile::tempdir().unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:w"},
        "dependencies": {"a:b/c": {"source": {"content_type": "application/wasm", "digest": "sha256:x"}}}
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
    ];
    assert_eq!(
        error_of(&layers, assets.path()),
        "component \"api\": dependency \"a:b/c\": digest sha256:x matches no Wasm layer and it has no inline bytes"
    );
}

/// A tar.gz holding a symbolic link, a hard link and a `../` name beside one
/// regular file, as a hostile archive layer might.
fn hostile_archive(content: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut link = |kind: tar::EntryType, name: &str, target: &str| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(0);
        tar.append_link(&mut header, name, target).unwrap();
    };
    link(tar::EntryType::Symlink, "index.html", "/etc/passwd");
    link(tar::EntryType::Link, "hard.txt", "/etc/shadow");
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    // `append_data` refuses `..`; a hostile archive would not ask.
    header.as_old_mut().name[..13].copy_from_slice(b"../escape.txt");
    header.set_cksum();
    tar.append(&header, content).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn archive_entries_are_found_by_content_never_by_name_or_link() {
    let scratch = tempfile::tempdir().unwrap();
    let assets = scratch.path().join("assets");
    let content = b"the file";
    let digest = sha256_digest(content);
    let archive = hostile_archive(content);
    // A lock asking for one file by digest, and the layers with the archive.
    let lock_for = |digest: &str, path: &str| {
        lock(json!([{
            "id": "api",
            "source": {"content_type": "application/wasm", "digest": "sha256:w"},
            "files": [{"digest": digest, "path": path}]
        }]))
    };
    fn layers_with<'a>(lock: &'a [u8], archive: &'a [u8]) -> [Layer<'a>; 3] {
        [
            layer(media_types::LOCKED_APP, "sha256:l", lock),
            layer(media_types::WASM_LAYER, "sha256:w", WASM),
            layer(media_types::ARCHIVE_LAYER, "sha256:a", archive),
        ]
    }
    let lock = lock_for(&digest, "index.html");
    OciApp::from_layers(&layers_with(&lock, &archive), &assets).unwrap();
    let written = assets.join("api/index.html");
    assert!(!written.is_symlink());
    assert_eq!(std::fs::read(&written).unwrap(), content);
    let mut names: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["assets"], "nothing beside the assets directory");

    // A link's target is no content: a lock naming the empty digest finds nothing.
    let lock = lock_for(&sha256_digest(b""), "passwd");
    assert!(error_of(&layers_with(&lock, &archive), &assets)
        .contains("matches no data layer or archived file"));
}

#[test]
fn a_link_placed_where_files_go_is_replaced_not_followed() {
    let scratch = tempfile::tempdir().unwrap();
    let outside = scratch.path().join("outside");
    let assets = scratch.path().join("assets");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&assets).unwrap();
    std::os::unix::fs::symlink(&outside, assets.join("api")).unwrap();
    let lock = lock(json!([{
        "id": "api",
        "source": {"content_type": "application/wasm", "digest": "sha256:w"},
        "files": [
            {"inline": "aGk=", "path": "a.txt"},
            {"inline": "b2s=", "path": "a.txt"}
        ]
    }]));
    let layers = [
        layer(media_types::LOCKED_APP, "sha256:l", &lock),
        layer(media_types::WASM_LAYER, "sha256:w", WASM),
    ];
    OciApp::from_layers(&layers, &assets).unwrap();
    assert!(!assets.join("api").is_symlink());
    assert_eq!(std::fs::read(assets.join("api/a.txt")).unwrap(), b"ok");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
}
