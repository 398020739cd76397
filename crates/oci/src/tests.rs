//! Round trips: an app built into an artifact and read back from its layers, as
//! a push and the shim would.

use std::path::PathBuf;

use crate::artifact::{build, ArtifactOptions, AssemblyMode};
use crate::media_types;
use crate::read::OciApp;
use crate::test_support::{layers_of, text, tree, wasm, TempApp};

/// Like `images/static`: a glob, an exclusion and a directory mapping.
const STATIC: &str = r#"
spin_manifest_version = 2
[application]
name = "static"
version = "0.1.0"
[[trigger.http]]
route = "/..."
component = "static"
[component.static]
source = "static.wasm"
files = ["assets/index.html", "assets/css/*.css", { source = "data", destination = "/data" }]
exclude_files = ["assets/css/skip.css"]
"#;

fn static_app() -> TempApp {
    TempApp::new(
        STATIC,
        &[
            ("static.wasm", &wasm(3, 2000)),
            ("assets/index.html", &text("<p>index</p>", 400)),
            ("assets/css/site.css", b"body { color: red }"),
            ("assets/css/extra.css", &text("extra", 300)),
            ("assets/css/skip.css", b"excluded"),
            ("assets/not-mounted.txt", b"never listed"),
            ("data/a.txt", b"a"),
            ("data/sub/b.txt", &text("b", 129)),
        ],
    )
}

fn expected_static_tree(app: &TempApp) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "assets/css/extra.css".into(),
            app.read("assets/css/extra.css"),
        ),
        (
            "assets/css/site.css".into(),
            app.read("assets/css/site.css"),
        ),
        ("assets/index.html".into(), app.read("assets/index.html")),
        ("data/a.txt".into(), app.read("data/a.txt")),
        ("data/sub/b.txt".into(), app.read("data/sub/b.txt")),
    ]
}

#[test]
fn a_static_site_round_trips_with_its_files_in_the_assets_dir() {
    let app = static_app();
    let locked = app.load();
    let artifact = build(&locked, &ArtifactOptions::default()).unwrap();
    assert_eq!(artifact.mode, AssemblyMode::Simple);
    let data_layers = artifact
        .layers
        .iter()
        .filter(|l| l.media_type == media_types::DATA_LAYER)
        .count();
    assert_eq!(
        data_layers, 3,
        "index.html, extra.css and b.txt exceed 128 bytes"
    );

    let layers = layers_of(&artifact);
    let assets = tempfile::tempdir().unwrap();
    let oci = OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(oci.locked.triggers, locked.triggers);
    assert_eq!(oci.locked.name(), Some("static"));
    assert_eq!(oci.locked.metadata.get("origin"), None);
    let component = oci.locked.component("static").unwrap();
    assert_eq!(component.files.len(), 1);
    assert_eq!(component.files[0].path, PathBuf::from("/"));
    assert_eq!(
        tree(&assets.path().join("static")),
        expected_static_tree(&app)
    );
    let code = oci.component_code("static").unwrap();
    assert_eq!(code.bytes, app.read("static.wasm"));
    assert!(!code.precompiled);
}

#[test]
fn archive_mode_round_trips_to_the_same_files() {
    let app = static_app();
    let options = ArtifactOptions {
        force_archive: true,
        ..Default::default()
    };
    let artifact = build(&app.load(), &options).unwrap();
    let media: Vec<&str> = artifact
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(
        media,
        [
            media_types::WASM_LAYER,
            media_types::ARCHIVE_LAYER,
            media_types::LOCKED_APP
        ]
    );
    let layers = layers_of(&artifact);
    let assets = tempfile::tempdir().unwrap();
    OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(
        tree(&assets.path().join("static")),
        expected_static_tree(&app)
    );
}

#[test]
fn an_archive_missing_a_file_fails_naming_the_file() {
    let app = static_app();
    let options = ArtifactOptions {
        force_archive: true,
        ..Default::default()
    };
    let artifact = build(&app.load(), &options).unwrap();
    let mut layers = layers_of(&artifact);
    layers.retain(|l| l.media_type != media_types::ARCHIVE_LAYER);
    let assets = tempfile::tempdir().unwrap();
    let err = OciApp::from_layers(&layers, assets.path()).unwrap_err();
    let index = crate::digest::sha256_digest(&app.read("assets/index.html"));
    assert_eq!(
        err.to_string(),
        format!("component \"static\": file \"assets/index.html\": digest {index} matches no data layer or archived file")
    );
}

/// Like `images/routes`: one Wasm behind many components, with environments.
const ROUTES: &str = r#"
spin_manifest_version = 2
[application]
name = "routes"
[[trigger.http]]
route = "/exact"
component = "exact"
[[trigger.http]]
route = "/wild/..."
component = "wild"
[[trigger.http]]
route = "/inline"
component = { source = "echo.wasm", environment = { COMPONENT = "inline" } }
[[trigger.http]]
route = "/static-resp"
static_response = { status_code = 201, body = "static body" }
[component.exact]
source = "echo.wasm"
environment = { COMPONENT = "exact" }
[component.wild]
source = "echo.wasm"
environment = { COMPONENT = "wild" }
"#;

#[test]
fn many_components_of_one_wasm_share_one_layer_and_round_trip() {
    let module = wasm(9, 5000);
    let app = TempApp::new(ROUTES, &[("echo.wasm", &module)]);
    let locked = app.load();
    let artifact = build(&locked, &ArtifactOptions::default()).unwrap();
    assert_eq!(artifact.layers.len(), 2, "one Wasm layer and the lock");

    let layers = layers_of(&artifact);
    let assets = tempfile::tempdir().unwrap();
    let oci = OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(oci.locked.triggers, locked.triggers);
    let ids: Vec<&str> = oci
        .locked
        .components
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    let expected: Vec<&str> = locked.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, expected);
    for (read, original) in oci.locked.components.iter().zip(&locked.components) {
        assert_eq!(read.env, original.env);
        assert_eq!(oci.component_code(&read.id).unwrap().bytes, module);
    }
    assert_eq!(std::fs::read_dir(assets.path()).unwrap().count(), 0);
}
