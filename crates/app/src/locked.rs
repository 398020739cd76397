//! The locked app: the JSON contract between a loader and a host (spec §1.4).
//!
//! Reading is tolerant (unknown keys are ignored) with one escape hatch: a lock that
//! lists `must_understand` features or `host_requirements` this host lacks is rejected,
//! naming them. Writing produces version 0 unless such features are used, and leaves
//! out empty values, as Spin does.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dependencies::InheritConfiguration;
use crate::error::{Error, Result};

/// Metadata key of the app name.
pub const NAME_KEY: &str = "name";
/// Metadata key of the app version.
pub const VERSION_KEY: &str = "version";
/// Metadata key of the per-type global trigger tables.
pub const TRIGGERS_KEY: &str = "triggers";
/// Metadata key of the legacy single global trigger table (`{"type": ..., ...}`).
pub const LEGACY_TRIGGER_KEY: &str = "trigger";
/// Component metadata key of the allowed outbound hosts.
pub const ALLOWED_OUTBOUND_HOSTS_KEY: &str = "allowed_outbound_hosts";
/// Component metadata key of the legacy allowed HTTP hosts (old locks).
pub const ALLOWED_HTTP_HOSTS_KEY: &str = "allowed_http_hosts";
/// Component metadata key of the key-value store labels.
pub const KEY_VALUE_STORES_KEY: &str = "key_value_stores";
/// Component metadata key of the SQLite database labels (the manifest's `sqlite_databases`).
pub const DATABASES_KEY: &str = "databases";
/// Component metadata key of the AI models.
pub const AI_MODELS_KEY: &str = "ai_models";
/// The one host requirement this host supports.
pub const LOCAL_SERVICE_CHAINING: &str = "local_service_chaining";

/// The lock format version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub enum LockVersion {
    /// No must-understand features or host requirements.
    #[default]
    V0,
    /// May carry `must_understand` and host requirements.
    V1,
}

impl TryFrom<u64> for LockVersion {
    type Error = String;
    fn try_from(v: u64) -> std::result::Result<Self, String> {
        match v {
            0 => Ok(LockVersion::V0),
            1 => Ok(LockVersion::V1),
            other => Err(format!(
                "unsupported spin_lock_version {other}, expected 0 or 1"
            )),
        }
    }
}

impl From<LockVersion> for u64 {
    fn from(v: LockVersion) -> u64 {
        match v {
            LockVersion::V0 => 0,
            LockVersion::V1 => 1,
        }
    }
}

/// A feature a reader must understand to run the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MustUnderstand {
    /// The app-level `host_requirements` must be honoured.
    HostRequirements,
    /// Components' `host_requirements` must be honoured.
    ComponentHostRequirements,
}

impl MustUnderstand {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "host_requirements" => Some(MustUnderstand::HostRequirements),
            "component_host_requirements" => Some(MustUnderstand::ComponentHostRequirements),
            _ => None,
        }
    }
}

/// A whole locked application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockedApp {
    /// Format version; [`LockedApp::to_json`] recomputes it.
    pub spin_lock_version: LockVersion,
    /// Features a reader must understand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<MustUnderstand>,
    /// App metadata: name, version, triggers, origin, ...
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Host features the app needs (only [`LOCAL_SERVICE_CHAINING`] is supported).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
    /// Application variables.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variables: IndexMap<String, Variable>,
    /// Triggers, in manifest order.
    #[serde(default)]
    pub triggers: Vec<LockedTrigger>,
    /// Components, in manifest order.
    #[serde(default)]
    pub components: Vec<LockedComponent>,
}

/// One trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockedTrigger {
    /// Unique trigger id.
    pub id: String,
    /// Trigger type, e.g. `http`.
    pub trigger_type: String,
    /// The trigger table, with `component` always an id.
    #[serde(default)]
    pub trigger_config: Value,
}

/// One component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockedComponent {
    /// Unique component id.
    pub id: String,
    /// Description, permissions and other metadata.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// The Wasm.
    pub source: LockedComponentSource,
    /// Environment variables (not templated).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Files to mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    /// Component variables: name → template over app variables.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub config: IndexMap<String, String>,
    /// Components composed into this one: import name (see
    /// [`crate::dependencies::DependencyName`]) → the dependency.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub dependencies: IndexMap<String, LockedDependency>,
    /// Host features this component needs.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub host_requirements: Map<String, Value>,
}

/// One dependency of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedDependency {
    /// Its Wasm.
    pub source: LockedComponentSource,
    /// The export that satisfies the matched imports, when it is not
    /// named like them.
    #[serde(default)]
    pub export: Option<String>,
    /// The parent's capability groups it may use.
    #[serde(default, skip_serializing_if = "InheritConfiguration::is_none")]
    pub inherit: InheritConfiguration,
}

/// Where a component's Wasm comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedComponentSource {
    /// Normally `application/wasm`.
    pub content_type: String,
    /// The content.
    #[serde(flatten)]
    pub content: ContentRef,
}

impl Default for LockedComponentSource {
    fn default() -> Self {
        LockedComponentSource {
            content_type: "application/wasm".into(),
            content: ContentRef::default(),
        }
    }
}

/// Content given by URL, inline bytes and/or digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    /// A URL, e.g. `file:///abs/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Inline bytes (base64 in JSON).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_bytes"
    )]
    pub inline: Option<Vec<u8>>,
    /// `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A file mount: content and the absolute guest path it appears at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentPath {
    /// The content.
    #[serde(flatten)]
    pub content: ContentRef,
    /// The guest path.
    pub path: PathBuf,
}

/// An application variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The default; none means the variable is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Stored, never used by the runtime.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

impl Variable {
    /// True when the variable has no default.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl LockedApp {
    /// Reads a lock. Unknown keys are ignored; unknown `must_understand` values and
    /// unsupported `host_requirements` (entries valued `"optional"` are dropped) are
    /// rejected, listing them. `origin_for_errors` labels the errors (e.g. `spin.lock`).
    ///
    /// A lock with only the legacy `metadata.trigger` also gets `metadata.triggers.<type>`.
    pub fn from_json(bytes: &[u8], origin_for_errors: &str) -> Result<LockedApp> {
        let file = origin_for_errors;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let mut value: Value = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| Error::from_json_path(file, "", e))?;
        if let Some(Value::Array(items)) = value.get("must_understand") {
            let unknown: Vec<String> = items
                .iter()
                .filter(|v| v.as_str().and_then(MustUnderstand::from_name).is_none())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            if !unknown.is_empty() {
                return Err(Error::MustUnderstand {
                    file: file.to_owned(),
                    unknown,
                });
            }
        }
        check_host_requirements(file, value.get_mut("host_requirements"))?;
        if let Some(Value::Array(components)) = value.get_mut("components") {
            for component in components {
                check_host_requirements(file, component.get_mut("host_requirements"))?;
            }
        }
        let mut app: LockedApp = serde_path_to_error::deserialize(value)
            .map_err(|e| Error::from_json_path(file, "", e))?;
        app.fill_triggers_from_legacy();
        Ok(app)
    }

    /// Writes pretty JSON. The version is 1 and the matching `must_understand` entries
    /// are present exactly when host requirements are used; otherwise version 0.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut app = self.clone();
        let mut needs = app.must_understand.clone();
        let mut require = |m: MustUnderstand| {
            if !needs.contains(&m) {
                needs.push(m);
            }
        };
        if !app.host_requirements.is_empty() {
            require(MustUnderstand::HostRequirements);
        }
        if app
            .components
            .iter()
            .any(|c| !c.host_requirements.is_empty())
        {
            require(MustUnderstand::ComponentHostRequirements);
        }
        app.spin_lock_version = if needs.is_empty() {
            LockVersion::V0
        } else {
            LockVersion::V1
        };
        app.must_understand = needs;
        serde_json::to_vec_pretty(&app)
    }

    fn fill_triggers_from_legacy(&mut self) {
        let Some(Value::Object(legacy)) = self.metadata.get(LEGACY_TRIGGER_KEY) else {
            return;
        };
        let Some(trigger_type) = legacy.get("type").and_then(Value::as_str) else {
            return;
        };
        let trigger_type = trigger_type.to_owned();
        let mut table = legacy.clone();
        table.remove("type");
        let triggers = self
            .metadata
            .entry(TRIGGERS_KEY)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(triggers) = triggers {
            triggers.entry(trigger_type).or_insert(Value::Object(table));
        }
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata.get(NAME_KEY).and_then(Value::as_str)
    }

    /// `metadata.version`.
    pub fn version(&self) -> Option<&str> {
        self.metadata.get(VERSION_KEY).and_then(Value::as_str)
    }

    /// `metadata.oci_image_digest`: set when the app was read from an image.
    pub fn oci_image_digest(&self) -> Option<&str> {
        self.metadata
            .get("oci_image_digest")
            .and_then(Value::as_str)
    }

    /// The global table of a trigger type: `metadata.triggers.<type>`, else the legacy
    /// `metadata.trigger` when its `type` matches. Locks read with
    /// [`LockedApp::from_json`] always have the former; in the fallback the returned
    /// table still contains its `type` key.
    pub fn trigger_metadata(&self, trigger_type: &str) -> Option<&Value> {
        if let Some(v) = self
            .metadata
            .get(TRIGGERS_KEY)
            .and_then(|t| t.get(trigger_type))
        {
            return Some(v);
        }
        self.metadata
            .get(LEGACY_TRIGGER_KEY)
            .filter(|t| t.get("type").and_then(Value::as_str) == Some(trigger_type))
    }

    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&LockedComponent> {
        self.components.iter().find(|c| c.id == id)
    }

    /// The triggers of one type, in order.
    pub fn triggers_of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a LockedTrigger> {
        self.triggers.iter().filter(move |tr| tr.trigger_type == t)
    }
}

/// Drops `"optional"` entries and rejects anything but [`LOCAL_SERVICE_CHAINING`].
fn check_host_requirements(file: &str, requirements: Option<&mut Value>) -> Result<()> {
    let Some(Value::Object(map)) = requirements else {
        return Ok(());
    };
    map.retain(|_, v| v.as_str() != Some("optional"));
    let unsupported: Vec<String> = map
        .keys()
        .filter(|k| k.as_str() != LOCAL_SERVICE_CHAINING)
        .cloned()
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Error::HostRequirements {
            file: file.to_owned(),
            unsupported,
        })
    }
}

impl LockedTrigger {
    /// `trigger_config.component`: the component this trigger runs, if any.
    pub fn component(&self) -> Option<&str> {
        self.trigger_config.get("component")?.as_str()
    }
}

impl LockedComponent {
    fn string_list(&self, key: &str) -> Vec<String> {
        match self.metadata.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `metadata.allowed_outbound_hosts` plus the converted legacy
    /// `metadata.allowed_http_hosts` of old locks (spec §6.5). Legacy entries that do
    /// not convert are passed through unchanged so that parsing reports them.
    pub fn allowed_outbound_hosts(&self) -> Vec<String> {
        let mut hosts = self.string_list(ALLOWED_OUTBOUND_HOSTS_KEY);
        for legacy in self.string_list(ALLOWED_HTTP_HOSTS_KEY) {
            match crate::outbound::convert_allowed_http_hosts(std::slice::from_ref(&legacy)) {
                Ok(converted) => hosts.extend(converted),
                Err(_) => hosts.push(legacy),
            }
        }
        let mut seen = std::collections::HashSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        hosts
    }

    /// `metadata.key_value_stores`.
    pub fn key_value_stores(&self) -> Vec<String> {
        self.string_list(KEY_VALUE_STORES_KEY)
    }

    /// `metadata.databases` (the manifest's `sqlite_databases`).
    pub fn sqlite_databases(&self) -> Vec<String> {
        self.string_list(DATABASES_KEY)
    }

    /// `metadata.ai_models`.
    pub fn ai_models(&self) -> Vec<String> {
        self.string_list(AI_MODELS_KEY)
    }

    /// `metadata.description`.
    pub fn description(&self) -> Option<&str> {
        self.metadata.get("description").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<LockedApp> {
        LockedApp::from_json(&serde_json::to_vec(&v).unwrap(), "spin.lock")
    }

    fn sample() -> Value {
        json!({
            "spin_lock_version": 0,
            "unknown_top_level_key": "ignored",
            "metadata": {"name": "sentinel-app", "version": "1.2.3", "triggers": {"http": {}}},
            "variables": {"who": {"default": "world"}, "token": {"secret": true}},
            "triggers": [
                {"id": "t1", "trigger_type": "http", "trigger_config": {"route": "/...", "component": "c1"}},
                {"id": "t2", "trigger_type": "redis", "trigger_config": {"channel": "x", "component": "c1"}}
            ],
            "components": [{
                "id": "c1",
                "metadata": {"allowed_outbound_hosts": ["https://a.com"], "allowed_http_hosts": ["b.com"], "databases": ["default"], "key_value_stores": ["default"]},
                "source": {"content_type": "application/wasm", "source": "file:///app/c1.wasm", "digest": "sha256:00"},
                "files": [{"inline": "aGk=", "path": "/hello.txt"}],
                "config": {"greeting": "hello {{ who }}"},
                "unknown_component_key": 1
            }]
        })
    }

    #[test]
    fn a_lock_reads_with_unknown_keys_ignored() {
        let app = read(sample()).unwrap();
        assert_eq!(app.name(), Some("sentinel-app"));
        assert_eq!(app.version(), Some("1.2.3"));
        assert!(app.variables["token"].is_required());
        assert!(app.variables["token"].secret);
        assert_eq!(app.triggers_of_type("http").count(), 1);
        let c = app.component("c1").unwrap();
        assert_eq!(c.files[0].content.inline.as_deref(), Some(&b"hi"[..]));
        assert_eq!(c.files[0].path, PathBuf::from("/hello.txt"));
        assert_eq!(
            c.source.content.source.as_deref(),
            Some("file:///app/c1.wasm")
        );
        assert_eq!(c.sqlite_databases(), ["default"]);
        assert_eq!(c.key_value_stores(), ["default"]);
        assert_eq!(
            c.allowed_outbound_hosts(),
            ["https://a.com", "http://b.com", "https://b.com"]
        );
        assert_eq!(app.trigger_metadata("http"), Some(&json!({})));
        assert_eq!(app.trigger_metadata("redis"), None);
    }

    #[test]
    fn writing_without_new_features_gives_version_zero_and_omits_empty_values() {
        let app = read(sample()).unwrap();
        let out: Value = serde_json::from_slice(&app.to_json().unwrap()).unwrap();
        assert_eq!(out["spin_lock_version"], 0);
        assert!(out.get("must_understand").is_none());
        assert!(out.get("host_requirements").is_none());
        assert!(out["components"][0].get("env").is_none());
        assert!(out["variables"]["who"].get("secret").is_none());
        assert_eq!(out["components"][0]["files"][0]["inline"], "aGk=");
        assert_eq!(read(out).unwrap(), app);
    }

    #[test]
    fn writing_with_component_host_requirements_gives_version_one() {
        let mut app = read(sample()).unwrap();
        app.components[0]
            .host_requirements
            .insert(LOCAL_SERVICE_CHAINING.into(), json!("required"));
        let out: Value = serde_json::from_slice(&app.to_json().unwrap()).unwrap();
        assert_eq!(out["spin_lock_version"], 1);
        assert_eq!(
            out["must_understand"],
            json!(["component_host_requirements"])
        );
        assert_eq!(read(out).unwrap().components[0].host_requirements.len(), 1);
    }

    #[test]
    fn unknown_must_understand_values_are_rejected_and_listed() {
        let mut v = sample();
        v["must_understand"] = json!(["host_requirements", "foo", "bar"]);
        assert_eq!(
            read(v).unwrap_err().to_string(),
            "spin.lock: unknown must_understand \"foo\", \"bar\""
        );
    }

    #[test]
    fn unsupported_host_requirements_are_rejected_but_optional_ones_dropped() {
        let mut v = sample();
        v["host_requirements"] = json!({"middleware": "required", "fancy": "optional", "local_service_chaining": "required"});
        assert_eq!(
            read(v.clone()).unwrap_err().to_string(),
            "spin.lock: this host does not support host_requirements \"middleware\""
        );
        v["host_requirements"] = json!({"fancy": "optional"});
        assert!(read(v.clone()).unwrap().host_requirements.is_empty());
        v["components"][0]["host_requirements"] = json!({"gpu": "required"});
        assert_eq!(
            read(v).unwrap_err().to_string(),
            "spin.lock: this host does not support host_requirements \"gpu\""
        );
    }

    #[test]
    fn a_malformed_lock_names_the_field() {
        let mut v = sample();
        v["components"][0]["source"] = json!({"content_type": 5});
        assert_eq!(
            read(v).unwrap_err().to_string(),
            "spin.lock: components[0].source.content_type: invalid type: integer `5`, expected a string"
        );
        let mut v = sample();
        v["spin_lock_version"] = json!(7);
        assert_eq!(
            read(v).unwrap_err().to_string(),
            "spin.lock: spin_lock_version: unsupported spin_lock_version 7, expected 0 or 1"
        );
        let err = LockedApp::from_json(b"{nope", "spin.lock").unwrap_err();
        assert_eq!(
            err.to_string(),
            "spin.lock: key must be a string at line 1 column 2"
        );
    }

    #[test]
    fn legacy_trigger_metadata_is_found_by_type() {
        let mut v = sample();
        v["metadata"] = json!({"trigger": {"type": "redis", "address": "redis://x"}});
        let app = read(v).unwrap();
        assert_eq!(
            app.trigger_metadata("redis"),
            Some(&json!({"address": "redis://x"}))
        );
        assert_eq!(app.trigger_metadata("http"), None);
        let mut manual = LockedApp::default();
        manual
            .metadata
            .insert("trigger".into(), json!({"type": "http", "base": "/"}));
        assert_eq!(manual.trigger_metadata("http").unwrap()["base"], "/");
    }
}
