//! Reading `spin.toml` into a [`LockedApp`]: parse → upgrade (v1 → v2) → normalise →
//! validate and lower.
//!
//! Parsing is strict: unknown fields are errors everywhere except in trigger tables,
//! and for HTTP triggers the known keys are checked too. Everything the host will rely
//! on is validated here so that errors come at load time, naming the file and field:
//! component ids, variable names and defaults, templates, `allowed_outbound_hosts`,
//! routes, executors, `files` and the HTTP `base`.

mod files;
mod normalize;
mod v1;
mod v2;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::dependencies::{DependencyName, InheritConfiguration};
use crate::error::{Error, Problem, Result};
use crate::http::{check_base, HttpRoute, HttpTriggerConfig, HTTP_TRIGGER_TYPE};
use crate::locked::{
    ContentRef, LockVersion, LockedApp, LockedComponent, LockedComponentSource, LockedDependency,
    LockedTrigger, MustUnderstand, Variable, LOCAL_SERVICE_CHAINING,
};
use crate::outbound::{convert_allowed_http_hosts, is_empty_rendering, AllowedHost, HostPattern};
use crate::routes::RoutePattern;
use normalize::Trigger;
use v2::{ComponentDef, InheritDef, ManifestV2, StrOr, VariableDef};

/// The manifest file name inside an app directory.
pub const MANIFEST_FILE: &str = "spin.toml";

/// Keys an `[[trigger.http]]` table may have.
const HTTP_TRIGGER_KEYS: &[&str] = &[
    "route",
    "component",
    "executor",
    "static_response",
    "id",
    "components",
    "dependencies",
];

/// Loads an app from a directory (its `spin.toml`), a `.toml` manifest, or a lock
/// file (`*.lock` / `*.json`, read as is: relative `file:` sources are not rewritten).
pub fn load_app(path: &Path) -> Result<LockedApp> {
    if path.is_dir() {
        return load_manifest(&path.join(MANIFEST_FILE));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("lock") | Some("json") => {
            let bytes = std::fs::read(path).map_err(|source| Error::Io {
                path: path.to_owned(),
                cause: source,
            })?;
            LockedApp::from_json(&bytes, &file_label(path))
        }
        _ => load_manifest(path),
    }
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Reads and lowers a `spin.toml`. Errors are labelled with the file name.
pub fn load_manifest(path: &Path) -> Result<LockedApp> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        cause: source,
    })?;
    let app_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    parse_manifest(&text, &file_label(path), &app_dir)
}

/// Parses manifest `text` whose files and sources are relative to `app_dir`;
/// `file_label` (e.g. `spin.toml`) names the file in errors and in `metadata.origin`.
pub fn parse_manifest(text: &str, file_label: &str, app_dir: &Path) -> Result<LockedApp> {
    let file = file_label;
    let app_dir = absolute_dir(app_dir);
    let probe =
        toml::Deserializer::parse(text).map_err(|e| Error::from_toml_syntax(file, text, e))?;
    let table: toml::Table = serde_path_to_error::deserialize(probe)
        .map_err(|e| Error::from_toml_path(file, Some(text), e))?;
    let version = table
        .get("spin_manifest_version")
        .or_else(|| table.get("spin_version"));
    let mut manifest: ManifestV2 = match version {
        Some(toml::Value::Integer(2)) => typed(file, text)?,
        Some(toml::Value::String(s)) if s == "1" => typed::<v1::ManifestV1>(file, text)?.into_v2(),
        Some(other) => {
            return Err(Error::ManifestVersion {
                file: file.to_owned(),
                found: other.to_string(),
            })
        }
        None => {
            return Err(Error::invalid(
                file,
                "",
                Problem::MissingField {
                    name: "spin_manifest_version",
                },
            ))
        }
    };
    Lowering {
        file,
        app_dir: &app_dir,
        variables: std::mem::take(&mut manifest.variables),
    }
    .lower(manifest)
}

fn typed<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| Error::from_toml_syntax(file, text, e))?;
    serde_path_to_error::deserialize(de).map_err(|e| Error::from_toml_path(file, Some(text), e))
}

fn absolute_dir(dir: &Path) -> PathBuf {
    dir.canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned())
}

struct Lowering<'a> {
    file: &'a str,
    app_dir: &'a Path,
    variables: IndexMap<String, VariableDef>,
}

impl Lowering<'_> {
    fn lower(&self, mut manifest: ManifestV2) -> Result<LockedApp> {
        let file = self.file;
        validate::app_variables(file, &self.variables)?;
        for id in manifest.component.keys() {
            validate::component_id(file, id)?;
        }
        let global = std::mem::take(&mut manifest.application.trigger);
        if let Some(http) = global.get(HTTP_TRIGGER_TYPE) {
            let base = http.get("base").map(toml_to_json);
            check_base(base.as_ref(), file, "application.trigger.http.base")?;
        }
        let (triggers, components) = normalize::normalize(file, &mut manifest)?;

        let mut app = LockedApp {
            metadata: self.metadata(&manifest, &global, &triggers),
            variables: self
                .variables
                .iter()
                .map(|(name, v)| {
                    let variable = Variable {
                        description: v.description.clone(),
                        default: v.default.clone(),
                        secret: v.secret,
                    };
                    (name.clone(), variable)
                })
                .collect(),
            ..Default::default()
        };
        for (id, def) in &components {
            app.components.push(self.component(id, def, &components)?);
        }
        for t in triggers {
            app.triggers.push(self.trigger(t, &components)?);
        }
        if app
            .components
            .iter()
            .any(|c| !c.host_requirements.is_empty())
        {
            app.must_understand
                .push(MustUnderstand::ComponentHostRequirements);
            app.spin_lock_version = LockVersion::V1;
        }
        Ok(app)
    }

    fn metadata(
        &self,
        manifest: &ManifestV2,
        global: &IndexMap<String, toml::Table>,
        triggers: &[Trigger],
    ) -> Map<String, Value> {
        let a = &manifest.application;
        let mut m = Map::new();
        m.insert("name".into(), json!(a.name));
        if let Some(v) = &a.version {
            m.insert("version".into(), json!(v));
        }
        if let Some(d) = &a.description {
            m.insert("description".into(), json!(d));
        }
        if !a.authors.is_empty() {
            m.insert("authors".into(), json!(a.authors));
        }
        let mut by_type = Map::new();
        for (t, table) in global {
            by_type.insert(t.clone(), toml_to_json(&toml::Value::Table(table.clone())));
        }
        for t in triggers {
            by_type
                .entry(t.trigger_type.clone())
                .or_insert_with(|| json!({}));
        }
        if by_type.len() == 1 {
            if let Some((t, Value::Object(table))) = by_type.iter().next() {
                let mut legacy = Map::new();
                legacy.insert("type".into(), json!(t));
                legacy.extend(table.clone());
                m.insert("trigger".into(), Value::Object(legacy));
            }
        }
        if !by_type.is_empty() {
            m.insert("triggers".into(), Value::Object(by_type));
        }
        m.insert(
            "origin".into(),
            json!(files::file_url(&self.app_dir.join(self.file))),
        );
        m
    }

    fn component(
        &self,
        id: &str,
        def: &ComponentDef,
        components: &IndexMap<String, ComponentDef>,
    ) -> Result<LockedComponent> {
        let file = self.file;
        let field = |f: &str| format!("component \"{id}\": {f}");
        let source = match &def.source {
            StrOr::Str(path) => self.local_wasm(path),
            StrOr::Table(t) => match (&t.url, &t.package) {
                (Some(url), _) => {
                    let digest = t.digest.clone().ok_or_else(|| {
                        Error::invalid(
                            file,
                            field("source"),
                            Problem::MissingField { name: "digest" },
                        )
                    })?;
                    ContentRef {
                        source: Some(url.clone()),
                        digest: Some(digest),
                        ..Default::default()
                    }
                }
                (None, Some(_)) => {
                    return Err(Error::invalid(
                        file,
                        field("source"),
                        Problem::NotSupported {
                            what: "registry package sources are",
                        },
                    ))
                }
                (None, None) => {
                    return Err(Error::invalid(
                        file,
                        field("source"),
                        Problem::MissingField { name: "url" },
                    ))
                }
            },
        };
        for (key, text) in &def.variables {
            validate_key(file, &field("variables"), key)?;
            validate::template(
                file,
                &field(&format!("variables.{key}")),
                text,
                &self.variables,
            )?;
        }
        for label in &def.key_value_stores {
            validate::label(file, &field("key_value_stores"), label)?;
        }
        for label in &def.sqlite_databases {
            validate::label(file, &field("sqlite_databases"), label)?;
        }
        let hosts = self.allowed_hosts(id, def)?;
        let chaining = hosts.iter().any(|h| {
            matches!(&h.host, HostPattern::Subdomains(d) if d == "spin.internal")
                || matches!(&h.host, HostPattern::Domain(d) if d.ends_with(".spin.internal"))
        });

        let mut metadata = Map::new();
        if let Some(d) = &def.description {
            metadata.insert("description".into(), json!(d));
        }
        let mut all_hosts = def.allowed_outbound_hosts.clone().unwrap_or_default();
        all_hosts.extend(convert_allowed_http_hosts(&def.allowed_http_hosts).unwrap_or_default());
        for (key, list) in [
            ("allowed_outbound_hosts", &all_hosts),
            ("key_value_stores", &def.key_value_stores),
            ("databases", &def.sqlite_databases),
            ("ai_models", &def.ai_models),
        ] {
            if !list.is_empty() {
                metadata.insert(key.into(), json!(list));
            }
        }
        let mut host_requirements = Map::new();
        if chaining {
            host_requirements.insert(LOCAL_SERVICE_CHAINING.into(), json!("required"));
        }
        Ok(LockedComponent {
            id: id.to_owned(),
            metadata,
            source: LockedComponentSource {
                content_type: "application/wasm".into(),
                content: source,
            },
            env: def.environment.clone(),
            files: files::expand(file, id, self.app_dir, &def.files, &def.exclude_files)?,
            config: def.variables.clone(),
            dependencies: self.dependencies(id, def, components)?,
            host_requirements,
        })
    }

    /// A Wasm file at `path`, relative to the app directory.
    fn local_wasm(&self, path: &str) -> ContentRef {
        let abs = files::join_inside(self.app_dir, path).unwrap_or_else(|| self.app_dir.join(path));
        ContentRef {
            source: Some(files::file_url(&abs)),
            ..Default::default()
        }
    }

    /// `[component.<id>.dependencies]` as the lock has them: each name
    /// checked, `component` references replaced by that component's Wasm,
    /// inheritance spelled out per dependency.
    fn dependencies(
        &self,
        id: &str,
        def: &ComponentDef,
        components: &IndexMap<String, ComponentDef>,
    ) -> Result<IndexMap<String, LockedDependency>> {
        let file = self.file;
        let mut locked = IndexMap::new();
        for (key, dependency) in &def.dependencies {
            let field = format!("component \"{id}\": dependencies.\"{key}\"");
            let invalid = |problem| Error::invalid(file, field.clone(), problem);
            DependencyName::parse(key).map_err(|e| invalid(Problem::DependencyName(e)))?;
            let table = match dependency {
                StrOr::Str(_) => {
                    return Err(invalid(Problem::NotSupported {
                        what: "registry dependencies are",
                    }))
                }
                StrOr::Table(table) => table,
            };
            let inherit = match (
                &table.inherit_configuration,
                def.dependencies_inherit_configuration,
            ) {
                (Some(_), Some(_)) => return Err(invalid(Problem::InheritTwice)),
                (Some(InheritDef::All(true)), None) | (None, Some(true)) => {
                    InheritConfiguration::All
                }
                (Some(InheritDef::Some(groups)), None) => {
                    InheritConfiguration::Some(groups.clone())
                }
                _ => InheritConfiguration::default(),
            };
            let content = match (&table.path, &table.component, &table.url, &table.version) {
                (Some(path), None, None, None) => self.local_wasm(path),
                (None, Some(other), None, None) => self
                    .component_as_dependency(other, components)
                    .map_err(invalid)?,
                (None, None, Some(_), None) if table.digest.is_some() => {
                    return Err(invalid(Problem::NotSupported {
                        what: "dependencies from a URL are",
                    }))
                }
                (None, None, None, Some(_)) => {
                    return Err(invalid(Problem::NotSupported {
                        what: "registry dependencies are",
                    }))
                }
                _ => return Err(invalid(Problem::DependencySource)),
            };
            locked.insert(
                key.clone(),
                LockedDependency {
                    source: LockedComponentSource {
                        content_type: "application/wasm".into(),
                        content,
                    },
                    export: table.export.clone(),
                    inherit,
                },
            );
        }
        Ok(locked)
    }

    /// The Wasm of component `other`, used as a dependency: it may have no
    /// resources or permissions of its own, as in Spin.
    fn component_as_dependency(
        &self,
        other: &str,
        components: &IndexMap<String, ComponentDef>,
    ) -> std::result::Result<ContentRef, Problem> {
        let Some(def) = components.get(other) else {
            return Err(Problem::UnknownDependencyComponent {
                id: other.to_owned(),
            });
        };
        let fields: Vec<&'static str> = [
            ("ai_models", def.ai_models.is_empty()),
            ("allowed_http_hosts", def.allowed_http_hosts.is_empty()),
            (
                "allowed_outbound_hosts",
                def.allowed_outbound_hosts
                    .as_ref()
                    .is_none_or(Vec::is_empty),
            ),
            ("dependencies", def.dependencies.is_empty()),
            ("environment", def.environment.is_empty()),
            ("files", def.files.is_empty()),
            ("key_value_stores", def.key_value_stores.is_empty()),
            ("sqlite_databases", def.sqlite_databases.is_empty()),
            ("variables", def.variables.is_empty()),
        ]
        .into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(name, _)| name)
        .collect();
        if !fields.is_empty() {
            return Err(Problem::DependencyWithResources {
                id: other.to_owned(),
                fields,
            });
        }
        match &def.source {
            StrOr::Str(path) => Ok(self.local_wasm(path)),
            StrOr::Table(_) => Err(Problem::NotSupported {
                what: "dependencies on components with a URL or registry source are",
            }),
        }
    }

    /// Validates `allowed_outbound_hosts` (and converts `allowed_http_hosts`). Entries
    /// with templates are checked after rendering with the manifest defaults, and
    /// skipped when some reference has no default. Returns the entries it could parse.
    fn allowed_hosts(&self, id: &str, def: &ComponentDef) -> Result<Vec<AllowedHost>> {
        let file = self.file;
        let outbound_field = format!("component \"{id}\": allowed_outbound_hosts");
        let legacy_field = format!("component \"{id}\": allowed_http_hosts");
        let legacy = convert_allowed_http_hosts(&def.allowed_http_hosts)
            .map_err(|e| Error::invalid(file, legacy_field.clone(), e))?;
        let declared = def.allowed_outbound_hosts.iter().flatten();
        let mut parsed = Vec::new();
        for (entry, field) in declared
            .map(|e| (e, &outbound_field))
            .chain(legacy.iter().map(|e| (e, &legacy_field)))
        {
            let t = validate::template(file, field, entry, &self.variables)?;
            let rendered = if t.is_literal() {
                entry.clone()
            } else {
                match validate::render_with_defaults(&t, &self.variables) {
                    Some(r) if !is_empty_rendering(&r) => r,
                    _ => continue,
                }
            };
            parsed.push(
                AllowedHost::parse(&rendered)
                    .map_err(|e| Error::invalid(file, field.clone(), e))?,
            );
        }
        Ok(parsed)
    }

    fn trigger(
        &self,
        t: Trigger,
        components: &IndexMap<String, ComponentDef>,
    ) -> Result<LockedTrigger> {
        let file = self.file;
        let label = t.label();
        for id in t.component.iter().chain(t.components.values().flatten()) {
            if !components.contains_key(id) {
                return Err(Error::invalid(
                    file,
                    format!("{label}: component"),
                    Problem::UnknownComponent { id: id.clone() },
                ));
            }
        }
        let mut config = t.config;
        let dependencies = config.remove("dependencies");
        if dependencies.is_some_and(|d| d.as_table().is_none_or(|t| !t.is_empty())) {
            return Err(Error::invalid(
                file,
                format!("{label}: dependencies"),
                Problem::NotSupported {
                    what: "trigger dependencies are",
                },
            ));
        }
        let mut json = match toml_to_json(&toml::Value::Table(config)) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(c) = &t.component {
            json.insert("component".into(), json!(c));
        }
        if t.trigger_type == HTTP_TRIGGER_TYPE {
            if let Some(unknown) = json
                .keys()
                .find(|k| !HTTP_TRIGGER_KEYS.contains(&k.as_str()))
            {
                return Err(Error::invalid(
                    file,
                    label,
                    Problem::UnknownField {
                        name: unknown.clone(),
                        expected: HTTP_TRIGGER_KEYS.to_vec(),
                    },
                ));
            }
            if !t.components.is_empty() {
                return Err(Error::invalid(
                    file,
                    format!("{label}: components"),
                    Problem::NotSupported {
                        what: "middleware (trigger components) is",
                    },
                ));
            }
            let value = Value::Object(json.clone());
            let http = HttpTriggerConfig::from_value(&value, file, &label)?;
            if let HttpRoute::Route(route) = &http.route {
                RoutePattern::parse(route)
                    .map_err(|e| Error::invalid(file, format!("{label}: route"), e))?;
            }
        } else {
            if !t.components.is_empty() {
                json.insert("components".into(), json!(t.components));
            }
            for key in ["channel", "address"] {
                if let Some(Value::String(text)) = json.get(key) {
                    validate::template(file, &format!("{label}: {key}"), text, &self.variables)?;
                }
            }
        }
        Ok(LockedTrigger {
            id: t.id,
            trigger_type: t.trigger_type,
            trigger_config: Value::Object(json),
        })
    }
}

/// Component `variables` keys follow the variable name rules.
fn validate_key(file: &str, field: &str, key: &str) -> Result<()> {
    crate::variables::validate_variable_name(key).map_err(|e| Error::invalid(file, field, e))
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
