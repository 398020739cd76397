//! The `spin.toml` version 1 schema and its upgrade to version 2 (spec §1.3).
//!
//! v1 has one global `trigger = { type = ..., ... }` and `[[component]]` entries, each
//! with its own `[component.trigger]`. The upgrade repairs component ids (`_` → `-`,
//! then lower-case), gives each component a trigger `trigger-<id>`, and, surprisingly,
//! gives a component without `allowed_outbound_hosts` the old open-database default.

use indexmap::IndexMap;
use serde::Deserialize;

use super::v2::{
    Application, BuildDef, ComponentDef, FileDef, ManifestV2, SourceDef, StrOr, TriggerDef,
    VariableDef,
};
use crate::outbound::V1_DATABASE_WILDCARDS;

/// The whole v1 manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestV1 {
    /// Checked before typed parsing.
    #[serde(rename = "spin_manifest_version", alias = "spin_version")]
    pub _version: toml::Value,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    pub trigger: GlobalTriggerV1,
    #[serde(default)]
    pub variables: IndexMap<String, VariableDef>,
    #[serde(default, rename = "component")]
    pub components: Vec<ComponentV1>,
}

/// `trigger = { type = "http", base = "/" }`.
#[derive(Debug, Deserialize)]
pub(crate) struct GlobalTriggerV1 {
    #[serde(rename = "type")]
    pub trigger_type: String,
    #[serde(flatten)]
    pub config: toml::Table,
}

/// One `[[component]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentV1 {
    pub id: String,
    pub source: SourceDef,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub config: IndexMap<String, String>,
    #[serde(default)]
    pub environment: IndexMap<String, String>,
    #[serde(default)]
    pub files: Vec<FileDef>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub build: Option<BuildDef>,
    #[serde(default)]
    pub trigger: toml::Table,
}

/// `_` → `-`, then lower-case.
pub(crate) fn repair_id(id: &str) -> String {
    id.replace('_', "-").to_lowercase()
}

impl ManifestV1 {
    /// Upgrades to the v2 model.
    pub(crate) fn into_v2(self) -> ManifestV2 {
        let trigger_type = self.trigger.trigger_type;
        let mut application = Application {
            name: self.name,
            version: self.version,
            description: self.description,
            authors: self.authors,
            ..Default::default()
        };
        application
            .trigger
            .insert(trigger_type.clone(), self.trigger.config);
        let mut triggers = Vec::new();
        let mut components = IndexMap::new();
        for c in self.components {
            let id = repair_id(&c.id);
            triggers.push(TriggerDef {
                id: Some(format!("trigger-{id}")),
                component: Some(StrOr::Str(id.clone())),
                components: IndexMap::new(),
                config: c.trigger,
            });
            let allowed_outbound_hosts = c.allowed_outbound_hosts.unwrap_or_else(|| {
                V1_DATABASE_WILDCARDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
            components.insert(
                id,
                ComponentDef {
                    source: c.source,
                    description: c.description,
                    variables: c.config,
                    environment: c.environment,
                    files: c.files,
                    exclude_files: c.exclude_files,
                    allowed_outbound_hosts: Some(allowed_outbound_hosts),
                    allowed_http_hosts: c.allowed_http_hosts,
                    key_value_stores: c.key_value_stores,
                    sqlite_databases: c.sqlite_databases,
                    ai_models: c.ai_models,
                    _build: c.build,
                    ..Default::default()
                },
            );
        }
        let mut trigger = IndexMap::new();
        trigger.insert(trigger_type, triggers);
        ManifestV2 {
            _version: toml::Value::Integer(2),
            application,
            variables: self.variables,
            trigger,
            component: components,
        }
    }
}
