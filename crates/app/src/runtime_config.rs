//! `runtime-config.toml` (spec §8): host settings that are not part of the app.
//!
//! This module reads the file: top-level scalars are typed, variables providers are
//! typed (they feed [`crate::variables::resolve_app_variables_with`]), and every other
//! top-level key is kept as TOML for the host capability that owns it. A capability
//! reads its section with [`RuntimeConfig::section`] into its own serde type, so
//! unknown fields are reported naming the file, the section and the field; the host,
//! which knows every capability, rejects unknown sections with
//! [`RuntimeConfig::check_sections`].

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Problem, Result};
use crate::variables::DEFAULT_ENV_PREFIX;

/// Top-level keys parsed by this module itself.
pub const PARSED_KEYS: &[&str] = &[
    "state_dir",
    "log_dir",
    "max_instance_memory",
    "variables_provider",
    "config_provider",
];

/// A parsed runtime config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConfig {
    /// The file's name in error messages (`""` when there is no file).
    pub label: String,
    /// The directory of the file, against which key-value `path`s and `client_tls`
    /// files resolve. `None` when parsed from a string.
    pub config_dir: Option<PathBuf>,
    /// `state_dir`.
    pub state_dir: Option<StateDir>,
    /// `log_dir`, as written.
    pub log_dir: Option<PathBuf>,
    /// `max_instance_memory`, in bytes.
    pub max_instance_memory: Option<u64>,
    /// `[[variables_provider]]` and `[[config_provider]]` entries, in file order within
    /// each key; when both keys are used, the key written first comes first.
    pub variables_providers: Vec<VariablesProvider>,
    /// Every other top-level key, as written, in file order.
    pub sections: IndexMap<String, toml::Value>,
}

/// `state_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDir {
    /// `state_dir = ""`: no state directory; stores are in memory.
    Disabled,
    /// A directory, as written.
    Path(PathBuf),
}

/// One variables provider.
#[derive(Debug, Clone, PartialEq)]
pub enum VariablesProvider {
    /// `type = "env"`: reads `<prefix>_<UPPER_NAME>`, then the dotenv file.
    Env {
        /// Defaults to `SPIN_VARIABLE`.
        prefix: String,
        /// A `.env` file to read as a fallback.
        dotenv_path: Option<PathBuf>,
    },
    /// `type = "static"`: fixed values.
    Static {
        /// Name → value.
        values: IndexMap<String, String>,
    },
    /// `vault` or `azure_key_vault`: kept as the whole table (including `type`).
    Other(toml::Table),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvProvider {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    dotenv_path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticProvider {
    #[serde(rename = "type")]
    _kind: String,
    #[serde(default)]
    values: IndexMap<String, String>,
}

impl RuntimeConfig {
    /// Reads a runtime config file; errors are labelled with its path.
    pub fn from_file(path: &Path) -> Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            cause: source,
        })?;
        let mut config = Self::from_toml_str(&text, &path.display().to_string())?;
        config.config_dir = Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned(),
        );
        Ok(config)
    }

    /// Parses runtime config text; `label` names the file in errors.
    pub fn from_toml_str(text: &str, label: &str) -> Result<RuntimeConfig> {
        let de =
            toml::Deserializer::parse(text).map_err(|e| Error::from_toml_syntax(label, text, e))?;
        let table: toml::Table = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::from_toml_path(label, Some(text), e))?;
        let mut config = RuntimeConfig {
            label: label.to_owned(),
            ..RuntimeConfig::default()
        };
        for (key, value) in table {
            let wrong =
                |expected| Error::invalid(label, key.clone(), Problem::WrongType { expected });
            match key.as_str() {
                "state_dir" => {
                    let dir = value.as_str().ok_or_else(|| wrong("a string"))?;
                    config.state_dir = Some(if dir.is_empty() {
                        StateDir::Disabled
                    } else {
                        StateDir::Path(dir.into())
                    });
                }
                "log_dir" => {
                    config.log_dir = Some(value.as_str().ok_or_else(|| wrong("a string"))?.into())
                }
                "max_instance_memory" => {
                    let n = value
                        .as_integer()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| wrong("a non-negative integer"))?;
                    config.max_instance_memory = Some(n);
                }
                "variables_provider" | "config_provider" => {
                    let toml::Value::Array(items) = value else {
                        return Err(wrong("an array of tables ([[...]])"));
                    };
                    for (index, item) in items.into_iter().enumerate() {
                        let field = format!("{key}[{index}]");
                        config
                            .variables_providers
                            .push(parse_provider(label, &field, item)?);
                    }
                }
                _ => {
                    config.sections.insert(key, value);
                }
            }
        }
        Ok(config)
    }

    /// A top-level section as written, e.g. `outbound_networking`.
    pub fn raw_section(&self, key: &str) -> Option<&toml::Value> {
        self.sections.get(key)
    }

    /// A section read into its owner's type; `None` when the file lacks it.
    /// Errors name the file, the section and the field (e.g.
    /// `rc.toml: key_value_store.cache: unknown field "uri", ...`).
    pub fn section<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(value) = self.sections.get(key) else {
            return Ok(None);
        };
        serde_path_to_error::deserialize(value.clone())
            .map(Some)
            .map_err(|e| prefix_field(Error::from_toml_path(&self.label, None, e), key))
    }

    /// A section of labelled tables (`[key_value_store.<label>]`), each read
    /// into its owner's type; empty when the file lacks it. Errors name the
    /// file, the section and label, and the field.
    pub fn labelled_section<T: DeserializeOwned>(&self, key: &str) -> Result<IndexMap<String, T>> {
        let Some(value) = self.sections.get(key) else {
            return Ok(IndexMap::new());
        };
        let toml::Value::Table(tables) = value else {
            return Err(Error::invalid(
                &self.label,
                key,
                Problem::WrongType {
                    expected: "a table",
                },
            ));
        };
        tables
            .iter()
            .map(|(label, table)| {
                let field = format!("{key}.{label}");
                if !table.is_table() {
                    return Err(Error::invalid(
                        &self.label,
                        field,
                        Problem::WrongType {
                            expected: "a table",
                        },
                    ));
                }
                serde_path_to_error::deserialize(table.clone())
                    .map(|typed| (label.clone(), typed))
                    .map_err(|e| prefix_field(Error::from_toml_path(&self.label, None, e), &field))
            })
            .collect()
    }

    /// Fails on the first top-level key that neither this module nor any
    /// of `known` (the sections the host's capabilities read) accepts.
    pub fn check_sections(&self, known: &[&'static str]) -> Result<()> {
        match self.sections.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(Error::invalid(
                &self.label,
                "",
                Problem::UnknownField {
                    name: unknown.clone(),
                    expected: PARSED_KEYS.iter().chain(known).copied().collect(),
                },
            )),
        }
    }

    /// Resolves a path written in this file against the file's directory
    /// (the current directory when there is no file).
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        match &self.config_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        }
    }
}

/// Puts `outer` in front of the field an error names.
fn prefix_field(error: Error, outer: &str) -> Error {
    match error {
        Error::Toml {
            file,
            field,
            location,
            cause,
        } => Error::Toml {
            file,
            field: if field.is_empty() {
                outer.to_owned()
            } else {
                format!("{outer}.{field}")
            },
            location,
            cause,
        },
        other => other,
    }
}

fn parse_provider(label: &str, field: &str, item: toml::Value) -> Result<VariablesProvider> {
    let toml::Value::Table(table) = item else {
        return Err(Error::invalid(
            label,
            field,
            Problem::WrongType {
                expected: "a table",
            },
        ));
    };
    let kind = match table.get("type") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(Error::invalid(
                label,
                format!("{field}.type"),
                Problem::WrongType {
                    expected: "a string",
                },
            ))
        }
        None => {
            return Err(Error::invalid(
                label,
                field,
                Problem::MissingField { name: "type" },
            ))
        }
    };
    let typed = |e: serde_path_to_error::Error<toml::de::Error>| {
        prefix_field(Error::from_toml_path(label, None, e), field)
    };
    match kind.as_str() {
        "env" => {
            let p: EnvProvider = serde_path_to_error::deserialize(table).map_err(typed)?;
            Ok(VariablesProvider::Env {
                prefix: p.prefix.unwrap_or_else(|| DEFAULT_ENV_PREFIX.into()),
                dotenv_path: p.dotenv_path,
            })
        }
        "static" => {
            let p: StaticProvider = serde_path_to_error::deserialize(table).map_err(typed)?;
            Ok(VariablesProvider::Static { values: p.values })
        }
        "vault" | "azure_key_vault" => Ok(VariablesProvider::Other(table)),
        _ => Err(Error::invalid(
            label,
            format!("{field}.type"),
            Problem::UnknownType {
                name: kind,
                expected: vec!["env", "static", "vault", "azure_key_vault"],
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
state_dir = ".spin-state"
log_dir = "logs"
max_instance_memory = 1048576

[[variables_provider]]
type = "static"
values = { a = "1" }

[[variables_provider]]
type = "vault"
url = "http://127.0.0.1:8200"
token = "t"
mount = "secret"

[[config_provider]]
type = "env"
prefix = "MY"
dotenv_path = ".env.local"

[key_value_store.default]
type = "spin"
path = "kv.db"

[key_value_store.cache]
type = "redis"
url = "redis://localhost"

[sqlite_database.default]
type = "spin"

[outbound_networking]
block_networks = ["private"]

[[client_tls]]
component_ids = ["a"]
hosts = ["x:443"]
"#;

    #[test]
    fn a_full_runtime_config_parses_in_file_order() {
        let c = RuntimeConfig::from_toml_str(FULL, "runtime-config.toml").unwrap();
        assert_eq!(c.state_dir, Some(StateDir::Path(".spin-state".into())));
        assert_eq!(c.log_dir, Some("logs".into()));
        assert_eq!(c.max_instance_memory, Some(1048576));
        assert_eq!(c.variables_providers.len(), 3);
        assert!(
            matches!(&c.variables_providers[0], VariablesProvider::Static { values } if values["a"] == "1")
        );
        assert_eq!(
            c.variables_providers[2],
            VariablesProvider::Env {
                prefix: "MY".into(),
                dotenv_path: Some(".env.local".into())
            }
        );
        assert!(
            matches!(&c.variables_providers[1], VariablesProvider::Other(t) if t["type"].as_str() == Some("vault"))
        );
        assert_eq!(
            c.sections.keys().collect::<Vec<_>>(),
            [
                "key_value_store",
                "sqlite_database",
                "outbound_networking",
                "client_tls"
            ]
        );
        assert!(c.raw_section("client_tls").unwrap().is_array());
    }

    #[test]
    fn an_empty_state_dir_disables_it_and_env_prefix_defaults() {
        let c = RuntimeConfig::from_toml_str(
            "state_dir = \"\"\n[[variables_provider]]\ntype = \"env\"\n",
            "rc",
        )
        .unwrap();
        assert_eq!(c.state_dir, Some(StateDir::Disabled));
        assert_eq!(
            c.variables_providers,
            [VariablesProvider::Env {
                prefix: "SPIN_VARIABLE".into(),
                dotenv_path: None
            }]
        );
    }

    #[test]
    fn reading_a_file_records_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime-config.toml");
        std::fs::write(&path, "log_dir = \"x\"\n").unwrap();
        let c = RuntimeConfig::from_file(&path).unwrap();
        assert_eq!(c.config_dir.as_deref(), Some(dir.path()));
    }

    #[test]
    fn bad_runtime_configs_are_errors_naming_the_key() {
        let cases = [
            ("state_dir = 1", "rc.toml: state_dir: expected a string"),
            ("max_instance_memory = -1", "rc.toml: max_instance_memory: expected a non-negative integer"),
            ("[[variables_provider]]\nprefix = \"x\"", "rc.toml: variables_provider[0]: missing field \"type\""),
            (
                "[[variables_provider]]\ntype = \"magic\"",
                "rc.toml: variables_provider[0].type: unknown type \"magic\", expected one of \"env\", \"static\", \"vault\", \"azure_key_vault\"",
            ),
            (
                "[[variables_provider]]\ntype = \"env\"\nprefx = \"x\"",
                "rc.toml: variables_provider[0]: unknown field \"prefx\", expected one of \"type\", \"prefix\", \"dotenv_path\"",
            ),
        ];
        for (text, message) in cases {
            let err = RuntimeConfig::from_toml_str(text, "rc.toml").unwrap_err();
            assert_eq!(err.to_string(), message, "{text}");
        }
    }

    #[test]
    fn unknown_sections_are_rejected_by_name() {
        let c = RuntimeConfig::from_toml_str("bogus = 1\n[kv]\n", "rc.toml").unwrap();
        assert_eq!(
            c.check_sections(&["kv"]).unwrap_err().to_string(),
            "rc.toml: unknown field \"bogus\", expected one of \"state_dir\", \"log_dir\", \"max_instance_memory\", \"variables_provider\", \"config_provider\", \"kv\""
        );
        assert!(c.check_sections(&["kv", "bogus"]).is_ok());
    }

    #[test]
    fn a_section_is_read_into_its_owners_type_naming_section_and_field() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Store {
            path: String,
        }
        let c = RuntimeConfig::from_toml_str(
            "[store.a]\npath = \"x\"\n[store.b]\npth = \"y\"\n",
            "rc.toml",
        )
        .unwrap();
        let err = c.section::<IndexMap<String, Store>>("store").unwrap_err();
        assert_eq!(
            err.to_string(),
            "rc.toml: store.b: unknown field \"pth\", expected \"path\""
        );
        assert_eq!(c.section::<Store>("absent").unwrap(), None);
    }

    #[test]
    fn paths_resolve_against_the_files_directory() {
        let mut c = RuntimeConfig::default();
        assert_eq!(c.resolve_path(Path::new("a.db")), Path::new("a.db"));
        c.config_dir = Some("/etc/app".into());
        assert_eq!(
            c.resolve_path(Path::new("a.db")),
            Path::new("/etc/app/a.db")
        );
        assert_eq!(c.resolve_path(Path::new("/b.db")), Path::new("/b.db"));
    }

    #[test]
    fn invalid_toml_is_an_error_with_a_location() {
        let err = RuntimeConfig::from_toml_str("a = ", "rc.toml").unwrap_err();
        assert!(err.to_string().starts_with("rc.toml: "), "{err}");
        assert!(err.to_string().ends_with("(line 1, column 5)"), "{err}");
    }
}
