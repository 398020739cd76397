//! Errors of this crate.
//!
//! Each message starts with the thing at fault (a layer digest, `component "api"`,
//! a reference), then says what is wrong. Underlying errors are part of the message
//! and deliberately not exposed as `source()`, so a printed chain does not repeat
//! them.

use std::path::PathBuf;

/// Everything that can go wrong reading layers into an app or building an artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No lock layer, and the layers are not a single bare component either.
    #[error(
        "no Spin lock layer ({}) among the {layers} layer(s), and they are not a single Wasm component",
        crate::media_types::LOCKED_APP
    )]
    MissingLock {
        /// How many layers there were.
        layers: usize,
    },
    /// The lock layer is not a valid locked app. The message starts with
    /// `lock layer <digest>`.
    #[error("{cause}")]
    Lock {
        /// The lock layer's digest.
        digest: String,
        /// What is wrong with it.
        cause: spinshim_app::Error,
    },
    /// A layer of a media type that has no place in a Spin app.
    #[error("layer {digest}: media type {media_type:?} is not part of a Spin app")]
    UnsupportedLayer {
        /// The layer's digest.
        digest: String,
        /// Its media type.
        media_type: String,
    },
    /// A component id that cannot name a directory of its own.
    #[error("component {component:?}: the id cannot name an asset directory")]
    BadComponentId {
        /// The id.
        component: String,
    },
    /// A component's source digest matches no Wasm layer and there are no inline bytes.
    #[error("component {component:?}: source digest {digest} matches no Wasm layer")]
    SourceNotFound {
        /// The component id.
        component: String,
        /// The digest the lock gives.
        digest: String,
    },
    /// A component's source has neither a digest nor inline bytes.
    #[error("component {component:?}: source has neither a digest nor inline bytes")]
    SourceMissing {
        /// The component id.
        component: String,
    },
    /// A file's digest matches no data layer and no file inside an archive layer.
    #[error("component {component:?}: file {path:?}: digest {digest} matches no data layer or archived file")]
    FileNotFound {
        /// The component id.
        component: String,
        /// The file's path as the lock gives it.
        path: String,
        /// The digest the lock gives.
        digest: String,
    },
    /// A file with neither a digest nor inline bytes.
    #[error("component {component:?}: file {path:?} has neither a digest nor inline bytes")]
    FileWithoutContent {
        /// The component id.
        component: String,
        /// The file's path as the lock gives it.
        path: String,
    },
    /// A file path that is absolute, climbs out with `..` or is empty.
    #[error("component {component:?}: file path {path:?} must be relative and stay inside the component's files")]
    PathEscape {
        /// The component id.
        component: String,
        /// The offending path.
        path: String,
    },
    /// An archive layer could not be decompressed or read.
    #[error("archive layer {digest}: {cause}")]
    Archive {
        /// The layer's digest.
        digest: String,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// A file or directory under the assets directory could not be written.
    #[error("writing {}: {cause}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// The app has no component with this id.
    #[error("component {component:?} is not part of the app")]
    UnknownComponent {
        /// The id asked for.
        component: String,
    },
    /// A manifest or config document is not what it should be.
    #[error("{what}: {cause}")]
    Manifest {
        /// What was read, e.g. the reference or `config sha256:…`.
        what: String,
        /// The JSON error.
        cause: serde_json::Error,
    },
    /// A reference resolved to an image index rather than a single manifest.
    #[error("{what}: is an image index; a Spin app is a single image manifest")]
    ImageIndex {
        /// The reference.
        what: String,
    },
    /// A dependency (pushed uncomposed) whose Wasm is in no layer.
    #[error("component {component:?}: dependency {dependency:?}: digest {digest} matches no Wasm layer and it has no inline bytes")]
    DependencyNotFound {
        /// The component id.
        component: String,
        /// The dependency's key.
        dependency: String,
        /// The digest the lock gives (empty when none).
        digest: String,
    },
    /// Content that is neither inline nor a local `file:` URL, so it cannot be pushed.
    #[error("component {component:?}: {what} {location:?} is not a local file")]
    NotLocal {
        /// The component id.
        component: String,
        /// `source` or `file <path>`.
        what: String,
        /// The URL or digest found.
        location: String,
    },
    /// A local source or file could not be read.
    #[error("component {component:?}: reading {}: {cause}", path.display())]
    Read {
        /// The component id.
        component: String,
        /// The path.
        path: PathBuf,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// A source that does not start with the Wasm magic number.
    #[error("component {component:?}: {} is not a Wasm binary", path.display())]
    NotWasm {
        /// The component id.
        component: String,
        /// The source path.
        path: PathBuf,
    },
    /// A component's files could not be packed into an archive layer.
    #[error("component {component:?}: packing files into an archive layer: {cause}")]
    ArchiveBuild {
        /// The component id.
        component: String,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// The rewritten lock could not be serialised.
    #[error("serialising the lock: {cause}")]
    Serialize {
        /// The JSON error.
        cause: serde_json::Error,
    },
}
