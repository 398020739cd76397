//! Component dependencies (spec §1.2): which imports a dependency
//! satisfies, and which host capabilities it may reach.
//!
//! A `[component.x.dependencies]` key names imports: a plain kebab name
//! (`my-lib`) matches that import only; a package name matches every
//! import of the package, narrowed by an interface and/or a version when
//! given (`a:b` matches `a:b/c@1.0.0`; `a:b/c@1.0.0` matches only that).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A dependency's key in `[component.x.dependencies]` and in the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyName {
    /// A plain kebab-case import name.
    Plain(String),
    /// `namespace:package[/interface][@version]`.
    Package {
        /// `namespace:package`.
        package: String,
        /// The interface, when the key names one.
        interface: Option<String>,
        /// The version, when the key names one.
        version: Option<String>,
    },
}

impl DependencyName {
    /// Parses a key; the error says what is wrong with it.
    pub fn parse(key: &str) -> Result<Self, String> {
        if !key.contains([':', '/', '@']) {
            return if is_kebab(key) {
                Ok(Self::Plain(key.to_owned()))
            } else {
                Err(format!(
                    "\"{key}\" is neither a kebab-case name nor a package name such as \
                     \"ns:pkg/interface@1.0.0\""
                ))
            };
        }
        let (path, version) = match key.split_once('@') {
            Some((path, version)) => (path, Some(version)),
            None => (key, None),
        };
        let (package, interface) = match path.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (path, None),
        };
        let valid_package = package
            .split_once(':')
            .is_some_and(|(ns, name)| is_kebab(ns) && is_kebab(name));
        if !valid_package || !interface.is_none_or(is_kebab) || !version.is_none_or(is_semver) {
            return Err(format!(
                "\"{key}\" is not a valid package name: expected \"ns:pkg\", optionally \
                 followed by \"/interface\" and \"@version\" (a semantic version)"
            ));
        }
        Ok(Self::Package {
            package: package.to_owned(),
            interface: interface.map(str::to_owned),
            version: version.map(str::to_owned),
        })
    }

    /// Whether this dependency satisfies the import named `import`.
    pub fn matches_import(&self, import: &str) -> bool {
        match self {
            Self::Plain(name) => name == import,
            Self::Package {
                package,
                interface,
                version,
            } => {
                let (path, import_version) = match import.split_once('@') {
                    Some((path, v)) => (path, Some(v)),
                    None => (import, None),
                };
                let Some((import_package, import_interface)) = path.split_once('/') else {
                    return false;
                };
                import_package == package
                    && interface.as_ref().is_none_or(|i| i == import_interface)
                    && version
                        .as_ref()
                        .is_none_or(|v| Some(v.as_str()) == import_version)
            }
        }
    }
}

impl fmt::Display for DependencyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(name) => f.write_str(name),
            Self::Package {
                package,
                interface,
                version,
            } => {
                f.write_str(package)?;
                if let Some(interface) = interface {
                    write!(f, "/{interface}")?;
                }
                if let Some(version) = version {
                    write!(f, "@{version}")?;
                }
                Ok(())
            }
        }
    }
}

/// Words of lower-case letters and digits joined by `-`, each starting
/// with a letter.
fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|word| {
            word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && (word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    || word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
}

/// `major.minor.patch` with an optional `-pre` / `+build`.
fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Which of its parent's capability groups a dependency may use
/// (the lock's `inherit`: `"All"` or `{"Some": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InheritConfiguration {
    /// Every group.
    All,
    /// Only these groups (none when empty, the default).
    Some(Vec<String>),
}

impl Default for InheritConfiguration {
    fn default() -> Self {
        Self::Some(Vec::new())
    }
}

impl InheritConfiguration {
    /// Nothing inherited (the lock omits the field then).
    pub fn is_none(&self) -> bool {
        matches!(self, Self::Some(groups) if groups.is_empty())
    }

    /// Whether the capability group `group` is inherited.
    pub fn inherits(&self, group: &str) -> bool {
        match self {
            Self::All => true,
            Self::Some(groups) => groups.iter().any(|g| g == group),
        }
    }
}

/// Capability groups and the interfaces (without version) each covers:
/// the imports a dependency reaches only by inheriting the group. Group
/// names are the manifest's component fields that grant them.
pub const CAPABILITY_GROUPS: &[(&str, &[&str])] = &[
    ("ai_models", &["fermyon:spin/llm"]),
    (
        "allowed_outbound_hosts",
        &[
            "fermyon:spin/http",
            "fermyon:spin/mysql",
            "fermyon:spin/postgres",
            "fermyon:spin/redis",
            "fermyon:spin/mqtt",
            "spin:mqtt/mqtt",
            "spin:mysql/mysql",
            "spin:postgres/postgres",
            "spin:redis/redis",
            "wasi:http/outgoing-handler",
            "wasi:http/client",
            "wasi:sockets/ip-name-lookup",
            "wasi:sockets/tcp",
            "wasi:sockets/tcp-create-socket",
            "wasi:sockets/udp",
            "wasi:sockets/udp-create-socket",
            "wasi:sockets/types",
        ],
    ),
    ("environment", &["wasi:cli/environment"]),
    ("files", &["wasi:filesystem/preopens"]),
    (
        "key_value_stores",
        &[
            "fermyon:spin/key-value",
            "spin:key-value/key-value",
            "wasi:keyvalue/store",
            "wasi:keyvalue/atomics",
            "wasi:keyvalue/batch",
        ],
    ),
    (
        "sqlite_databases",
        &["fermyon:spin/sqlite", "spin:sqlite/sqlite"],
    ),
    (
        "variables",
        &[
            "fermyon:spin/config",
            "fermyon:spin/variables",
            "spin:variables/variables",
            "wasi:config/store",
        ],
    ),
];

/// The capability group an import (any version) belongs to, if any.
pub fn capability_group(import: &str) -> Option<&'static str> {
    let interface = import.split_once('@').map_or(import, |(path, _)| path);
    CAPABILITY_GROUPS
        .iter()
        .find(|(_, interfaces)| interfaces.contains(&interface))
        .map(|(group, _)| *group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_imports_as_spin_matches_them() {
        for (key, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo:bar/baz", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo-bar", vec!["foo-bar"]),
        ] {
            let name = DependencyName::parse(key).unwrap();
            for import in imports {
                assert!(name.matches_import(import), "{key} vs {import}");
            }
        }
        for (key, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", vec!["foo:bub/bib"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/baz-bub", "foo-bar"]),
        ] {
            let name = DependencyName::parse(key).unwrap();
            for import in imports {
                assert!(!name.matches_import(import), "{key} vs {import}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_bad_names_say_why() {
        for key in ["a:b", "a:b/c", "a:b@1.2.3", "a:b/c@1.0.0-rc.1", "my-lib"] {
            assert_eq!(DependencyName::parse(key).unwrap().to_string(), key);
        }
        for key in ["a:b/c@1.0", "A_b", "a:/c", ":b", "a:b/c/d"] {
            assert!(DependencyName::parse(key).is_err(), "{key}");
        }
    }

    #[test]
    fn imports_fall_into_their_capability_group_at_any_version() {
        assert_eq!(
            capability_group("wasi:cli/environment@0.2.0"),
            Some("environment")
        );
        assert_eq!(
            capability_group("wasi:http/outgoing-handler@0.2.6"),
            Some("allowed_outbound_hosts")
        );
        assert_eq!(capability_group("fermyon:spin/config"), Some("variables"));
        assert_eq!(capability_group("wasi:io/streams@0.2.6"), None);
    }

    #[test]
    fn inherit_reads_and_writes_like_spins_lock() {
        let some: InheritConfiguration = serde_json::from_str(r#"{"Some":["files"]}"#).unwrap();
        assert!(some.inherits("files") && !some.inherits("environment"));
        let all: InheritConfiguration = serde_json::from_str(r#""All""#).unwrap();
        assert!(all.inherits("environment"));
        assert_eq!(serde_json::to_string(&all).unwrap(), r#""All""#);
    }
}
