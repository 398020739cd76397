//! Expands a component's `files` into one mount per file (spec §1.1 Files).
//!
//! - `"path"` or `"glob/**/*"`: each file keeps its app-relative path under guest `/`.
//!   A glob includes only the files it matches; a plain directory path includes its
//!   whole tree.
//! - `{ source = "dir", destination = "/abs" }`: a file, or a directory tree, appears
//!   at `destination`.
//! - `exclude_files` globs are matched against app-relative host paths.
//!
//! Patterns ending in `.` or `..`, patterns leading outside the application directory
//! (by `..` or through a symbolic link) and missing non-glob paths are errors naming
//! the component and the pattern. Symbolic links that stay inside are followed.

use std::path::{Component, Path, PathBuf};

use super::v2::{FileDef, StrOr};
use crate::error::{Error, Problem, Result};
use crate::locked::{ContentPath, ContentRef};

/// `file:///abs/path`.
pub(crate) fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", path.display()))
}

/// Joins `relative` to `base` lexically, resolving `.` and `..`; `None` if the result
/// would leave `base` or `relative` is absolute.
pub(crate) fn join_inside(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(relative).components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let mut out = base.to_owned();
    out.extend(parts);
    Some(out)
}

fn has_glob_chars(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

fn ends_in_dots(pattern: &str) -> bool {
    let trimmed = pattern.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    last == "." || last == ".."
}

struct Expander<'a> {
    file: &'a str,
    field: String,
    app_dir: &'a Path,
    /// The app directory as the bound no file may resolve outside of.
    app_bound: Bound<'a>,
    exclude: Vec<glob::Pattern>,
    out: Vec<ContentPath>,
}

/// A directory nothing below it may resolve outside of: as written (for
/// messages) and resolved once (for the checks).
struct Bound<'b> {
    written: &'b Path,
    resolved: PathBuf,
}

impl<'b> Bound<'b> {
    fn new(dir: &'b Path) -> Self {
        Bound {
            written: dir,
            resolved: dir.canonicalize().unwrap_or_else(|_| dir.to_owned()),
        }
    }
}

/// Expands `files` of component `component` in `app_dir` (absolute).
pub(crate) fn expand(
    file: &str,
    component: &str,
    app_dir: &Path,
    files: &[FileDef],
    exclude_files: &[String],
) -> Result<Vec<ContentPath>> {
    let exclude = exclude_files
        .iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|source| {
                Error::invalid(
                    file,
                    format!("component \"{component}\": exclude_files"),
                    Problem::Glob {
                        pattern: p.clone(),
                        cause: source,
                    },
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut x = Expander {
        file,
        field: format!("component \"{component}\": files"),
        app_dir,
        app_bound: Bound::new(app_dir),
        exclude,
        out: Vec::new(),
    };
    for def in files {
        match def {
            StrOr::Str(pattern) => x.pattern(pattern)?,
            StrOr::Table(mapping) => x.mapping(&mapping.source, &mapping.destination)?,
        }
    }
    Ok(x.out)
}

impl Expander<'_> {
    fn fail(&self, problem: Problem) -> Error {
        Error::invalid(self.file, self.field.clone(), problem)
    }

    fn checked_path(&self, pattern: &str) -> Result<PathBuf> {
        if ends_in_dots(pattern) {
            return Err(self.fail(Problem::FileDots {
                pattern: pattern.to_owned(),
            }));
        }
        join_inside(self.app_dir, pattern).ok_or_else(|| {
            self.fail(Problem::FileEscapes {
                pattern: pattern.to_owned(),
            })
        })
    }

    fn pattern(&mut self, pattern: &str) -> Result<()> {
        let path = self.checked_path(pattern)?;
        if has_glob_chars(pattern) {
            let full = format!(
                "{}/{}",
                glob::Pattern::escape(&self.app_dir.to_string_lossy()),
                pattern.trim_start_matches("./")
            );
            let matches = glob::glob(&full).map_err(|source| {
                self.fail(Problem::Glob {
                    pattern: pattern.to_owned(),
                    cause: source,
                })
            })?;
            for entry in matches {
                let host = entry.map_err(|e| {
                    let path = e.path().to_owned();
                    self.fail(Problem::FileRead {
                        path,
                        cause: std::io::Error::from(e),
                    })
                })?;
                if host.is_file() && host.starts_with(self.app_dir) {
                    self.check_inside(pattern, &self.app_bound, &host)?;
                    let guest =
                        Path::new("/").join(host.strip_prefix(self.app_dir).unwrap_or(&host));
                    self.add(host, guest);
                }
            }
            return Ok(());
        }
        if !path.exists() {
            return Err(self.fail(Problem::FileMissing {
                pattern: pattern.to_owned(),
            }));
        }
        let guest = Path::new("/").join(path.strip_prefix(self.app_dir).unwrap_or(&path));
        self.tree(pattern, path, guest)
    }

    fn mapping(&mut self, source: &str, destination: &str) -> Result<()> {
        if !destination.starts_with('/') {
            return Err(self.fail(Problem::FileDestination {
                destination: destination.to_owned(),
            }));
        }
        let path = self.checked_path(source)?;
        if !path.exists() {
            return Err(self.fail(Problem::FileMissing {
                pattern: source.to_owned(),
            }));
        }
        self.tree(source, path, PathBuf::from(destination))
    }

    /// Fails if `host` (a path below `bound`, as written) resolves to somewhere
    /// outside `bound` through a symbolic link. `bound` is the app directory, or
    /// the directory a pattern or mapping names: a tree mounted as a whole may
    /// not reach out of itself, just as a directly mounted one cannot.
    fn check_inside(&self, pattern: &str, bound: &Bound<'_>, host: &Path) -> Result<()> {
        let target = host.canonicalize().map_err(|cause| {
            self.fail(Problem::FileRead {
                path: host.to_owned(),
                cause,
            })
        })?;
        if target.starts_with(&bound.resolved) {
            return Ok(());
        }
        // Name the outermost path on the way that leads out: the link itself.
        let on_the_way: Vec<&Path> = host
            .ancestors()
            .take_while(|p| p.starts_with(bound.written) && *p != bound.written)
            .collect();
        let link = on_the_way
            .into_iter()
            .rev()
            .find(|p| {
                p.canonicalize()
                    .is_ok_and(|t| !t.starts_with(&bound.resolved))
            })
            .unwrap_or(host);
        let relative = |p: &Path| p.strip_prefix(self.app_dir).unwrap_or(p).to_owned();
        Err(self.fail(Problem::FileLinksOutside {
            pattern: pattern.to_owned(),
            link: relative(link),
            target: link.canonicalize().unwrap_or(target),
            bound: if bound.written == self.app_dir {
                "the application directory".to_owned()
            } else {
                format!("\"{}\"", relative(bound.written).display())
            },
        }))
    }

    /// Adds a file, or every file below a directory, mapping `host` to `guest`.
    fn tree(&mut self, pattern: &str, host: PathBuf, guest: PathBuf) -> Result<()> {
        self.check_inside(pattern, &self.app_bound, &host)?;
        if host.is_dir() {
            let bound = Bound::new(&host);
            self.walk(pattern, &bound, &host, guest)
        } else {
            self.add(host, guest);
            Ok(())
        }
    }

    /// Adds every file below `dir`, a directory inside `bound`, the tree that
    /// is mounted as a whole.
    fn walk(&mut self, pattern: &str, bound: &Bound<'_>, dir: &Path, guest: PathBuf) -> Result<()> {
        if dir.is_symlink() {
            // A link to a directory it is in would be walked for ever.
            let target = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
            let parent = dir.parent().and_then(|p| p.canonicalize().ok());
            if parent.is_some_and(|parent| parent.starts_with(&target)) {
                return Err(self.fail(Problem::FileLinkLoop {
                    pattern: pattern.to_owned(),
                    link: dir.strip_prefix(self.app_dir).unwrap_or(dir).to_owned(),
                }));
            }
        }
        let mut entries = std::fs::read_dir(dir)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.path()))
                    .collect::<std::io::Result<Vec<_>>>()
            })
            .map_err(|source| {
                self.fail(Problem::FileRead {
                    path: dir.to_owned(),
                    cause: source,
                })
            })?;
        entries.sort();
        for entry in entries {
            self.check_inside(pattern, bound, &entry)?;
            let name = entry.file_name().map(PathBuf::from).unwrap_or_default();
            if entry.is_dir() {
                self.walk(pattern, bound, &entry, guest.join(name))?;
            } else {
                self.add(entry, guest.join(name));
            }
        }
        Ok(())
    }

    fn add(&mut self, host: PathBuf, guest: PathBuf) {
        let relative = host.strip_prefix(self.app_dir).unwrap_or(&host);
        let relative = relative.to_string_lossy().replace('\\', "/");
        if self.exclude.iter().any(|p| p.matches(&relative)) {
            return;
        }
        if self.out.iter().any(|c| c.path == guest) {
            return;
        }
        self.out.push(ContentPath {
            content: ContentRef {
                source: Some(file_url(&host)),
                ..Default::default()
            },
            path: guest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::v2::FileMapping;
    use super::*;

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "static/a.txt",
            "static/b.md",
            "static/sub/c.txt",
            "top.txt",
            "other/d.txt",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        dir
    }

    fn guest_paths(files: &[ContentPath]) -> Vec<String> {
        files.iter().map(|f| f.path.display().to_string()).collect()
    }

    fn run(dir: &Path, files: Vec<FileDef>, exclude: &[&str]) -> Result<Vec<ContentPath>> {
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        expand("spin.toml", "api", dir, &files, &exclude)
    }

    fn s(p: &str) -> FileDef {
        StrOr::Str(p.into())
    }

    #[test]
    fn patterns_keep_app_relative_paths_under_root() {
        let dir = setup();
        let root = dir.path().canonicalize().unwrap();
        let files = run(
            &root,
            vec![s("static/*.txt"), s("top.txt"), s("other")],
            &[],
        )
        .unwrap();
        assert_eq!(
            guest_paths(&files),
            ["/static/a.txt", "/top.txt", "/other/d.txt"]
        );
        assert_eq!(
            files[1].content.source.as_deref(),
            Some(file_url(&root.join("top.txt")).as_str())
        );
        assert!(files[1]
            .content
            .source
            .as_deref()
            .unwrap()
            .starts_with("file:///"));
    }

    #[test]
    fn recursive_globs_and_excludes_apply_to_app_relative_paths() {
        let dir = setup();
        let root = dir.path().canonicalize().unwrap();
        let files = run(&root, vec![s("static/**/*")], &["**/*.md", "static/sub/*"]).unwrap();
        assert_eq!(guest_paths(&files), ["/static/a.txt"]);
    }

    #[test]
    fn mappings_place_files_and_trees_at_the_destination() {
        let dir = setup();
        let root = dir.path().canonicalize().unwrap();
        let map = |source: &str, destination: &str| {
            StrOr::Table(FileMapping {
                source: source.into(),
                destination: destination.into(),
            })
        };
        let files = run(
            &root,
            vec![map("static", "/assets"), map("top.txt", "/etc/top")],
            &["static/b.md"],
        )
        .unwrap();
        assert_eq!(
            guest_paths(&files),
            ["/assets/a.txt", "/assets/sub/c.txt", "/etc/top"]
        );
    }

    #[test]
    fn bad_patterns_are_errors_naming_component_and_pattern() {
        let dir = setup();
        let root = dir.path().canonicalize().unwrap();
        let cases: Vec<(FileDef, &str)> = vec![
            (s("../x"), "spin.toml: component \"api\": files: \"../x\" escapes the application directory"),
            (s("static/../../x"), "spin.toml: component \"api\": files: \"static/../../x\" escapes the application directory"),
            (s("/etc/passwd"), "spin.toml: component \"api\": files: \"/etc/passwd\" escapes the application directory"),
            (s("static/.."), "spin.toml: component \"api\": files: \"static/..\" must not end in \".\" or \"..\""),
            (s("."), "spin.toml: component \"api\": files: \".\" must not end in \".\" or \"..\""),
            (s("missing.txt"), "spin.toml: component \"api\": files: \"missing.txt\" does not exist"),
            (
                StrOr::Table(FileMapping {
                    source: "static".into(),
                    destination: "rel".into(),
                }),
                "spin.toml: component \"api\": files: destination \"rel\" must be an absolute path",
            ),
        ];
        for (def, message) in cases {
            assert_eq!(run(&root, vec![def], &[]).unwrap_err().to_string(), message);
        }
        assert_eq!(
            run(&root, vec![], &["[x"]).unwrap_err().to_string(),
            "spin.toml: component \"api\": exclude_files: invalid glob \"[x\": Pattern syntax error near position 0: invalid range pattern"
        );
    }

    #[test]
    fn a_glob_matching_nothing_is_fine() {
        let dir = setup();
        assert!(run(dir.path(), vec![s("nothing/*.x")], &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn symbolic_links_leading_outside_are_refused_and_those_inside_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "host").unwrap();
        let outside = outside.path().canonicalize().unwrap();
        let refused = |make: &dyn Fn(&Path), def: FileDef| {
            let dir = setup();
            let root = dir.path().canonicalize().unwrap();
            make(&root);
            run(&root, vec![def], &[]).unwrap_err().to_string()
        };
        let link = |name: &'static str, target: PathBuf| {
            move |root: &Path| std::os::unix::fs::symlink(&target, root.join(name)).unwrap()
        };
        let message = |pattern: &str, link: &str, target: &Path, bound: &str| {
            format!(
                "spin.toml: component \"api\": files: \"{pattern}\": {link} is a symbolic link to {}, outside {bound}",
                target.display()
            )
        };
        let app = "the application directory";
        assert_eq!(
            refused(&link("static/host-dir", outside.clone()), s("static")),
            message("static", "static/host-dir", &outside, "\"static\"")
        );
        let secret = outside.join("secret.txt");
        assert_eq!(
            refused(&link("other/host-file", secret.clone()), s("other/*")),
            message("other/*", "other/host-file", &secret, app)
        );
        assert_eq!(
            refused(
                &link("static/host-dir", outside.clone()),
                s("static/host-dir/secret.txt")
            ),
            message(
                "static/host-dir/secret.txt",
                "static/host-dir",
                &outside,
                app
            )
        );
        let up = StrOr::Table(FileMapping {
            source: "up".into(),
            destination: "/".into(),
        });
        let dir = setup();
        let parent = dir
            .path()
            .canonicalize()
            .unwrap()
            .parent()
            .unwrap()
            .to_owned();
        drop(dir);
        let refused_up = refused(&link("up", "..".into()), up);
        assert!(
            refused_up.ends_with(&format!(
                "is a symbolic link to {}, outside {app}",
                parent.display()
            )),
            "{refused_up}"
        );
        // Inside the app, but outside the tree that is mounted as a whole.
        let sibling = refused(&link("static/sibling", "../other".into()), s("static"));
        assert!(
            sibling.contains("static/sibling is a symbolic link to"),
            "{sibling}"
        );
        assert!(sibling.ends_with("other, outside \"static\""), "{sibling}");
        for (name, target) in [("static/self", "."), ("static/sub/back", "..")] {
            assert_eq!(
                refused(&link(name, target.into()), s("static")),
                format!("spin.toml: component \"api\": files: \"static\": {name} is a symbolic link to a directory it is in")
            );
        }

        let dir = setup();
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("static/sub", root.join("inside")).unwrap();
        std::os::unix::fs::symlink("sub/c.txt", root.join("static/c-again.txt")).unwrap();
        let files = run(&root, vec![s("inside"), s("static")], &[]).unwrap();
        assert_eq!(
            guest_paths(&files),
            [
                "/inside/c.txt",
                "/static/a.txt",
                "/static/b.md",
                "/static/c-again.txt",
                "/static/sub/c.txt"
            ]
        );
    }
}
