//! The pure data model of a Spin application: everything that can be decided from
//! `spin.toml`, a lock file and `runtime-config.toml`, with no engine, no async and no
//! network.
//!
//! - [`manifest`] — read `spin.toml` (v2, or v1 upgraded), validate and normalise it
//!   into a [`LockedApp`]; [`load_app`] also accepts a directory or a lock file.
//! - [`locked`] — the locked-app JSON model ([`LockedApp`]).
//! - [`template`] — `{{ variable }}` templates.
//! - [`variables`] — variable names, providers and resolution.
//! - [`outbound`] — `allowed_outbound_hosts` grammar and matching.
//! - [`routes`] — HTTP routing and the route facts guests see as headers.
//! - [`http`] — the typed HTTP trigger config.
//! - [`triggers`] — the typed Redis, command and MQTT trigger configs.
//! - [`retain`] — keeping a subset of components (`SPIN_COMPONENTS_TO_RETAIN`).
//! - [`runtime_config`] — `runtime-config.toml`.
//! - [`error`] — the [`Error`] type; every message names the file and field.

#![deny(missing_docs)]

pub mod dependencies;
pub mod error;
pub mod http;
pub mod locked;
pub mod manifest;
pub mod outbound;
pub mod retain;
pub mod routes;
pub mod runtime_config;
pub mod template;
pub mod triggers;
pub mod variables;

pub use error::{Error, Problem, Result};
pub use http::{validate_http_base, HttpExecutor, HttpRoute, HttpTriggerConfig, StaticResponse};
pub use locked::{
    ContentPath, ContentRef, LockVersion, LockedApp, LockedComponent, LockedComponentSource,
    LockedTrigger, MustUnderstand, Variable,
};
pub use manifest::{load_app, load_manifest, parse_manifest};
pub use outbound::{AllowedHostsConfig, OutboundError};
pub use retain::{retain_components, RetainError};
pub use routes::{DuplicateRoute, RouteError, RouteMatch, RoutePattern, Router};
pub use runtime_config::{RuntimeConfig, StateDir, VariablesProvider};
pub use template::{Template, TemplateError};
pub use variables::{
    parse_variable_arg, resolve_app_variables, resolve_app_variables_with, validate_variable_name,
    InvalidName, Providers, ResolvedVariables,
};
