//! What the container's environment tells the shim.
//!
//! runwasi leaves the container's `KEY=VALUE` list to us instead of putting
//! it into the process environment, so every setting is read from that
//! list, never from `std::env`. Each parse error names the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use indexmap::IndexMap;
use spinshim_app::variables::{env_key, Providers, DEFAULT_ENV_PREFIX};
use spinshim_app::LockedApp;
use spinshim_runtime::HttpLimits;

/// Where HTTP is served unless `SPIN_HTTP_LISTEN_ADDR` says otherwise
/// (the reference shim's default: every interface, port 80).
pub const DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:80";

/// How long in-flight requests may run after SIGTERM unless
/// `SPIN_SHUTDOWN_TIMEOUT` says otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The container's environment, by name.
#[derive(Clone, Debug, Default)]
pub struct ContainerEnv(HashMap<String, String>);

impl ContainerEnv {
    /// Reads runwasi's `KEY=VALUE` list; an entry without `=` is a name
    /// with an empty value, and a later entry wins over an earlier one.
    pub fn from_entries(entries: &[String]) -> Self {
        let vars = entries
            .iter()
            .map(|entry| match entry.split_once('=') {
                Some((key, value)) => (key.to_string(), value.to_string()),
                None => (entry.clone(), String::new()),
            })
            .collect();
        Self(vars)
    }

    /// A variable's value, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Variable providers for `app`: `SPIN_VARIABLE_<NAME>` entries, plus,
    /// for each app variable `foo`, the entry `FOO` (which wins, as in the
    /// reference shim, so a plain Kubernetes `env:` entry configures the app).
    pub fn variable_providers(&self, app: &LockedApp) -> Providers {
        let mut env = self.0.clone();
        for name in app.variables.keys() {
            if let Some(value) = self.get(&name.to_ascii_uppercase()) {
                env.insert(env_key(DEFAULT_ENV_PREFIX, name), value.to_string());
            }
        }
        Providers {
            static_values: IndexMap::new(),
            env,
        }
    }
}

/// The shim's settings, from the container's environment.
#[derive(Clone, Debug, PartialEq)]
pub struct ShimSettings {
    /// `SPIN_HTTP_LISTEN_ADDR`.
    pub listen: SocketAddr,
    /// `SPIN_COMPONENTS_TO_RETAIN`: run only these components.
    pub components_to_retain: Option<Vec<String>>,
    /// `SPIN_MAX_INSTANCE_MEMORY`: cap on one instance's linear memory, in bytes.
    pub max_instance_memory: Option<u64>,
    /// `SPIN_SHUTDOWN_TIMEOUT`: the drain bound after SIGTERM, in seconds.
    pub shutdown_timeout: Duration,
    /// `HOSTNAME`: the app's id on this node (the pod name under Kubernetes).
    pub app_id: Option<String>,
    /// `SPIN_HTTP_HEADER_READ_TIMEOUT`, `SPIN_HTTP_MAX_CONNECTIONS` and the
    /// listener's other limits.
    pub http_limits: HttpLimits,
}

impl ShimSettings {
    /// Reads and checks every setting.
    pub fn from_env(env: &ContainerEnv) -> Result<Self> {
        let listen = env
            .get("SPIN_HTTP_LISTEN_ADDR")
            .unwrap_or(DEFAULT_LISTEN_ADDR);
        let listen = listen.parse().with_context(|| {
            format!("SPIN_HTTP_LISTEN_ADDR=\"{listen}\": expected an address such as 0.0.0.0:80")
        })?;
        Ok(Self {
            listen,
            components_to_retain: env
                .get("SPIN_COMPONENTS_TO_RETAIN")
                .map(parse_component_list)
                .transpose()?,
            max_instance_memory: env
                .get("SPIN_MAX_INSTANCE_MEMORY")
                .map(|raw| {
                    raw.trim().parse::<u64>().with_context(|| {
                        format!("SPIN_MAX_INSTANCE_MEMORY=\"{raw}\": expected a number of bytes")
                    })
                })
                .transpose()?,
            shutdown_timeout: env
                .get("SPIN_SHUTDOWN_TIMEOUT")
                .map(parse_seconds)
                .transpose()?
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
            app_id: env
                .get("HOSTNAME")
                .filter(|h| !h.is_empty())
                .map(str::to_string),
            http_limits: HttpLimits::from_env(|name| env.get(name).map(str::to_string))?,
        })
    }
}

fn parse_component_list(raw: &str) -> Result<Vec<String>> {
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    if ids.is_empty() {
        bail!(
            "SPIN_COMPONENTS_TO_RETAIN=\"{raw}\": expected a comma-separated list of component ids"
        );
    }
    Ok(ids)
}

fn parse_seconds(raw: &str) -> Result<Duration> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .with_context(|| {
            format!(
                "SPIN_SHUTDOWN_TIMEOUT=\"{raw}\": expected a number of seconds, such as 10 or 2.5"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(entries: &[&str]) -> ContainerEnv {
        ContainerEnv::from_entries(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_without_settings() {
        let settings = ShimSettings::from_env(&env(&["PATH=/bin"])).unwrap();
        assert_eq!(settings.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(settings.components_to_retain, None);
        assert_eq!(settings.max_instance_memory, None);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(settings.app_id, None);
        assert_eq!(settings.http_limits, HttpLimits::default());
    }

    #[test]
    fn every_setting_is_read() {
        let settings = ShimSettings::from_env(&env(&[
            "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:8080",
            "SPIN_COMPONENTS_TO_RETAIN=api, web,",
            "SPIN_MAX_INSTANCE_MEMORY=1048576",
            "SPIN_SHUTDOWN_TIMEOUT=2.5",
            "HOSTNAME=hello-7d9c",
            "SPIN_HTTP_MAX_CONNECTIONS=7",
        ]))
        .unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            settings.components_to_retain,
            Some(vec!["api".to_string(), "web".to_string()])
        );
        assert_eq!(settings.max_instance_memory, Some(1_048_576));
        assert_eq!(settings.shutdown_timeout, Duration::from_millis(2500));
        assert_eq!(settings.app_id.as_deref(), Some("hello-7d9c"));
        assert_eq!(settings.http_limits.max_connections, 7);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (entry, variable) in [
            (
                "SPIN_HTTP_LISTEN_ADDR=localhost",
                "SPIN_HTTP_LISTEN_ADDR=\"localhost\"",
            ),
            (
                "SPIN_MAX_INSTANCE_MEMORY=1GB",
                "SPIN_MAX_INSTANCE_MEMORY=\"1GB\"",
            ),
            ("SPIN_SHUTDOWN_TIMEOUT=-1", "SPIN_SHUTDOWN_TIMEOUT=\"-1\""),
            (
                "SPIN_COMPONENTS_TO_RETAIN=,",
                "SPIN_COMPONENTS_TO_RETAIN=\",\"",
            ),
        ] {
            let err = ShimSettings::from_env(&env(&[entry])).unwrap_err();
            assert!(
                format!("{err:#}").starts_with(variable),
                "{entry}: got {err:#}"
            );
        }
    }

    #[test]
    fn app_variables_come_from_plain_and_prefixed_names() {
        let app = LockedApp::from_json(
            br#"{"spin_lock_version":1,"variables":{"foo":{"default":"d"},"api_key":{}},"triggers":[],"components":[]}"#,
            "spin.lock",
        )
        .unwrap();
        let providers = env(&["FOO=plain", "SPIN_VARIABLE_API_KEY=prefixed", "OTHER=x"])
            .variable_providers(&app);
        assert_eq!(providers.env["SPIN_VARIABLE_FOO"], "plain");
        assert_eq!(providers.env["SPIN_VARIABLE_API_KEY"], "prefixed");
        let both = env(&["FOO=plain", "SPIN_VARIABLE_FOO=prefixed"]).variable_providers(&app);
        assert_eq!(both.env["SPIN_VARIABLE_FOO"], "plain");
    }
}
