//! `spinshim inspect`: what an app artifact holds — app, triggers, components,
//! layers and sizes — from a registry (manifest, config and lock only; no Wasm is
//! downloaded) or, with `--from`, from the artifact `push` would build locally.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use serde_json::Value;
use spinshim_app::locked::{LockedApp, LockedTrigger};
use spinshim_oci::artifact::{self, ArtifactOptions, ARCHIVE_LAYERS_ENV};
use spinshim_oci::manifest::{ImageConfig, ImageManifest};
use spinshim_oci::media_types;

use crate::registry::Registry;

/// Show what an application artifact holds.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["reference", "from"]))]
pub struct InspectArgs {
    /// Use plain HTTP (registries on localhost / 127.0.0.1 always do).
    #[arg(short = 'k', long)]
    insecure: bool,

    /// Inspect the artifact `spinshim push` would build from this app (a directory,
    /// spin.toml or lock file) instead of a pushed one.
    #[arg(short = 'f', long = "from", value_name = "APP")]
    from: Option<PathBuf>,

    /// The pushed artifact, e.g. ghcr.io/me/app:1.0.
    #[arg(value_name = "REFERENCE")]
    reference: Option<String>,
}

/// Everything the report is made from.
struct Inspected {
    /// The reference or app path.
    source: String,
    /// The manifest digest, when pushed.
    digest: Option<String>,
    manifest: ImageManifest,
    config: Option<ImageConfig>,
    locked: Option<LockedApp>,
}

/// Runs `inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    let inspected = match (&args.reference, &args.from) {
        (Some(reference), _) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(fetch(reference, args.insecure))?
        }
        (None, Some(from)) => local(from)?,
        (None, None) => anyhow::bail!("name a REFERENCE or an app with --from"),
    };
    print!("{}", render(&inspected));
    Ok(())
}

async fn fetch(reference: &str, insecure: bool) -> Result<Inspected> {
    let registry = Registry::connect(reference, insecure).await?;
    let (bytes, digest) = registry.pull_manifest().await?;
    let manifest = ImageManifest::from_json(&bytes, reference)?;
    let config = if manifest.config.media_type == media_types::LOCKED_APP {
        None
    } else {
        let bytes = registry.pull_blob(&manifest.config).await?;
        let what = format!("{reference}: config {}", manifest.config.digest);
        Some(ImageConfig::from_json(&bytes, &what)?)
    };
    let locked = match manifest.lock_descriptor() {
        Some(lock) => {
            let bytes = registry.pull_blob(lock).await?;
            let label = format!("{reference}: lock layer {}", lock.digest);
            Some(LockedApp::from_json(&bytes, &label)?)
        }
        None => None,
    };
    Ok(Inspected {
        source: reference.to_owned(),
        digest: Some(digest),
        manifest,
        config,
        locked,
    })
}

fn local(from: &std::path::Path) -> Result<Inspected> {
    let locked = crate::push::precompose(spinshim_app::manifest::load_app(from)?)?;
    let options = ArtifactOptions {
        force_archive: std::env::var_os(ARCHIVE_LAYERS_ENV).is_some(),
        ..Default::default()
    };
    let artifact = artifact::build(&locked, &options)?;
    Ok(Inspected {
        source: from.display().to_string(),
        digest: None,
        manifest: artifact.manifest(),
        config: Some(ImageConfig::from_json(&artifact.config.data, "config")?),
        locked: Some(artifact.locked),
    })
}

/// The plain-text report.
fn render(i: &Inspected) -> String {
    let mut out = String::new();
    let m = &i.manifest;
    let _ = writeln!(out, "Artifact:    {}", i.source);
    if let Some(digest) = &i.digest {
        let _ = writeln!(out, "Digest:      {digest}");
    }
    match &i.locked {
        Some(app) => {
            let name = app.name().unwrap_or("(unnamed)");
            let version = app.version().map(|v| format!(" {v}")).unwrap_or_default();
            let _ = writeln!(out, "App:         {name}{version}");
            if let Some(d) = app.metadata.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "Description: {d}");
            }
        }
        None => {
            let _ = writeln!(out, "App:         (no Spin lock: a bare Wasm component)");
        }
    }
    if let Some(config) = &i.config {
        let _ = writeln!(out, "Platform:    {}/{}", config.os, config.architecture);
    }
    if let Some(app) = &i.locked {
        let _ = writeln!(out, "\nTriggers:");
        let rows: Vec<_> = app.triggers.iter().map(describe_trigger).collect();
        let type_width = app.triggers.iter().map(|t| t.trigger_type.len()).max();
        let what_width = rows.iter().map(|(what, _)| what.len()).max();
        for (trigger, (what, target)) in app.triggers.iter().zip(&rows) {
            let _ = writeln!(
                out,
                "  {:tw$}  {what:ww$}  {target}",
                trigger.trigger_type,
                tw = type_width.unwrap_or(0),
                ww = what_width.unwrap_or(0)
            );
        }
        let _ = writeln!(out, "\nComponents:");
        let id_width = app.components.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &app.components {
            let digest = c.source.content.digest.as_deref().unwrap_or("(no digest)");
            let size = m
                .layers
                .iter()
                .find(|l| Some(l.digest.as_str()) == c.source.content.digest.as_deref())
                .map(|l| l.size)
                .or_else(|| c.source.content.inline.as_ref().map(|b| b.len() as u64));
            let size = size.map_or_else(|| "size unknown".to_owned(), human);
            let files = match c.files.len() {
                0 => String::new(),
                1 => ", 1 file".to_owned(),
                n => format!(", {n} files"),
            };
            let _ = writeln!(out, "  {:id_width$}  {digest}  ({size}{files})", c.id);
        }
    }
    let _ = writeln!(out, "\nLayers:");
    let type_width = m
        .layers
        .iter()
        .map(|l| l.media_type.len())
        .max()
        .unwrap_or(0);
    for layer in &m.layers {
        let _ = writeln!(
            out,
            "  {:type_width$}  {}  {}",
            layer.media_type,
            layer.digest,
            human(layer.size)
        );
    }
    let _ = writeln!(
        out,
        "Config:      {} {}  {}",
        m.config.media_type,
        m.config.digest,
        human(m.config.size)
    );
    let _ = writeln!(out, "Total size:  {}", human(m.total_size()));
    if !m.annotations.is_empty() {
        let _ = writeln!(out, "\nAnnotations:");
        for (key, value) in &m.annotations {
            let _ = writeln!(out, "  {key}: {value}");
        }
    }
    out
}

/// What a trigger listens to and what answers it.
fn describe_trigger(trigger: &LockedTrigger) -> (String, String) {
    let config = &trigger.trigger_config;
    let what = match trigger.trigger_type.as_str() {
        "http" => match config.get("route") {
            Some(Value::String(route)) => route.clone(),
            Some(Value::Object(o)) if o.get("private") == Some(&Value::Bool(true)) => {
                "(private)".to_owned()
            }
            _ => "(no route)".to_owned(),
        },
        _ => config
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    };
    let target = match config.get("component").and_then(Value::as_str) {
        Some(component) => component.to_owned(),
        None if config.get("static_response").is_some() => "(static response)".to_owned(),
        None => "(no component)".to_owned(),
    };
    (what, target)
}

/// `1234 B`, `12.1 KiB`, `3.4 MiB`...
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spinshim_oci::manifest::Descriptor;

    fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            annotations: Default::default(),
        }
    }

    #[test]
    fn sizes_read_like_a_person_would_write_them() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(5 * 1024 * 1024 + 512 * 1024), "5.5 MiB");
    }

    #[test]
    fn the_report_lists_app_triggers_components_layers_and_total() {
        let lock = json!({
            "spin_lock_version": 0,
            "metadata": {"name": "shop", "version": "2.0.0", "description": "sells things"},
            "triggers": [
                {"id": "a", "trigger_type": "http", "trigger_config": {"route": "/api/...", "component": "api"}},
                {"id": "b", "trigger_type": "http", "trigger_config": {"route": {"private": true}, "component": "api"}},
                {"id": "c", "trigger_type": "http", "trigger_config": {"route": "/teapot", "static_response": {"status_code": 418}}}
            ],
            "components": [{
                "id": "api",
                "source": {"content_type": "application/wasm", "digest": "sha256:w"},
                "files": [{"digest": "sha256:d", "path": "a.txt"}, {"inline": "aGk=", "path": "b.txt"}]
            }]
        });
        let locked = LockedApp::from_json(&serde_json::to_vec(&lock).unwrap(), "lock").unwrap();
        let mut manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_MANIFEST.into()),
            config: descriptor(media_types::OCI_IMAGE_CONFIG, "sha256:c", 200),
            layers: vec![
                descriptor(media_types::WASM_LAYER, "sha256:w", 3 * 1024 * 1024),
                descriptor(media_types::DATA_LAYER, "sha256:d", 300),
                descriptor(media_types::LOCKED_APP, "sha256:l", 524),
            ],
            annotations: Default::default(),
        };
        manifest
            .annotations
            .insert("org.opencontainers.image.title".into(), "shop".into());
        let report = render(&Inspected {
            source: "127.0.0.1:5000/shop:2".into(),
            digest: Some("sha256:m".into()),
            manifest,
            config: Some(ImageConfig::for_spin_app("sha256:l")),
            locked: Some(locked),
        });
        let expected = "\
Artifact:    127.0.0.1:5000/shop:2
Digest:      sha256:m
App:         shop 2.0.0
Description: sells things
Platform:    Wasip1/wasm

Triggers:
  http  /api/...   api
  http  (private)  api
  http  /teapot    (static response)

Components:
  api  sha256:w  (3.0 MiB, 2 files)

Layers:
  application/vnd.wasm.content.layer.v1+wasm          sha256:w  3.0 MiB
  application/vnd.wasm.content.layer.v1+data          sha256:d  300 B
  application/vnd.fermyon.spin.application.v1+config  sha256:l  524 B
Config:      application/vnd.oci.image.config.v1+json sha256:c  200 B
Total size:  3.0 MiB

Annotations:
  org.opencontainers.image.title: shop
";
        assert_eq!(report, expected);
    }
}
