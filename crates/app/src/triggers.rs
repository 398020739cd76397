//! Typed views of the non-HTTP trigger tables: what one `[[trigger.<type>]]`
//! entry and the app-wide `[application.trigger.<type>]` table hold for the
//! Redis trigger (spec §4), the command trigger and the MQTT trigger (the
//! trigger plugins the reference shim bundles).
//!
//! Fields that Spin template-expands (addresses, channels, topics,
//! credentials) stay templates here; the host renders them with the app's
//! resolved variables, so errors name the trigger and the field.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::locked::{LockedApp, LockedTrigger};

/// The Redis trigger type.
pub const REDIS_TRIGGER_TYPE: &str = "redis";

/// One `[[trigger.redis]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTriggerConfig {
    /// The component that handles the channel's messages.
    pub component: String,
    /// The channel to subscribe to (a template).
    pub channel: String,
    /// The server, overriding the app-wide address (a template).
    #[serde(default)]
    pub address: Option<String>,
}

/// `[application.trigger.redis]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTriggerMetadata {
    /// The server every trigger without its own `address` uses (a template).
    #[serde(default)]
    pub address: Option<String>,
}

/// The command trigger type.
pub const COMMAND_TRIGGER_TYPE: &str = "command";

/// One `[[trigger.command]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTriggerConfig {
    /// The component to run (it exports `wasi:cli/run`).
    pub component: String,
}

/// The MQTT trigger type.
pub const MQTT_TRIGGER_TYPE: &str = "mqtt";

/// One `[[trigger.mqtt]]` entry. As in the MQTT trigger plugin, values are
/// strings in the manifest (`qos = "1"`); a bare number is taken too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTriggerConfig {
    /// The component that handles the topic's messages.
    pub component: String,
    /// The topic filter to subscribe to (a template; `+` and `#` allowed).
    pub topic: String,
    /// The subscription's QoS: 0, 1 or 2.
    #[serde(deserialize_with = "qos")]
    pub qos: u8,
}

/// `[application.trigger.mqtt]`: the broker every MQTT trigger uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTriggerMetadata {
    /// `mqtt://host:port` (a template).
    #[serde(default)]
    pub address: Option<String>,
    /// The user name (a template); none when empty.
    #[serde(default)]
    pub username: Option<String>,
    /// The password (a template).
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds between keep-alive pings.
    #[serde(default, deserialize_with = "optional_seconds")]
    pub keep_alive_interval: Option<u64>,
}

/// A string or a number, as the MQTT plugin's string-typed fields are
/// written either way.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    Number(u64),
    String(String),
}

impl StringOrNumber {
    fn number<E: serde::de::Error>(self, what: &str) -> std::result::Result<u64, E> {
        match self {
            Self::Number(n) => Ok(n),
            Self::String(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("\"{s}\" is not {what}"))),
        }
    }
}

fn qos<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u8, D::Error> {
    match StringOrNumber::deserialize(d)?.number("a QoS (0, 1 or 2)")? {
        n @ 0..=2 => Ok(n as u8),
        n => Err(serde::de::Error::custom(format!(
            "{n} is not a QoS (0, 1 or 2)"
        ))),
    }
}

fn optional_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    Ok(Some(
        StringOrNumber::deserialize(d)?.number("a number of seconds")?,
    ))
}

/// Reads one trigger's config as `T`; errors name the trigger id and field.
pub fn trigger_config<T: DeserializeOwned>(trigger: &LockedTrigger) -> Result<T> {
    serde_path_to_error::deserialize(&trigger.trigger_config)
        .map_err(|e| Error::from_json_path("", &format!("trigger \"{}\"", trigger.id), e))
}

/// Reads the app-wide table of a trigger type as `T` (its default when the
/// app has none); errors name `metadata.triggers.<type>`.
pub fn trigger_metadata<T: DeserializeOwned + Default>(
    app: &LockedApp,
    trigger_type: &str,
) -> Result<T> {
    let Some(table) = app.trigger_metadata(trigger_type) else {
        return Ok(T::default());
    };
    // A v1 lock's `metadata.trigger` still names its type; it is no field.
    let mut table = table.clone();
    if let Value::Object(map) = &mut table {
        map.remove("type");
    }
    serde_path_to_error::deserialize(&table)
        .map_err(|e| Error::from_json_path("", &format!("metadata.triggers.{trigger_type}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(metadata: Value, trigger_config: Value) -> LockedApp {
        LockedApp::from_json(
            json!({
                "spin_lock_version": 1,
                "metadata": metadata,
                "triggers": [{"id": "t1", "trigger_type": "redis", "trigger_config": trigger_config}],
                "components": [],
            })
            .to_string()
            .as_bytes(),
            "spin.lock",
        )
        .unwrap()
    }

    #[test]
    fn a_redis_trigger_reads_its_channel_and_the_app_wide_address() {
        let app = app(
            json!({"triggers": {"redis": {"address": "redis://{{ host }}"}}}),
            json!({"component": "c", "channel": "{{ ch }}"}),
        );
        let config: RedisTriggerConfig = trigger_config(&app.triggers[0]).unwrap();
        assert_eq!(config.channel, "{{ ch }}");
        assert_eq!(config.address, None);
        let metadata: RedisTriggerMetadata = trigger_metadata(&app, REDIS_TRIGGER_TYPE).unwrap();
        assert_eq!(metadata.address.as_deref(), Some("redis://{{ host }}"));
    }

    #[test]
    fn mqtt_values_are_strings_or_numbers_and_qos_is_checked() {
        let app = app(
            json!({"triggers": {"mqtt": {"address": "mqtt://h:1883", "keep_alive_interval": "30"}}}),
            json!({"component": "c", "topic": "t/+", "qos": "1"}),
        );
        let config: MqttTriggerConfig = trigger_config(&app.triggers[0]).unwrap();
        assert_eq!(config.qos, 1);
        let metadata: MqttTriggerMetadata = trigger_metadata(&app, MQTT_TRIGGER_TYPE).unwrap();
        assert_eq!(metadata.keep_alive_interval, Some(30));
        for (qos, expected) in [
            (json!(2), Ok(2)),
            (json!("3"), Err("3 is not a QoS")),
            (json!("x"), Err("\"x\" is not a QoS")),
        ] {
            let app = app_with(json!({"component": "c", "topic": "t", "qos": qos}));
            let read = trigger_config::<MqttTriggerConfig>(&app.triggers[0]).map(|c| c.qos);
            match (read, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{err}"),
                (got, want) => panic!("{got:?} vs {want:?}"),
            }
        }
    }

    fn app_with(trigger_config: Value) -> LockedApp {
        app(json!({}), trigger_config)
    }

    #[test]
    fn unknown_and_missing_fields_name_the_trigger() {
        let app = app(json!({}), json!({"component": "c", "chanel": "x"}));
        let err = trigger_config::<RedisTriggerConfig>(&app.triggers[0]).unwrap_err();
        assert!(err.to_string().starts_with("trigger \"t1\""), "{err}");
        assert!(err.to_string().contains("chanel"), "{err}");
        let metadata: RedisTriggerMetadata = trigger_metadata(&app, REDIS_TRIGGER_TYPE).unwrap();
        assert_eq!(metadata, RedisTriggerMetadata::default());
    }
}
