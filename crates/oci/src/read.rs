//! Layers → a runnable app (spec §2.2), for the containerd shim.
//!
//! 1. The lock comes from the [`LOCKED_APP`](media_types::LOCKED_APP) layer (the last
//!    one, should there be several, as Spin's pull lets the lock layer overwrite an
//!    old-style lock config). Without one, a single Wasm layer is a bare component
//!    (see [`OciApp::from_layers`]).
//! 2. Component sources resolve by digest to Wasm layers, falling back to the lock's
//!    inline bytes. The code stays in the layers' memory ([`OciApp::component_code`]).
//! 3. Files resolve from inline bytes, a data layer with the file's digest, or a file
//!    with that content digest inside an archive layer — archive mode lists every file
//!    in the lock by digest, like simple mode, and ships them as one tar.gz per
//!    component. Each is written to `<assets_dir>/<component-id>/<path>` and the
//!    component's `files` becomes that directory mounted at guest `/`.
//!
//! Every check runs here, up front: a component whose source is missing, or that
//! has `dependencies` (pushed with `--compose=false`; this host does not compose),
//! fails loading, not the first request.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::json;
use spinshim_app::locked::{
    ContentPath, ContentRef, LockedApp, LockedComponent, LockedComponentSource, LockedTrigger,
};

use crate::assets::{fresh_dir, is_safe_dir_name, relative_inside, write_file};
use crate::error::Error;
use crate::{archive, media_types};

/// The `metadata.origin` scheme of apps that came from a registry.
pub const ORIGIN_SCHEME: &str = "vnd.fermyon.origin-oci";

/// The app name of a bare component (what Spin names a Wasm file app whose file
/// name it does not know).
pub const WASM_FILE_APP_NAME: &str = "wasm-file";
/// The trigger id of a bare component: what Spin's normalisation gives the one
/// `[[trigger.http]]` of a Wasm file app.
const WASM_FILE_TRIGGER_ID: &str = "http-trigger1";
/// The component id of a bare component: the hoisted inline component of that trigger.
const WASM_FILE_COMPONENT_ID: &str = "http-trigger1-component";

/// One layer as the shim received it (bytes already in memory, from containerd's
/// content store).
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The layer's media type, one of [`media_types::ALL`].
    pub media_type: &'a str,
    /// The layer's digest as the manifest gives it.
    pub digest: &'a str,
    /// The content: as pushed, or AOT code when `precompiled`.
    pub bytes: &'a [u8],
    /// Whether the shim replaced a Wasm layer's bytes by precompiled code.
    pub precompiled: bool,
}

/// The code of one component.
#[derive(Debug, Clone, Copy)]
pub struct ComponentCode<'a> {
    /// Wasm, or AOT code when `precompiled`.
    pub bytes: &'a [u8],
    /// Whether `bytes` are code the shim precompiled (only ever from a layer).
    pub precompiled: bool,
}

/// The app reassembled from layers. Wasm stays in memory, borrowed from the layers;
/// it is never written to disk.
#[derive(Debug)]
pub struct OciApp<'a> {
    /// The lock, with each component's files mounted from the assets directory.
    /// Sources keep their digest (and inline bytes); use
    /// [`OciApp::component_code`] for the code.
    pub locked: LockedApp,
    wasm: HashMap<&'a str, &'a Layer<'a>>,
}

/// The layers sorted by role.
#[derive(Default)]
struct Sorted<'a> {
    lock: Option<&'a Layer<'a>>,
    wasm: HashMap<&'a str, &'a Layer<'a>>,
    data: HashMap<&'a str, &'a Layer<'a>>,
    archives: Vec<&'a Layer<'a>>,
}

impl<'a> Sorted<'a> {
    fn new(layers: &'a [Layer<'a>]) -> Result<Self, Error> {
        let mut sorted = Sorted::default();
        for layer in layers {
            match layer.media_type {
                media_types::LOCKED_APP => sorted.lock = Some(layer),
                media_types::WASM_LAYER | media_types::WASM => {
                    sorted.wasm.insert(layer.digest, layer);
                }
                media_types::DATA_LAYER => {
                    sorted.data.insert(layer.digest, layer);
                }
                media_types::ARCHIVE_LAYER => sorted.archives.push(layer),
                other => {
                    return Err(Error::UnsupportedLayer {
                        digest: layer.digest.to_owned(),
                        media_type: other.to_owned(),
                    })
                }
            }
        }
        Ok(sorted)
    }
}

impl<'a> OciApp<'a> {
    /// Reassembles the app. `assets_dir` is where per-component files are written
    /// (once), e.g. `/.spin/assets` in the container or a temp dir.
    ///
    /// Without a lock layer, a single layer of Wasm (`application/wasm` as `wkg`
    /// pushes, or a Spin Wasm layer) is a bare component. It becomes the app Spin
    /// makes of a lone Wasm file: named [`WASM_FILE_APP_NAME`], one HTTP trigger
    /// `http-trigger1` on route `/...` running component `http-trigger1-component`,
    /// with no files and no permissions.
    pub fn from_layers(layers: &'a [Layer<'a>], assets_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::read(layers, assets_dir)?)
    }

    fn read(layers: &'a [Layer<'a>], assets_dir: &Path) -> Result<Self, Error> {
        let sorted = Sorted::new(layers)?;
        let mut locked = match sorted.lock {
            Some(lock) => {
                let label = format!("lock layer {}", lock.digest);
                LockedApp::from_json(lock.bytes, &label).map_err(|cause| Error::Lock {
                    digest: lock.digest.to_owned(),
                    cause,
                })?
            }
            None => match layers {
                [only] if media_types::is_wasm(only.media_type) => wasm_file_app(only.digest),
                _ => {
                    return Err(Error::MissingLock {
                        layers: layers.len(),
                    })
                }
            },
        };
        for component in &locked.components {
            check_source(component, &sorted.wasm)?;
        }
        if locked.components.iter().any(|c| !c.files.is_empty()) {
            let archived = archived_files(&locked, &sorted)?;
            let assets_dir = std::path::absolute(assets_dir).map_err(|cause| Error::Write {
                path: assets_dir.to_owned(),
                cause,
            })?;
            mount_files(&mut locked, &assets_dir, &sorted.data, &archived)?;
        }
        Ok(OciApp {
            locked,
            wasm: sorted.wasm,
        })
    }

    /// Sets `metadata.origin` to `vnd.fermyon.origin-oci:<reference>`, as Spin does
    /// for apps it pulled.
    pub fn set_origin(&mut self, reference: &str) {
        self.locked.metadata.insert(
            "origin".into(),
            json!(format!("{ORIGIN_SCHEME}:{reference}")),
        );
    }

    /// The code of a component of [`OciApp::locked`]: the Wasm layer with the source's
    /// digest (precompiled if the shim said so), else the lock's inline bytes (never
    /// precompiled).
    pub fn component_code(&self, component_id: &str) -> anyhow::Result<ComponentCode<'_>> {
        let component =
            self.locked
                .component(component_id)
                .ok_or_else(|| Error::UnknownComponent {
                    component: component_id.to_owned(),
                })?;
        self.code_of(&component.source.content)
            .ok_or_else(|| missing_source(component).into())
    }

    /// The Wasm of `component_id`'s dependency `key` (an artifact pushed
    /// uncomposed carries it as a layer of its own).
    pub fn dependency_code(
        &self,
        component_id: &str,
        key: &str,
    ) -> anyhow::Result<ComponentCode<'_>> {
        let dependency = self
            .locked
            .component(component_id)
            .and_then(|c| c.dependencies.get(key))
            .ok_or_else(|| {
                anyhow::anyhow!("component \"{component_id}\" has no dependency \"{key}\"")
            })?;
        let content = &dependency.source.content;
        self.code_of(content).ok_or_else(|| {
            Error::DependencyNotFound {
                component: component_id.to_owned(),
                dependency: key.to_owned(),
                digest: content.digest.clone().unwrap_or_default(),
            }
            .into()
        })
    }

    /// The bytes `content` names: its Wasm layer, else its inline bytes.
    fn code_of<'s>(&'s self, content: &'s ContentRef) -> Option<ComponentCode<'s>> {
        if let Some(layer) = content.digest.as_deref().and_then(|d| self.wasm.get(d)) {
            return Some(ComponentCode {
                bytes: layer.bytes,
                precompiled: layer.precompiled,
            });
        }
        content.inline.as_deref().map(|bytes| ComponentCode {
            bytes,
            precompiled: false,
        })
    }
}

/// The lock Spin makes of a lone Wasm file, with the source by `digest`.
fn wasm_file_app(digest: &str) -> LockedApp {
    let mut app = LockedApp::default();
    app.metadata
        .insert("name".into(), json!(WASM_FILE_APP_NAME));
    app.metadata
        .insert("triggers".into(), json!({ "http": {} }));
    app.metadata
        .insert("trigger".into(), json!({ "type": "http" }));
    app.triggers.push(LockedTrigger {
        id: WASM_FILE_TRIGGER_ID.into(),
        trigger_type: "http".into(),
        trigger_config: json!({ "route": "/...", "component": WASM_FILE_COMPONENT_ID }),
    });
    app.components.push(LockedComponent {
        id: WASM_FILE_COMPONENT_ID.into(),
        source: LockedComponentSource {
            content_type: media_types::WASM.into(),
            content: ContentRef {
                digest: Some(digest.to_owned()),
                ..Default::default()
            },
        },
        ..Default::default()
    });
    app
}

fn missing_source(component: &LockedComponent) -> Error {
    match &component.source.content.digest {
        Some(digest) => Error::SourceNotFound {
            component: component.id.clone(),
            digest: digest.clone(),
        },
        None => Error::SourceMissing {
            component: component.id.clone(),
        },
    }
}

fn check_source(
    component: &LockedComponent,
    wasm: &HashMap<&str, &Layer<'_>>,
) -> Result<(), Error> {
    for (key, dependency) in &component.dependencies {
        let content = &dependency.source.content;
        if !has_wasm(content, wasm) {
            return Err(Error::DependencyNotFound {
                component: component.id.clone(),
                dependency: key.clone(),
                digest: content.digest.clone().unwrap_or_default(),
            });
        }
    }
    if has_wasm(&component.source.content, wasm) {
        Ok(())
    } else {
        Err(missing_source(component))
    }
}

/// Whether `content`'s Wasm is in a layer or inline.
fn has_wasm(content: &ContentRef, wasm: &HashMap<&str, &Layer<'_>>) -> bool {
    let in_layer = content
        .digest
        .as_deref()
        .is_some_and(|d| wasm.contains_key(d));
    in_layer || content.inline.is_some()
}

/// The files the lock needs from archives (by digest), read out of the archive layers.
/// Archives are only opened when some file is neither inline nor in a data layer.
fn archived_files(
    locked: &LockedApp,
    sorted: &Sorted<'_>,
) -> Result<HashMap<String, Vec<u8>>, Error> {
    let wanted: HashSet<&str> = locked
        .components
        .iter()
        .flat_map(|c| &c.files)
        .filter(|f| f.content.inline.is_none())
        .filter_map(|f| f.content.digest.as_deref())
        .filter(|d| !sorted.data.contains_key(d))
        .collect();
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    for layer in &sorted.archives {
        archive::collect_wanted(layer.bytes, &wanted, &mut found).map_err(|cause| {
            Error::Archive {
                digest: layer.digest.to_owned(),
                cause,
            }
        })?;
    }
    Ok(found)
}

/// One file to write: where (relative to the component's directory) and what.
type Planned<'l> = (PathBuf, &'l [u8]);

/// Checks every file of a component (its path stays inside, its content is there)
/// before anything is written.
fn plan_files<'l>(
    component: &'l LockedComponent,
    data: &HashMap<&str, &'l Layer<'_>>,
    archived: &'l HashMap<String, Vec<u8>>,
) -> Result<Vec<Planned<'l>>, Error> {
    if !component.files.is_empty() && !is_safe_dir_name(&component.id) {
        return Err(Error::BadComponentId {
            component: component.id.clone(),
        });
    }
    let mut planned = Vec::with_capacity(component.files.len());
    for file in &component.files {
        let shown = || file.path.display().to_string();
        let relative = relative_inside(&file.path).ok_or_else(|| Error::PathEscape {
            component: component.id.clone(),
            path: shown(),
        })?;
        let content = &file.content;
        let bytes: &[u8] = match (&content.inline, content.digest.as_deref()) {
            (Some(inline), _) => inline,
            (None, Some(digest)) => match data.get(digest) {
                Some(layer) => layer.bytes,
                None => archived.get(digest).ok_or_else(|| Error::FileNotFound {
                    component: component.id.clone(),
                    path: shown(),
                    digest: digest.to_owned(),
                })?,
            },
            (None, None) => {
                return Err(Error::FileWithoutContent {
                    component: component.id.clone(),
                    path: shown(),
                })
            }
        };
        planned.push((relative, bytes));
    }
    Ok(planned)
}

/// Writes each component's files to `<assets_dir>/<id>/` and mounts that at `/`.
fn mount_files(
    locked: &mut LockedApp,
    assets_dir: &Path,
    data: &HashMap<&str, &Layer<'_>>,
    archived: &HashMap<String, Vec<u8>>,
) -> Result<(), Error> {
    let plans = locked
        .components
        .iter()
        .map(|c| plan_files(c, data, archived))
        .collect::<Result<Vec<_>, _>>()?;
    let mut dirs = Vec::with_capacity(plans.len());
    for (component, plan) in locked.components.iter().zip(&plans) {
        if plan.is_empty() {
            dirs.push(None);
            continue;
        }
        let dir = assets_dir.join(&component.id);
        fresh_dir(&dir)?;
        for (relative, bytes) in plan {
            write_file(&dir, relative, bytes)?;
        }
        dirs.push(Some(dir));
    }
    drop(plans);
    for (component, dir) in locked.components.iter_mut().zip(dirs) {
        if let Some(dir) = dir {
            component.files = vec![ContentPath {
                content: ContentRef {
                    source: Some(dir_url(&dir)),
                    ..Default::default()
                },
                path: PathBuf::from("/"),
            }];
        }
    }
    Ok(())
}

/// `file:///abs/dir` for an absolute directory.
fn dir_url(dir: &Path) -> String {
    url::Url::from_file_path(dir)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", dir.display()))
}

#[cfg(test)]
mod tests;
