//! The `spin.toml` version 2 schema (spec §1.1). Unknown fields are denied everywhere
//! except inside trigger tables, which stay opaque apart from their component specs.

use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The whole manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestV2 {
    /// Checked before typed parsing.
    #[serde(rename = "spin_manifest_version")]
    pub _version: toml::Value,
    pub application: Application,
    #[serde(default)]
    pub variables: IndexMap<String, VariableDef>,
    #[serde(default)]
    pub trigger: IndexMap<String, Vec<TriggerDef>>,
    #[serde(default)]
    pub component: IndexMap<String, ComponentDef>,
}

/// `[application]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Build-time only.
    #[serde(default, rename = "targets")]
    pub _targets: Vec<String>,
    /// Tooling only.
    #[serde(default, rename = "tool")]
    pub _tool: toml::Table,
    /// `[application.trigger.<type>]`, opaque.
    #[serde(default)]
    pub trigger: IndexMap<String, toml::Table>,
}

/// One `[variables]` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VariableDef {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

/// One `[[trigger.<type>]]` table.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TriggerDef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub component: Option<ComponentSpec>,
    #[serde(default)]
    pub components: IndexMap<String, OneOrMany<ComponentSpec>>,
    /// Every other key, as written.
    #[serde(flatten)]
    pub config: toml::Table,
}

/// A component reference (an id) or an inline component table.
pub(crate) type ComponentSpec = StrOr<Box<ComponentDef>>;

/// `[component.<id>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentDef {
    pub source: SourceDef,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    #[serde(default)]
    pub environment: IndexMap<String, String>,
    #[serde(default)]
    pub files: Vec<FileDef>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub dependencies: IndexMap<String, DependencyDef>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    /// Build-time only.
    #[serde(default, rename = "build")]
    pub _build: Option<BuildDef>,
    /// Build-time only.
    #[serde(default, rename = "targets")]
    pub _targets: Vec<String>,
    /// Tooling only.
    #[serde(default, rename = "tool")]
    pub _tool: toml::Table,
    /// Build profiles; `spinshim` runs the default profile only.
    #[serde(default, rename = "profile")]
    pub _profile: toml::Table,
}

/// `source`: a relative path, or a table.
pub(crate) type SourceDef = StrOr<SourceTable>;

impl Default for SourceDef {
    fn default() -> Self {
        StrOr::Str(String::new())
    }
}

/// `source = { url, digest }` or `{ registry?, package, version }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceTable {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default, rename = "registry")]
    pub _registry: Option<String>,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default, rename = "version")]
    pub _version: Option<String>,
}

/// A `[component.x.dependencies]` value: a registry version string, or a
/// table whose keys say where the dependency comes from.
pub(crate) type DependencyDef = StrOr<DependencyTable>;

/// `{ path }`, `{ component }`, `{ url, digest }` or `{ version, registry?,
/// package? }`, each with optional `export` and `inherit_configuration`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DependencyTable {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// Registry dependencies are refused before these would be read.
    #[serde(default, rename = "registry")]
    pub _registry: Option<String>,
    #[serde(default, rename = "package")]
    pub _package: Option<String>,
    #[serde(default)]
    pub export: Option<String>,
    #[serde(default)]
    pub inherit_configuration: Option<InheritDef>,
}

/// `inherit_configuration = true | false | ["group", ...]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum InheritDef {
    All(bool),
    Some(Vec<String>),
}

/// A `files` entry: a path/glob, or a mapping.
pub(crate) type FileDef = StrOr<FileMapping>;

/// `{ source = "dir", destination = "/abs" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMapping {
    pub source: String,
    pub destination: String,
}

/// `[component.<id>.build]`; checked for shape only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuildDef {
    #[serde(rename = "command")]
    pub _command: toml::Value,
    #[serde(default, rename = "workdir")]
    pub _workdir: Option<String>,
    #[serde(default, rename = "watch")]
    pub _watch: Vec<String>,
}

/// A string, or a table deserialised as `T` (keeping `T`'s precise errors).
#[derive(Debug, Clone)]
pub(crate) enum StrOr<T> {
    Str(String),
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrVisitor(PhantomData))
    }
}

struct StrOrVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for StrOrVisitor<T> {
    type Value = StrOr<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a table")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StrOr::Str(v.to_owned()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(StrOr::Table)
    }
}

/// One value or a list of them (trigger `components` roles).
#[derive(Debug, Clone)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<StrOr<T>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<StrOr<T>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a component id, an inline component, or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                StrOrVisitor(PhantomData)
                    .visit_str(v)
                    .map(|x| OneOrMany(vec![x]))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                StrOrVisitor(PhantomData)
                    .visit_map(map)
                    .map(|x| OneOrMany(vec![x]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
