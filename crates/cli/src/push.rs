//! `spinshim push`: build an app's OCI artifact the way `spin registry push` does
//! and send it to a registry, one blob at a time with progress, then the manifest.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use spinshim_app::locked::{ContentRef, LockedApp};
use spinshim_oci::artifact::{self, ArtifactOptions, AssemblyMode, ARCHIVE_LAYERS_ENV};
use spinshim_oci::{media_types, Blob};
use spinshim_runtime::code::composed_wasm;
use spinshim_runtime::FromLock;

use crate::registry::Registry;

/// Push an application to an OCI registry.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The app: a directory holding spin.toml, a spin.toml file, or a lock file.
    #[arg(short = 'f', long = "from", value_name = "APP", default_value = ".")]
    from: PathBuf,

    /// Use plain HTTP (registries on localhost / 127.0.0.1 always do).
    #[arg(short = 'k', long)]
    insecure: bool,

    /// Add a manifest annotation (repeatable); wins over the inferred
    /// org.opencontainers.image.* ones.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,

    /// Compose each component with its dependencies before pushing (the
    /// default, as `spin registry push`); `--compose=false` pushes the
    /// dependencies as Wasm layers of their own, composed where the app runs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    compose: bool,

    /// Where to push, e.g. ghcr.io/me/app:1.0 or 127.0.0.1:5000/app:dev.
    #[arg(value_name = "REFERENCE")]
    reference: String,
}

/// Runs `push`.
pub fn run(args: PushArgs) -> Result<()> {
    let mut locked = spinshim_app::manifest::load_app(&args.from)?;
    if args.compose {
        locked = precompose(locked)?;
    }
    let options = ArtifactOptions {
        annotations: parse_annotations(&args.annotations)?,
        created: Some(chrono::Utc::now().to_rfc3339()),
        force_archive: std::env::var_os(ARCHIVE_LAYERS_ENV).is_some(),
    };
    let artifact = artifact::build(&locked, &options)?;
    if artifact.mode == AssemblyMode::Archive {
        eprintln!("Packing component files as archive layers");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let manifest = artifact.manifest_bytes()?;
    let blobs: Vec<Blob> = artifact
        .layers
        .into_iter()
        .chain(std::iter::once(artifact.config))
        .collect();
    let digest = runtime.block_on(async {
        let registry = Registry::connect(&args.reference, args.insecure).await?;
        let progress = Progress::new();
        for blob in blobs {
            push_blob(&registry, &progress, blob).await?;
        }
        registry.push_manifest(manifest).await
    })?;
    println!("Pushed {} (digest {digest})", args.reference);
    Ok(())
}

/// The app with every component composed with its dependencies, which
/// are then dropped from the lock: `spin registry push`'s default, so the
/// artifact runs on hosts that do not compose.
pub fn precompose(mut locked: LockedApp) -> Result<LockedApp> {
    for component in &mut locked.components {
        if let Some(composed) = composed_wasm(component, &FromLock)? {
            component.source.content = ContentRef {
                inline: Some(composed),
                ..Default::default()
            };
            component.dependencies.clear();
        }
    }
    Ok(locked)
}

/// `KEY=VALUE` pairs; the key must not be empty.
fn parse_annotations(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                out.insert(key.trim().to_owned(), value.to_owned());
            }
            _ => bail!("--annotation {arg:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

async fn push_blob(registry: &Registry, progress: &Progress, blob: Blob) -> Result<()> {
    let bar = progress.bar(&blob);
    if registry.has_blob(&blob.digest).await? {
        progress.finish(&bar, &blob, "already there");
        return Ok(());
    }
    let tracker = bar.clone();
    let data = Bytes::from(blob.data.clone());
    registry
        .push_blob(&blob.digest, data, move |sent| tracker.set_position(sent))
        .await?;
    progress.finish(&bar, &blob, "pushed");
    Ok(())
}

/// One progress bar per blob on a terminal; one line per blob otherwise.
struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    fn new() -> Self {
        let terminal = std::io::stderr().is_terminal();
        Progress {
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    fn bar(&self, blob: &Blob) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let bar = bars.add(ProgressBar::new(blob.data.len() as u64));
        let style = ProgressStyle::with_template(
            "{prefix:8} {msg:19} [{bar:30}] {bytes:>10}/{total_bytes:10}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(kind(&blob.media_type));
        bar.set_message(short(&blob.digest));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    fn finish(&self, bar: &ProgressBar, blob: &Blob, outcome: &str) {
        if self.bars.is_some() {
            bar.set_position(blob.data.len() as u64);
            bar.finish();
        } else {
            eprintln!(
                "{:8} {} {:>10} bytes  {outcome}",
                kind(&blob.media_type),
                blob.digest,
                blob.data.len()
            );
        }
    }
}

/// A short name for a blob's role.
fn kind(media_type: &str) -> &'static str {
    match media_type {
        media_types::WASM_LAYER | media_types::WASM => "wasm",
        media_types::DATA_LAYER => "data",
        media_types::ARCHIVE_LAYER => "archive",
        media_types::LOCKED_APP => "lock",
        media_types::OCI_IMAGE_CONFIG => "config",
        _ => "blob",
    }
}

/// `sha256:` and the first 12 hex digits.
fn short(digest: &str) -> String {
    digest.chars().take(7 + 12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_split_at_the_first_equals_sign() {
        let parsed = parse_annotations(&["a=b=c".into(), "empty=".into()]).unwrap();
        assert_eq!(parsed["a"], "b=c");
        assert_eq!(parsed["empty"], "");
        for bad in ["novalue", "=x"] {
            assert_eq!(
                parse_annotations(&[bad.into()]).unwrap_err().to_string(),
                format!("--annotation {bad:?}: expected KEY=VALUE")
            );
        }
    }
}
