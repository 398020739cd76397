//! `spinshim push` and `spinshim inspect` against a real registry: the rig's
//! (`RIG_REGISTRY` in the env file `$SPINSHIM_RIG_ENV`, written by
//! `scripts/rig.sh up`, which `make test` runs). Each test pushes the sample
//! apps with the release binary, then reads the artifact back over plain HTTP
//! (the distribution API, not our client) and checks it has the format
//! `spin registry push` writes, and that `OciApp::from_layers` — what the shim
//! runs — turns the pulled layers back into the app's files.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use spinshim_oci::{Layer, OciApp};
use spinshim_tests::{repo_root, run_to_exit, sample_app, send, spinshim_bin, Exited, Req};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
const ARCHIVE_LAYER: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
const LOCK_LAYER: &str = "application/vnd.fermyon.spin.application.v1+config";
const RIG_ENV_VAR: &str = "SPINSHIM_RIG_ENV";
const LIMIT: Duration = Duration::from_secs(120);

/// The rig's registry address, from the env file. Without one the tests fail
/// (they must not pass silently) and say how to run them.
fn registry() -> SocketAddr {
    let Some(path) = std::env::var_os(RIG_ENV_VAR) else {
        panic!(
            "{RIG_ENV_VAR} is not set: the OCI push tests need the rig's registry. Run them \
             with `make test`, or start the rig with `scripts/rig.sh up` and set \
             {RIG_ENV_VAR} to the rig.env it prints."
        );
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{RIG_ENV_VAR}={}: {e}", Path::new(&path).display()));
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("RIG_REGISTRY="))
        .unwrap_or_else(|| {
            panic!(
                "{}: no RIG_REGISTRY=<host:port> line",
                Path::new(&path).display()
            )
        });
    value
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("RIG_REGISTRY={value}: not an address: {e}"))
}

/// A repository name no other test or run uses.
fn unique_repo(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("spinshim-tests/{name}-{}-{nanos}", std::process::id())
}

fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn spinshim(args: &[&str], env: &[(&str, &str)]) -> Exited {
    let mut cmd = Command::new(spinshim_bin());
    cmd.args(args).env_remove("SPIN_OCI_ARCHIVE_LAYERS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_to_exit(cmd, LIMIT).expect("spinshim runs")
}

/// Pushes `app` to `reference` and returns the digest it reports.
fn push(app: &Path, reference: &str, extra: &[&str], env: &[(&str, &str)]) -> String {
    let app = app.to_str().unwrap();
    let mut args = vec!["push", "--from", app];
    args.extend_from_slice(extra);
    args.push(reference);
    let out = spinshim(&args, env);
    assert!(out.status.success(), "push failed:\n{}", out.describe());
    let prefix = format!("Pushed {reference} (digest ");
    let line = out
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}...` line:\n{}", out.describe()));
    line.trim_end_matches(')').to_owned()
}

/// An artifact as the registry serves it.
struct Pulled {
    digest_header: Option<String>,
    manifest_bytes: Vec<u8>,
    manifest: Value,
    config: Value,
    /// Layer digest → bytes, each checked against its digest and size.
    blobs: BTreeMap<String, Vec<u8>>,
}

impl Pulled {
    fn layers(&self) -> &Vec<Value> {
        self.manifest["layers"].as_array().expect("layers")
    }

    fn media_types(&self) -> Vec<&str> {
        self.layers()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap())
            .collect()
    }

    fn layer_bytes(&self, media_type: &str) -> Vec<&[u8]> {
        self.layers()
            .iter()
            .filter(|l| l["mediaType"] == media_type)
            .map(|l| self.blobs[l["digest"].as_str().unwrap()].as_slice())
            .collect()
    }

    fn lock_digest(&self) -> &str {
        let lock = self.layers().last().expect("a lock layer");
        assert_eq!(lock["mediaType"], LOCK_LAYER, "the lock is the last layer");
        lock["digest"].as_str().unwrap()
    }

    fn lock(&self) -> Value {
        serde_json::from_slice(&self.blobs[self.lock_digest()]).expect("the lock is JSON")
    }

    /// The layers as the shim would hand them to `OciApp::from_layers`.
    fn shim_layers(&self) -> Vec<Layer<'_>> {
        self.layers()
            .iter()
            .map(|l| {
                let digest = l["digest"].as_str().unwrap();
                Layer {
                    media_type: l["mediaType"].as_str().unwrap(),
                    digest,
                    bytes: &self.blobs[digest],
                    precompiled: false,
                }
            })
            .collect()
    }
}

async fn get(registry: SocketAddr, target: &str, accept: &str) -> Result<spinshim_tests::Reply> {
    let reply = send(
        registry,
        Req {
            method: "GET",
            target,
            headers: &[("accept", accept)],
            body: b"",
        },
    )
    .await?;
    if reply.status != 200 {
        bail!("GET {target}: status {}: {}", reply.status, reply.text());
    }
    Ok(reply)
}

fn pull(registry: SocketAddr, repo: &str, tag: &str) -> Pulled {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async {
            let reply = get(
                registry,
                &format!("/v2/{repo}/manifests/{tag}"),
                OCI_MANIFEST,
            )
            .await?;
            let manifest: Value = serde_json::from_slice(&reply.body)?;
            let mut blobs = BTreeMap::new();
            let descriptors = manifest["layers"]
                .as_array()
                .context("no layers")?
                .iter()
                .chain([&manifest["config"]]);
            for d in descriptors {
                let digest = d["digest"].as_str().context("descriptor without digest")?;
                let blob = get(registry, &format!("/v2/{repo}/blobs/{digest}"), "*/*").await?;
                assert_eq!(
                    sha256(&blob.body),
                    digest,
                    "blob content matches its digest"
                );
                assert_eq!(d["size"], blob.body.len(), "blob {digest} size");
                blobs.insert(digest.to_owned(), blob.body.to_vec());
            }
            let config = serde_json::from_slice(
                &blobs[manifest["config"]["digest"]
                    .as_str()
                    .context("config digest")?],
            )?;
            Ok::<_, anyhow::Error>(Pulled {
                digest_header: reply.header("docker-content-digest").map(str::to_owned),
                manifest_bytes: reply.body.to_vec(),
                manifest,
                config,
                blobs,
            })
        })
        .unwrap_or_else(|e| panic!("pulling {repo}:{tag}: {e:#}"))
}

fn built_wasm(name: &str) -> Vec<u8> {
    let path = repo_root()
        .join("images/target/wasm32-wasip2/release")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every regular file below `dir`: relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What images/static mounts, by path relative to the component's `/`.
fn static_files(app: &Path) -> BTreeMap<String, Vec<u8>> {
    [
        ("assets/index.html", "assets/index.html"),
        ("assets/css/site.css", "assets/css/site.css"),
        ("assets/css/extra.css", "assets/css/extra.css"),
        ("data/a.txt", "data/a.txt"),
        ("data/sub/b.txt", "data/sub/b.txt"),
    ]
    .into_iter()
    .map(|(guest, host)| (guest.to_owned(), std::fs::read(app.join(host)).unwrap()))
    .collect()
}

#[test]
fn pushing_the_static_app_writes_spins_artifact_format() {
    let registry = registry();
    let app = sample_app("static");
    let repo = unique_repo("static");
    let reference = format!("{registry}/{repo}:v1");
    let digest = push(
        &app,
        &reference,
        &[
            "--annotation",
            "org.opencontainers.image.title=custom-title",
            "--annotation",
            "com.example.team=web",
        ],
        &[],
    );
    let pulled = pull(registry, &repo, "v1");

    // One image manifest, addressed by the digest push printed.
    assert_eq!(sha256(&pulled.manifest_bytes), digest);
    assert_eq!(pulled.digest_header.as_deref(), Some(digest.as_str()));
    let m = &pulled.manifest;
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    assert_eq!(m["config"]["mediaType"], OCI_CONFIG);

    // Every static file is at most 128 bytes: all inline, no data layers.
    assert_eq!(pulled.media_types(), [WASM_LAYER, LOCK_LAYER]);
    let wasm = built_wasm("static_files.wasm");
    assert_eq!(pulled.layer_bytes(WASM_LAYER), [wasm.as_slice()]);

    // The config is an OCI image config naming the lock layer.
    let config = &pulled.config;
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "Wasip1");
    assert_eq!(
        config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"],
        pulled.lock_digest()
    );

    // The lock: sources and files by digest, paths relative, no origin.
    let lock = pulled.lock();
    assert!(lock["spin_lock_version"].is_u64());
    assert!(lock["metadata"].get("origin").is_none(), "{lock:#}");
    assert_eq!(lock["metadata"]["name"], "static");
    let component = &lock["components"][0];
    assert_eq!(
        component["source"],
        serde_json::json!({"content_type": "application/wasm", "digest": sha256(&wasm)})
    );
    let expected = static_files(&app);
    let files = component["files"].as_array().unwrap();
    let paths: BTreeSet<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        expected.keys().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for file in files {
        let content = &expected[file["path"].as_str().unwrap()];
        assert_eq!(file["digest"], sha256(content), "{file}");
        assert!(file["inline"].is_string(), "{file} is inline");
        assert!(file.get("source").is_none(), "{file} has no source");
    }

    // Annotations: inferred ones, never over an explicit one.
    let annotations = &m["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.title"],
        "custom-title"
    );
    assert_eq!(annotations["com.example.team"], "web");
    assert_eq!(annotations["org.opencontainers.image.version"], "0.1.0");
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        "Component files / exclude_files fixture"
    );
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .expect("a created annotation");
    assert!(
        created.len() > 19 && created.as_bytes()[4] == b'-' && created.as_bytes()[10] == b'T',
        "created is RFC 3339: {created}"
    );

    // What the shim does with these layers gives back the mounted files.
    let assets = tempfile::tempdir().unwrap();
    let layers = pulled.shim_layers();
    let oci = OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(oci.component_code("static").unwrap().bytes, wasm);
    assert_eq!(tree(&assets.path().join("static")), expected);

    // inspect shows the same artifact.
    let out = spinshim(&["inspect", &reference], &[]);
    assert!(out.status.success(), "inspect failed:\n{}", out.describe());
    let report = out.stdout.join("\n");
    for needle in [
        format!("Digest:      {digest}"),
        "App:         static 0.1.0".to_owned(),
        "Platform:    Wasip1/wasm".to_owned(),
        format!("static  {}  (", sha256(&wasm)),
        "KiB, 5 files)".to_owned(),
        "org.opencontainers.image.title: custom-title".to_owned(),
    ] {
        assert!(report.contains(&needle), "no {needle:?} in:\n{report}");
    }
    for (media_type, digest) in [
        (WASM_LAYER, sha256(&wasm)),
        (LOCK_LAYER, pulled.lock_digest().to_owned()),
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.contains(media_type) && l.contains(&digest)),
            "no layer line for {media_type} {digest} in:\n{report}"
        );
    }
    assert!(
        report.contains("http  /...  static"),
        "trigger line in:\n{report}"
    );
}

/// A copy of images/static whose data dir also holds files over 128 bytes,
/// two of them identical.
fn static_with_big_files() -> (tempfile::TempDir, Vec<u8>) {
    let original = sample_app("static");
    let dir = tempfile::tempdir().unwrap();
    let wasm_path = repo_root().join("images/target/wasm32-wasip2/release/static_files.wasm");
    let manifest = std::fs::read_to_string(original.join("spin.toml"))
        .unwrap()
        .replace(
            "../target/wasm32-wasip2/release/static_files.wasm",
            wasm_path.to_str().unwrap(),
        );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    for (relative, bytes) in tree(&original) {
        if relative.starts_with("assets/") || relative.starts_with("data/") {
            let path = dir.path().join(&relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("data/big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("data/sub/same.bin"), &big).unwrap();
    (dir, big)
}

#[test]
fn big_files_become_shared_data_layers_or_one_archive_layer() {
    let registry = registry();
    let (app, big) = static_with_big_files();
    let mut expected = static_files(app.path());
    expected.insert("data/big.bin".into(), big.clone());
    expected.insert("data/sub/same.bin".into(), big.clone());
    let repo = unique_repo("static-big");

    // Simple mode: the two identical big files share one data layer.
    push(app.path(), &format!("{registry}/{repo}:simple"), &[], &[]);
    let simple = pull(registry, &repo, "simple");
    assert_eq!(simple.media_types(), [WASM_LAYER, DATA_LAYER, LOCK_LAYER]);
    assert_eq!(simple.layer_bytes(DATA_LAYER), [big.as_slice()]);
    let lock = simple.lock();
    let big_entries: Vec<&Value> = lock["components"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["digest"] == sha256(&big))
        .collect();
    assert_eq!(big_entries.len(), 2);
    assert!(big_entries.iter().all(|f| f.get("inline").is_none()));
    let assets = tempfile::tempdir().unwrap();
    OciApp::from_layers(&simple.shim_layers(), assets.path()).unwrap();
    assert_eq!(tree(&assets.path().join("static")), expected);

    // Archive mode: one tar.gz for the component, the lock lists the same files.
    push(
        app.path(),
        &format!("{registry}/{repo}:archive"),
        &[],
        &[("SPIN_OCI_ARCHIVE_LAYERS", "1")],
    );
    let archived = pull(registry, &repo, "archive");
    assert_eq!(
        archived.media_types(),
        [WASM_LAYER, ARCHIVE_LAYER, LOCK_LAYER]
    );
    assert_eq!(
        archived.lock()["components"][0]["files"],
        lock["components"][0]["files"]
    );
    let assets = tempfile::tempdir().unwrap();
    OciApp::from_layers(&archived.shim_layers(), assets.path()).unwrap();
    assert_eq!(tree(&assets.path().join("static")), expected);
}

#[test]
fn components_sharing_one_wasm_push_it_once() {
    let registry = registry();
    let repo = unique_repo("routes");
    let reference = format!("{registry}/{repo}:v1");
    push(&sample_app("routes"), &reference, &[], &[]);
    let pulled = pull(registry, &repo, "v1");
    assert_eq!(pulled.media_types(), [WASM_LAYER, LOCK_LAYER]);
    let wasm = built_wasm("routes_echo.wasm");
    let lock = pulled.lock();
    let components = lock["components"].as_array().unwrap();
    assert_eq!(components.len(), 7);
    for c in components {
        assert_eq!(c["source"]["digest"], sha256(&wasm), "{}", c["id"]);
    }
    let assets = tempfile::tempdir().unwrap();
    let layers = pulled.shim_layers();
    let oci = OciApp::from_layers(&layers, assets.path()).unwrap();
    assert_eq!(oci.locked.triggers.len(), 8);

    let out = spinshim(&["inspect", &reference], &[]);
    assert!(out.status.success(), "inspect failed:\n{}", out.describe());
    let report = out.stdout.join("\n");
    for needle in ["(private)", "(static response)", "/users/:id", "catch-all"] {
        assert!(report.contains(needle), "no {needle:?} in:\n{report}");
    }
}

/// `spin registry push` composes by default: the artifact holds one
/// component with its dependency inside and a lock without dependencies,
/// which runs where nothing composes.
#[test]
fn a_component_with_dependencies_is_pushed_composed() -> Result<()> {
    let registry = registry();
    let repo = unique_repo("composed");
    let reference = format!("{registry}/{repo}:v1");
    push(&sample_app("composed"), &reference, &[], &[]);
    let pulled = pull(registry, &repo, "v1");
    assert_eq!(pulled.media_types(), [WASM_LAYER, LOCK_LAYER]);
    let mut lock = pulled.lock();
    let component = &mut lock["components"][0];
    assert_eq!(component.get("dependencies"), None, "{component}");
    let wasm = pulled.layer_bytes(WASM_LAYER)[0].to_vec();
    assert_ne!(wasm, built_wasm("composed.wasm"), "pushed uncomposed");

    let dir = tempfile::tempdir()?;
    let wasm_path = dir.path().join("composed.wasm");
    std::fs::write(&wasm_path, &wasm)?;
    component["source"] = serde_json::json!({
        "content_type": "application/wasm",
        "source": format!("file://{}", wasm_path.display()),
    });
    let lock_path = dir.path().join("app.lock");
    std::fs::write(&lock_path, serde_json::to_vec(&lock)?)?;
    let up = spinshim_tests::Up::start(&lock_path, &[], &[])?;
    let reply =
        tokio::runtime::Runtime::new()?.block_on(spinshim_tests::get(up.addr, "/pushed"))?;
    assert_eq!(
        (reply.status, reply.text()),
        (
            200,
            "hi there, pushed (greeted by a dependency)".to_string()
        ),
        "{}",
        up.output().join("\n")
    );
    Ok(())
}

/// `--compose=false` pushes the dependency as a Wasm layer of its own,
/// named by digest in the lock, as `spin registry push --compose=false`.
#[test]
fn compose_false_pushes_the_dependency_as_its_own_layer() {
    let registry = registry();
    let repo = unique_repo("uncomposed");
    let reference = format!("{registry}/{repo}:v1");
    push(
        &sample_app("composed"),
        &reference,
        &["--compose=false"],
        &[],
    );
    let pulled = pull(registry, &repo, "v1");
    assert_eq!(pulled.media_types(), [WASM_LAYER, WASM_LAYER, LOCK_LAYER]);
    let lock = pulled.lock();
    let component = &lock["components"][0];
    assert_eq!(
        component["source"]["digest"],
        sha256(&built_wasm("composed.wasm"))
    );
    let dependency = &component["dependencies"]["spinshim:demo/greeter"];
    assert_eq!(
        dependency["source"]["digest"],
        sha256(&built_wasm("greeter.wasm"))
    );
    assert_eq!(
        dependency["inherit"],
        serde_json::json!({"Some": ["environment"]})
    );
    assert_eq!(dependency["source"].get("source"), None, "{dependency}");
}

#[test]
fn registry_errors_name_the_reference() {
    let registry = registry();
    let missing = format!("{registry}/{}:nope", unique_repo("missing"));
    let out = spinshim(&["inspect", &missing], &[]);
    assert!(!out.status.success());
    assert!(
        out.error_report()
            .contains(&format!("{missing}: fetching the manifest")),
        "{}",
        out.describe()
    );

    let port = spinshim_tests::free_port();
    let nowhere = format!("127.0.0.1:{port}/app:v1");
    let app: PathBuf = sample_app("static");
    let out = spinshim(&["push", "--from", app.to_str().unwrap(), &nowhere], &[]);
    assert!(!out.status.success());
    assert!(out.error_report().contains(&nowhere), "{}", out.describe());
}
