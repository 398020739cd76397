//! Writes the seed corpora: `fuzz-seeds <repo root>` fills
//! `fuzz/corpus/<target>/seed-*` from the sample apps' manifests, locks and
//! artifacts built from them, and hand-written cases for the grammars. The
//! fuzzers grow the corpora from there (`make fuzz` keeps them minimised).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use spinshim_fuzz::layers_input;
use spinshim_oci::{artifact, media_types, ArtifactOptions};

const ROUTES: &[(&str, &str)] = &[
    ("basic", "/\n/hello\n/hello/...\n/users/:id\n/users/:id/posts/:post\n/static/*\n\n/\n/hello\n/hello/\n/hello/x/y\n/users/7\n/users//\n/users/7/posts/3/\n/static\n/static/a/b/\n/nope"),
    ("specific", "/...\n/one/...\n/one/two/...\n/one/:x\n/one/two\n/one/two\n\n/one\n/one/two\n/one/two/three\n/one/x\n/two"),
    ("odd", "\n/a//b\nno-slash\n/a/.../\n/:a/:b/...\n\n//\n/a//b\n/a/b/c\n"),
];

const OUTBOUND: &[(&str, &str)] = &[
    ("hosts", "https://example.com\nhttp://localhost:3000\n*://*.example.com:*\nredis://10.0.0.0/8\nmysql://[::1]:3300..3310\nhttp://self\n\nhttps://example.com/path\nhttps://api.example.com:8443/\nredis://10.1.2.3\nmysql://[::1]:3305\nhttp://self/x\nftp://example.com"),
    ("wide", "*://*:*\npostgres://db:5432\n\npostgres://db:5432/x\nhttp://127.0.0.1:80/"),
    ("bad", "example.com\nhttps://*.*\nhttps://example.com:99999\n\nhttps://example.com"),
];

const RUNTIME_CONFIGS: &[(&str, &str)] = &[
    ("stores", "state_dir = \".spin\"\nlog_dir = \"logs\"\nmax_instance_memory = 10485760\n[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://localhost:6379\"\n[sqlite_database.default]\ntype = \"spin\"\npath = \"db.sqlite\"\n"),
    ("providers", "[[variables_provider]]\ntype = \"env\"\nprefix = \"APP\"\ndotenv_path = \".env\"\n[[config_provider]]\ntype = \"vault\"\nurl = \"http://vault\"\ntoken = \"t\"\nmount = \"secret\"\n"),
    ("network", "[outbound_networking]\nblock_networks = [\"private\", \"10.0.0.0/8\"]\nmax_total_connections = 4\n[[client_tls]]\ncomponent_ids = [\"app\"]\nhosts = [\"localhost:8443\"]\nca_roots_file = \"certs/ca.pem\"\n"),
    ("disabled", "state_dir = \"\"\n"),
];

fn main() -> Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: fuzz-seeds REPO_ROOT")?,
    );
    let corpus = root.join("fuzz/corpus");
    for (name, text) in ROUTES {
        write(&corpus, "route", name, text.as_bytes())?;
    }
    for (name, text) in OUTBOUND {
        write(&corpus, "outbound", name, text.as_bytes())?;
    }
    for (name, text) in RUNTIME_CONFIGS {
        write(&corpus, "runtime_config", name, text.as_bytes())?;
    }
    for (name, manifest) in sample_manifests(&root)? {
        write(&corpus, "manifest", &name, manifest.as_bytes())?;
        if let Ok(app) = built_app(&manifest) {
            write(&corpus, "lock", &name, &app.lock)?;
            write(&corpus, "oci_layers", &name, &app.layers)?;
        }
    }
    let wasm = b"\0asm\x0d\x00\x01\x00";
    let bare = layers_input::encode(&[(media_types::WASM, "sha256:00", wasm)]);
    write(&corpus, "oci_layers", "bare-component", &bare)?;
    Ok(())
}

/// The sample apps' manifests, by app directory name.
fn sample_manifests(root: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("images"))? {
        let dir = entry?.path();
        let manifest = dir.join("spin.toml");
        if manifest.is_file() {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.push((name, std::fs::read_to_string(&manifest)?));
        }
    }
    out.sort();
    Ok(out)
}

/// A sample app pushed as an artifact would be, with stand-in code and files.
struct BuiltApp {
    lock: Vec<u8>,
    layers: Vec<u8>,
}

/// Builds `manifest` in a scratch directory where each component's source is
/// a tiny Wasm header and each file pattern finds a file, both packings
/// alternating so archive layers are seeded too.
fn built_app(manifest: &str) -> Result<BuiltApp> {
    let dir = tempfile::tempdir()?;
    let manifest = standalone(manifest, dir.path())?;
    let locked = spinshim_app::parse_manifest(&manifest, "spin.toml", dir.path())?;
    let force_archive = manifest.len() % 2 == 0;
    let options = ArtifactOptions {
        force_archive,
        ..ArtifactOptions::default()
    };
    let built = artifact::build(&locked, &options)?;
    let layers: Vec<(&str, &str, &[u8])> = built
        .layers
        .iter()
        .map(|b| (b.media_type.as_str(), b.digest.as_str(), b.data.as_slice()))
        .collect();
    Ok(BuiltApp {
        lock: built
            .lock_layer()
            .map(|l| l.data.clone())
            .unwrap_or_default(),
        layers: layers_input::encode(&layers),
    })
}

/// `manifest` with every `source = "…wasm"` pointing at a stand-in in `dir`,
/// and the files the sample apps mount created there.
fn standalone(manifest: &str, dir: &Path) -> Result<String> {
    std::fs::write(dir.join("app.wasm"), b"\0asm\x0d\x00\x01\x00")?;
    for file in [
        "assets/index.html",
        "assets/css/site.css",
        "data/a.txt",
        "data/sub/b.txt",
    ] {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().context("a parent")?)?;
        std::fs::write(path, file)?;
    }
    Ok(manifest
        .lines()
        .map(|line| match line.trim_start().strip_prefix("source = \"") {
            Some(rest) if rest.contains(".wasm\"") => "source = \"app.wasm\"".to_owned(),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn write(corpus: &Path, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("seed-{name}"));
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}
