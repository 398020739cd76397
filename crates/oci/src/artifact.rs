//! A loaded app → the OCI artifact `spin registry push` makes of it (spec §2.1, the
//! mode without composition).
//!
//! - One Wasm layer per distinct component source; the lock's `source` becomes
//!   `{content_type, digest}`, plus `inline` base64 when the Wasm is at most
//!   [`INLINE_MAX_SIZE`] bytes (the layer is pushed all the same).
//! - Simple mode: each file becomes `{digest, inline?, path}` with `path` relative to
//!   the component's `/` mount; files of more than [`INLINE_MAX_SIZE`] bytes are
//!   pushed as one data layer per distinct content, smaller ones travel inline only.
//! - Archive mode (forced, or when simple mode would need [`MAX_LAYER_COUNT`] layers
//!   or more): the lock lists files exactly as in simple mode, but instead of data
//!   layers each component's files travel as one tar.gz layer; readers find them in
//!   it by content digest.
//! - Layers are de-duplicated, `metadata.origin` is dropped, and the lock itself is
//!   the last layer. The config blob is an OCI image config whose label
//!   [`LOCKED_APP_DIGEST_LABEL`](crate::manifest::LOCKED_APP_DIGEST_LABEL) names the
//!   lock layer.
//!
//! Building reads the app's local files but touches no network, so it is tested on
//! its own; the CLI pushes the result.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use spinshim_app::locked::{ContentPath, ContentRef, LockedApp, LockedComponent};

use crate::digest::sha256_digest;
use crate::error::Error;
use crate::manifest::{Descriptor, ImageConfig, ImageManifest};
use crate::{archive, media_types};

/// Setting this variable (to anything) forces archive mode, as in Spin.
pub const ARCHIVE_LAYERS_ENV: &str = "SPIN_OCI_ARCHIVE_LAYERS";
/// Archive mode is used when simple mode would need this many layers or more
/// (besides the lock): the lowest per-image limit among well-known registries.
pub const MAX_LAYER_COUNT: usize = 500;
/// Content of at most this many bytes is inlined into the lock.
pub const INLINE_MAX_SIZE: usize = 128;

/// `org.opencontainers.image.title`: the app name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// `org.opencontainers.image.description`: the app description.
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
/// `org.opencontainers.image.version`: the app version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// `org.opencontainers.image.authors`: the app authors, joined with `, `.
pub const ANNOTATION_AUTHORS: &str = "org.opencontainers.image.authors";
/// `org.opencontainers.image.created`: the RFC 3339 time of the push.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// How files are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblyMode {
    /// One data layer per distinct file.
    Simple,
    /// One tar.gz layer per component with files.
    Archive,
}

/// Choices for [`build`].
#[derive(Debug, Clone, Default)]
pub struct ArtifactOptions {
    /// Explicit manifest annotations; the inferred ones never override these.
    pub annotations: BTreeMap<String, String>,
    /// The RFC 3339 time for [`ANNOTATION_CREATED`]; none adds no such annotation.
    pub created: Option<String>,
    /// Use archive mode whatever the layer count (see [`ARCHIVE_LAYERS_ENV`]).
    pub force_archive: bool,
}

/// A blob with its media type and digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// The media type.
    pub media_type: String,
    /// `sha256:<hex>` of `data`.
    pub digest: String,
    /// The content.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("size", &self.data.len())
            .finish()
    }
}

impl Blob {
    /// A blob of `data`, its digest computed.
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.to_owned(),
            digest: sha256_digest(&data),
            data,
        }
    }

    /// The manifest descriptor of this blob.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// Everything a push sends.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The lock as pushed: sources and files by digest, no origin.
    pub locked: LockedApp,
    /// How files were packed.
    pub mode: AssemblyMode,
    /// The layers in manifest order; the lock layer is the last.
    pub layers: Vec<Blob>,
    /// The OCI image config blob.
    pub config: Blob,
    /// The manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// The image manifest.
    pub fn manifest(&self) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_MANIFEST.to_owned()),
            config: self.config.descriptor(),
            layers: self.layers.iter().map(Blob::descriptor).collect(),
            annotations: self.annotations.clone(),
        }
    }

    /// The manifest as pushed; its sha256 is the artifact's digest.
    pub fn manifest_bytes(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(&self.manifest()).map_err(|cause| Error::Serialize { cause })
    }

    /// The lock layer.
    pub fn lock_layer(&self) -> Option<&Blob> {
        self.layers
            .iter()
            .rev()
            .find(|l| l.media_type == media_types::LOCKED_APP)
    }
}

/// A component's content, read from disk.
struct Content {
    wasm: Vec<u8>,
    /// Each dependency's Wasm, in the lock's order.
    dependencies: Vec<Vec<u8>>,
    /// (path relative to the component's `/`, with `/` separators; bytes)
    files: Vec<(String, Vec<u8>)>,
}

/// Builds the artifact of `locked`, an app loaded from a manifest or a lock whose
/// sources and files are local (`file:` URLs or inline bytes).
pub fn build(locked: &LockedApp, options: &ArtifactOptions) -> Result<Artifact, Error> {
    let contents = locked
        .components
        .iter()
        .map(read_content)
        .collect::<Result<Vec<_>, _>>()?;
    let mut mode = if options.force_archive {
        AssemblyMode::Archive
    } else {
        AssemblyMode::Simple
    };
    let (mut components, mut layers) = assemble(locked, &contents, mode)?;
    if mode == AssemblyMode::Simple && layers.len() >= MAX_LAYER_COUNT {
        mode = AssemblyMode::Archive;
        (components, layers) = assemble(locked, &contents, mode)?;
    }

    let mut pushed = locked.clone();
    pushed.components = components;
    pushed.metadata.remove("origin");
    let lock = Blob::new(media_types::LOCKED_APP, lock_json(&pushed)?);
    let config = ImageConfig::for_spin_app(&lock.digest);
    let config = Blob::new(
        media_types::OCI_IMAGE_CONFIG,
        serde_json::to_vec(&config).map_err(|cause| Error::Serialize { cause })?,
    );
    layers.push(lock);
    let annotations = annotations(&pushed, options);
    Ok(Artifact {
        locked: pushed,
        mode,
        layers,
        config,
        annotations,
    })
}

/// The lock as compact JSON (version and must-understands as [`LockedApp::to_json`]
/// computes them).
fn lock_json(locked: &LockedApp) -> Result<Vec<u8>, Error> {
    let pretty = locked
        .to_json()
        .map_err(|cause| Error::Serialize { cause })?;
    let value: Value =
        serde_json::from_slice(&pretty).map_err(|cause| Error::Serialize { cause })?;
    serde_json::to_vec(&value).map_err(|cause| Error::Serialize { cause })
}

/// The explicit annotations plus the inferred ones they do not already set.
fn annotations(locked: &LockedApp, options: &ArtifactOptions) -> BTreeMap<String, String> {
    let mut out = options.annotations.clone();
    let text = |key: &str| locked.metadata.get(key).and_then(Value::as_str);
    let authors = match locked.metadata.get("authors") {
        Some(Value::Array(items)) => {
            let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!names.is_empty()).then(|| names.join(", "))
        }
        _ => None,
    };
    let inferred = [
        (ANNOTATION_AUTHORS, authors),
        (ANNOTATION_TITLE, text("name").map(str::to_owned)),
        (
            ANNOTATION_DESCRIPTION,
            text("description").map(str::to_owned),
        ),
        (ANNOTATION_VERSION, text("version").map(str::to_owned)),
        (ANNOTATION_CREATED, options.created.clone()),
    ];
    for (key, value) in inferred {
        if let Some(value) = value {
            out.entry(key.to_owned()).or_insert(value);
        }
    }
    out
}

/// Lays out components and layers in one mode; layers are de-duplicated.
fn assemble(
    locked: &LockedApp,
    contents: &[Content],
    mode: AssemblyMode,
) -> Result<(Vec<LockedComponent>, Vec<Blob>), Error> {
    let mut layers = Layers::default();
    let mut components = Vec::with_capacity(locked.components.len());
    for (component, content) in locked.components.iter().zip(contents) {
        let mut out = component.clone();
        let wasm = Blob::new(media_types::WASM_LAYER, content.wasm.clone());
        out.source.content = content_ref(&wasm);
        layers.add(wasm);
        for (dependency, bytes) in out.dependencies.values_mut().zip(&content.dependencies) {
            let wasm = Blob::new(media_types::WASM_LAYER, bytes.clone());
            dependency.source.content = content_ref(&wasm);
            layers.add(wasm);
        }
        out.files = content
            .files
            .iter()
            .map(|(path, bytes)| {
                let blob = Blob::new(media_types::DATA_LAYER, bytes.clone());
                let entry = ContentPath {
                    content: content_ref(&blob),
                    path: PathBuf::from(path),
                };
                if mode == AssemblyMode::Simple && entry.content.inline.is_none() {
                    layers.add(blob);
                }
                entry
            })
            .collect();
        if mode == AssemblyMode::Archive && !content.files.is_empty() {
            let files: Vec<(String, &[u8])> = content
                .files
                .iter()
                .map(|(path, bytes)| (path.clone(), bytes.as_slice()))
                .collect();
            let tar_gz = archive::build(&files).map_err(|cause| Error::ArchiveBuild {
                component: component.id.clone(),
                cause,
            })?;
            layers.add(Blob::new(media_types::ARCHIVE_LAYER, tar_gz));
        }
        components.push(out);
    }
    Ok((components, layers.blobs))
}

/// `{digest, inline?}` for a blob.
fn content_ref(blob: &Blob) -> ContentRef {
    ContentRef {
        source: None,
        inline: (blob.data.len() <= INLINE_MAX_SIZE).then(|| blob.data.clone()),
        digest: Some(blob.digest.clone()),
    }
}

/// Layers in order of first use, without repeats.
#[derive(Default)]
struct Layers {
    seen: HashSet<(String, String)>,
    blobs: Vec<Blob>,
}

impl Layers {
    fn add(&mut self, blob: Blob) {
        if self
            .seen
            .insert((blob.media_type.clone(), blob.digest.clone()))
        {
            self.blobs.push(blob);
        }
    }
}

/// Reads a component's Wasm and files from disk (or the lock's inline bytes).
fn read_content(component: &LockedComponent) -> Result<Content, Error> {
    let id = &component.id;
    let wasm = read_wasm(id, "source", &component.source.content)?;
    let dependencies = component
        .dependencies
        .iter()
        .map(|(key, dependency)| {
            read_wasm(
                id,
                &format!("dependency {key:?}"),
                &dependency.source.content,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::new();
    for entry in &component.files {
        let base = guest_relative(&entry.path).ok_or_else(|| Error::PathEscape {
            component: id.clone(),
            path: entry.path.display().to_string(),
        })?;
        let what = || format!("file {}", entry.path.display());
        match (&entry.content.inline, entry.content.source.as_deref()) {
            (Some(inline), _) if !base.is_empty() => files.push((base, inline.clone())),
            (None, Some(url)) => {
                let path = local_path(id, &what(), url)?;
                if path.is_dir() {
                    read_tree(id, &path, &base, &mut files)?;
                } else if !base.is_empty() {
                    files.push((base, read(id, &path)?));
                } else {
                    return Err(Error::PathEscape {
                        component: id.clone(),
                        path: entry.path.display().to_string(),
                    });
                }
            }
            (Some(_), _) => {
                return Err(Error::PathEscape {
                    component: id.clone(),
                    path: entry.path.display().to_string(),
                })
            }
            (None, None) => {
                return Err(Error::NotLocal {
                    component: id.clone(),
                    what: what(),
                    location: entry.content.digest.clone().unwrap_or_default(),
                })
            }
        }
    }
    Ok(Content {
        wasm,
        dependencies,
        files,
    })
}

/// The Wasm of a source (`what` of component `id`): inline, or a local file.
fn read_wasm(id: &str, what: &str, source: &ContentRef) -> Result<Vec<u8>, Error> {
    match (&source.inline, source.source.as_deref()) {
        (Some(inline), _) => Ok(inline.clone()),
        (None, Some(url)) => {
            let path = local_path(id, what, url)?;
            let bytes = read(id, &path)?;
            if !bytes.starts_with(b"\0asm") {
                return Err(Error::NotWasm {
                    component: id.to_owned(),
                    path,
                });
            }
            Ok(bytes)
        }
        (None, None) => Err(Error::NotLocal {
            component: id.to_owned(),
            what: what.to_owned(),
            location: source.digest.clone().unwrap_or_default(),
        }),
    }
}

/// Adds every file below `dir` (sorted, recursively), at `base/<relative path>`.
fn read_tree(
    id: &str,
    dir: &Path,
    base: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), Error> {
    let fail = |cause| Error::Read {
        component: id.to_owned(),
        path: dir.to_owned(),
        cause,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(fail)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(fail)?;
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let relative = if base.is_empty() {
            name
        } else {
            format!("{base}/{name}")
        };
        if path.is_dir() {
            read_tree(id, &path, &relative, out)?;
        } else {
            out.push((relative, read(id, &path)?));
        }
    }
    Ok(())
}

fn read(id: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|cause| Error::Read {
        component: id.to_owned(),
        path: path.to_owned(),
        cause,
    })
}

/// The local path of a `file:` URL.
fn local_path(id: &str, what: &str, url: &str) -> Result<PathBuf, Error> {
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| Error::NotLocal {
            component: id.to_owned(),
            what: what.to_owned(),
            location: url.to_owned(),
        })
}

/// A guest path (`/static/a.txt`) relative to the component's `/` mount, with `/`
/// separators (`static/a.txt`); `""` for `/` itself; `None` if it climbs with `..`.
fn guest_relative(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests;
