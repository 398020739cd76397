//! A typed view of HTTP triggers (spec §1.1, §1.4): the `trigger_config` of a
//! [`LockedTrigger`] of type `http`, and the app-wide `base` check.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Problem, Result};
use crate::locked::{LockedApp, LockedTrigger};

/// The trigger type served by this module.
pub const HTTP_TRIGGER_TYPE: &str = "http";
/// The default WAGI `argv`.
pub const DEFAULT_WAGI_ARGV: &str = "${SCRIPT_NAME} ${ARGS}";
/// The only WAGI entrypoint supported.
pub const WAGI_ENTRYPOINT: &str = "_start";

/// One HTTP trigger's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTriggerConfig {
    /// The component id; `None` for a static response.
    #[serde(default)]
    pub component: Option<String>,
    /// Where the trigger is reachable.
    pub route: HttpRoute,
    /// How to call the component; `None` means [`HttpExecutor::Http`].
    #[serde(default)]
    pub executor: Option<HttpExecutor>,
    /// A response the host answers itself, instead of a component.
    #[serde(default)]
    pub static_response: Option<StaticResponse>,
}

/// `route`: a pattern string, or `{ private = true }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpRoute {
    /// A route pattern, as written.
    Route(String),
    /// Reachable only by service chaining; not in the router.
    Private,
}

/// `executor`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawExecutor")]
pub enum HttpExecutor {
    /// `type = "http"` (alias `"spin"`): the guest's export is detected.
    Http,
    /// `type = "wagi"`: a WASI command called CGI-style.
    Wagi {
        /// The argv template; defaults to [`DEFAULT_WAGI_ARGV`].
        argv: String,
        /// Always [`WAGI_ENTRYPOINT`].
        entrypoint: String,
    },
}

/// `static_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResponse {
    /// The status; 200 by default.
    #[serde(default = "ok")]
    pub status_code: u16,
    /// Response headers, in order.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// The body.
    #[serde(default)]
    pub body: Option<String>,
}

fn ok() -> u16 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    argv: Option<String>,
    #[serde(default)]
    entrypoint: Option<String>,
}

impl TryFrom<RawExecutor> for HttpExecutor {
    type Error = Problem;
    fn try_from(raw: RawExecutor) -> std::result::Result<Self, Problem> {
        match raw.kind.as_str() {
            "http" | "spin" => {
                if raw.argv.is_some() {
                    return Err(Problem::WagiOnly { name: "argv" });
                }
                if raw.entrypoint.is_some() {
                    return Err(Problem::WagiOnly { name: "entrypoint" });
                }
                Ok(HttpExecutor::Http)
            }
            "wagi" => {
                let entrypoint = raw.entrypoint.unwrap_or_else(|| WAGI_ENTRYPOINT.into());
                if entrypoint != WAGI_ENTRYPOINT {
                    return Err(Problem::WagiEntrypoint { entrypoint });
                }
                Ok(HttpExecutor::Wagi {
                    argv: raw.argv.unwrap_or_else(|| DEFAULT_WAGI_ARGV.into()),
                    entrypoint,
                })
            }
            _ => Err(Problem::UnknownExecutor { name: raw.kind }),
        }
    }
}

impl<'de> Deserialize<'de> for HttpRoute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct RouteVisitor;
        impl<'de> Visitor<'de> for RouteVisitor {
            type Value = HttpRoute;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a route string or { private = true }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<HttpRoute, E> {
                Ok(HttpRoute::Route(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<HttpRoute, A::Error> {
                let mut private = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "private" {
                        return Err(de::Error::unknown_field(&key, &["private"]));
                    }
                    private = Some(map.next_value::<bool>()?);
                }
                match private {
                    Some(true) => Ok(HttpRoute::Private),
                    Some(false) => Err(de::Error::custom(Problem::PrivateFalse)),
                    None => Err(de::Error::missing_field("private")),
                }
            }
        }
        d.deserialize_any(RouteVisitor)
    }
}

impl HttpTriggerConfig {
    /// Reads an HTTP trigger's config. Unknown fields are denied; errors name the
    /// trigger id.
    pub fn from_trigger(t: &LockedTrigger) -> Result<Self> {
        Self::from_value(&t.trigger_config, "", &format!("trigger \"{}\"", t.id))
    }

    /// Reads a config value; errors are labelled with `file` and `field`.
    pub(crate) fn from_value(value: &Value, file: &str, field: &str) -> Result<Self> {
        let config: HttpTriggerConfig = serde_path_to_error::deserialize(value)
            .map_err(|e| Error::from_json_path(file, field, e))?;
        if config.component.is_some() == config.static_response.is_some() {
            return Err(Error::invalid(
                file,
                field,
                Problem::ComponentXorStaticResponse,
            ));
        }
        if let Some(response) = &config.static_response {
            if !(100..=999).contains(&response.status_code) {
                return Err(Error::invalid(
                    file,
                    format!("{field}: static_response.status_code"),
                    Problem::StatusCode {
                        status: response.status_code.into(),
                    },
                ));
            }
        }
        Ok(config)
    }

    /// The executor, defaulting to [`HttpExecutor::Http`].
    pub fn executor(&self) -> HttpExecutor {
        self.executor.clone().unwrap_or(HttpExecutor::Http)
    }
}

/// Checks the app-wide HTTP base (`metadata.triggers.http.base`): absent or `"/"`.
/// App-wide base paths were removed in Spin 3; anything else is an error.
pub fn validate_http_base(app: &LockedApp) -> Result<()> {
    let base = app
        .trigger_metadata(HTTP_TRIGGER_TYPE)
        .and_then(|t| t.get("base"));
    check_base(base, "", "metadata.triggers.http.base")
}

pub(crate) fn check_base(base: Option<&Value>, file: &str, field: &str) -> Result<()> {
    match base {
        None => Ok(()),
        Some(Value::String(s)) if s == "/" => Ok(()),
        Some(Value::String(s)) => Err(Error::invalid(
            file,
            field,
            Problem::HttpBase { base: s.clone() },
        )),
        Some(_) => Err(Error::invalid(
            file,
            field,
            Problem::WrongType {
                expected: "a string",
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trigger(config: Value) -> LockedTrigger {
        LockedTrigger {
            id: "t1".into(),
            trigger_type: "http".into(),
            trigger_config: config,
        }
    }

    fn parse(config: Value) -> Result<HttpTriggerConfig> {
        HttpTriggerConfig::from_trigger(&trigger(config))
    }

    #[test]
    fn a_plain_trigger_defaults_to_the_http_executor() {
        let c = parse(json!({"route": "/...", "component": "c"})).unwrap();
        assert_eq!(c.route, HttpRoute::Route("/...".into()));
        assert_eq!(c.component.as_deref(), Some("c"));
        assert_eq!(c.executor(), HttpExecutor::Http);
    }

    #[test]
    fn executors_parse_with_wagi_defaults() {
        let cases = [
            (json!({"type": "http"}), HttpExecutor::Http),
            (json!({"type": "spin"}), HttpExecutor::Http),
            (
                json!({"type": "wagi"}),
                HttpExecutor::Wagi {
                    argv: DEFAULT_WAGI_ARGV.into(),
                    entrypoint: "_start".into(),
                },
            ),
            (
                json!({"type": "wagi", "argv": "x ${ARGS}", "entrypoint": "_start"}),
                HttpExecutor::Wagi {
                    argv: "x ${ARGS}".into(),
                    entrypoint: "_start".into(),
                },
            ),
        ];
        for (executor, expected) in cases {
            let c = parse(json!({"route": "/", "component": "c", "executor": executor})).unwrap();
            assert_eq!(c.executor(), expected);
        }
    }

    #[test]
    fn private_routes_and_static_responses_parse() {
        let c = parse(json!({"route": {"private": true}, "component": "c"})).unwrap();
        assert_eq!(c.route, HttpRoute::Private);
        let c =
            parse(json!({"route": "/s", "static_response": {"headers": {"a": "b"}, "body": "hi"}}))
                .unwrap();
        let r = c.static_response.unwrap();
        assert_eq!((r.status_code, r.body.as_deref()), (200, Some("hi")));
    }

    #[test]
    fn bad_trigger_configs_are_errors_naming_the_trigger() {
        let cases = [
            (
                json!({"route": "/", "component": "c", "extra": 1}),
                "trigger \"t1\": unknown field \"extra\", expected one of \"component\", \"route\", \"executor\", \"static_response\"",
            ),
            (json!({"component": "c"}), "trigger \"t1\": missing field \"route\""),
            (
                json!({"route": {"private": false}, "component": "c"}),
                "trigger \"t1\": route: private = false is not allowed: give a route string, or private = true",
            ),
            (
                json!({"route": "/"}),
                "trigger \"t1\": exactly one of \"component\" or \"static_response\" is required",
            ),
            (
                json!({"route": "/", "component": "c", "static_response": {}}),
                "trigger \"t1\": exactly one of \"component\" or \"static_response\" is required",
            ),
            (
                json!({"route": "/", "component": "c", "executor": {"type": "cgi"}}),
                "trigger \"t1\": executor: unknown executor type \"cgi\", expected one of \"http\", \"spin\", \"wagi\"",
            ),
            (
                json!({"route": "/", "component": "c", "executor": {"type": "wagi", "entrypoint": "main"}}),
                "trigger \"t1\": executor: entrypoint \"main\" is not supported: it must be \"_start\"",
            ),
            (
                json!({"route": "/", "component": "c", "executor": {"type": "http", "argv": "x"}}),
                "trigger \"t1\": executor: \"argv\" is only allowed with executor type \"wagi\"",
            ),
            (
                json!({"route": "/", "static_response": {"status_code": 42}}),
                "trigger \"t1\": static_response.status_code: status_code 42 is not a valid HTTP status",
            ),
        ];
        for (config, message) in cases {
            assert_eq!(
                parse(config.clone()).unwrap_err().to_string(),
                message,
                "{config}"
            );
        }
    }

    #[test]
    fn the_http_base_must_be_absent_or_root() {
        let mut app = LockedApp::default();
        assert!(validate_http_base(&app).is_ok());
        app.metadata
            .insert("triggers".into(), json!({"http": {"base": "/"}}));
        assert!(validate_http_base(&app).is_ok());
        app.metadata
            .insert("triggers".into(), json!({"http": {"base": "/api"}}));
        assert_eq!(
            validate_http_base(&app).unwrap_err().to_string(),
            "metadata.triggers.http.base: \"/api\" is not supported: app-wide base paths were removed in Spin 3; remove it or use \"/\""
        );
    }
}
