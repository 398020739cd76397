//! Writing a component's files under the assets directory, where nothing from the
//! lock (component ids, file paths) may lead outside it.

use std::fs;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// True when `id` names exactly one directory level: not empty, not `.` or `..`,
/// no separators.
pub(crate) fn is_safe_dir_name(id: &str) -> bool {
    let mut parts = Path::new(id).components();
    matches!(parts.next(), Some(Component::Normal(p)) if p == id)
        && parts.next().is_none()
        && !id.contains(['/', '\\', '\0'])
}

/// A lock file path as a path relative to the component's directory: only plain
/// names are allowed (no root, `.`, `..` or prefix), and at least one.
pub(crate) fn relative_inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Makes `dir` an empty directory of its own: whatever was there (files of an
/// earlier start, or a symbolic link placed to redirect the writes) is removed
/// first, the link itself and not what it points to.
pub(crate) fn fresh_dir(dir: &Path) -> Result<(), Error> {
    let write_error = |cause| Error::Write {
        path: dir.to_owned(),
        cause,
    };
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(dir).map_err(write_error)?,
        Ok(_) => fs::remove_file(dir).map_err(write_error)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(write_error(err)),
    }
    fs::create_dir_all(dir).map_err(write_error)
}

/// Writes `bytes` to a new file `dir/relative` (in a [`fresh_dir`]), creating
/// parent directories; an existing file or link there is an error, so a write
/// never follows a link.
pub(crate) fn write_file(dir: &Path, relative: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dest = dir.join(relative);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|cause| Error::Write {
            path: parent.to_owned(),
            cause,
        })?;
    }
    // A lock may list one path twice: the later content wins, as it would
    // have had the files been copied one after the other.
    if fs::symlink_metadata(&dest).is_ok_and(|meta| meta.is_file()) {
        fs::remove_file(&dest).map_err(|cause| Error::Write {
            path: dest.clone(),
            cause,
        })?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&dest)
        .map_err(|cause| Error::Write {
            path: dest.clone(),
            cause,
        })?;
    file.write_all(bytes)
        .map_err(|cause| Error::Write { path: dest, cause })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_stay_inside() {
        for good in ["a.txt", "static/index.html", "a/b/c"] {
            assert_eq!(relative_inside(Path::new(good)), Some(PathBuf::from(good)));
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "/"] {
            assert_eq!(relative_inside(Path::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn component_ids_must_name_one_directory() {
        assert!(is_safe_dir_name("api"));
        assert!(is_safe_dir_name("http-trigger1-component"));
        for bad in ["", ".", "..", "a/b", "../x", "/abs", "a\\b"] {
            assert!(!is_safe_dir_name(bad), "{bad}");
        }
    }
}
