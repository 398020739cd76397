//! Application variables: name rules, providers and resolution.
//!
//! Two layers (spec §7): `[variables]` are the app's inputs and are not readable by
//! guests; a component's `variables` (the lock's `config`) are templates over them and
//! are what guests read. Values come from providers, first value wins:
//!
//! 1. `--variable k=v` ([`Providers::static_values`]);
//! 2. runtime-config `[[variables_provider]]`s in file order
//!    ([`resolve_app_variables_with`]);
//! 3. the built-in env provider, `SPIN_VARIABLE_<UPPER_NAME>` ([`Providers::env`],
//!    which may include a `.env` file, see [`Providers::with_dotenv`]);
//! 4. the manifest `default`.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;

use crate::error::{Error, Problem, Result};
use crate::locked::{LockedApp, LockedComponent};
use crate::outbound::AllowedHostsConfig;
use crate::runtime_config::VariablesProvider;
use crate::template::Template;

/// Prefix of the built-in env provider: `SPIN_VARIABLE_<UPPER_NAME>`.
pub const DEFAULT_ENV_PREFIX: &str = "SPIN_VARIABLE";

/// Why a variable name is invalid (spec §7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid variable name \"{name}\": {reason}")]
pub struct InvalidName {
    /// The name as given.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

/// Checks a variable name: non-empty; only `a-z`, `0-9` and `_`; starts with a letter,
/// ends with a letter or digit; no `__`.
pub fn validate_variable_name(name: &str) -> std::result::Result<(), InvalidName> {
    let fail = |reason| {
        Err(InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return fail("only lower-case letters, digits and '_' are allowed");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return fail("must start with a letter");
    }
    if name.ends_with('_') {
        return fail("must end with a letter or digit");
    }
    if name.contains("__") {
        return fail("must not contain \"__\"");
    }
    Ok(())
}

/// The environment variable an env provider reads for `name`: `PREFIX_NAME`.
pub fn env_key(prefix: &str, name: &str) -> String {
    format!("{prefix}_{}", name.to_ascii_uppercase())
}

/// Where variable values come from, besides the runtime config.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    /// `--variable` values, by variable name. Highest priority.
    pub static_values: IndexMap<String, String>,
    /// A snapshot of the process environment (plus `.env` entries); the built-in env
    /// provider reads `SPIN_VARIABLE_<UPPER_NAME>` from it.
    pub env: HashMap<String, String>,
}

impl Providers {
    /// `static_values` plus a snapshot of the current process environment.
    pub fn from_process(static_values: IndexMap<String, String>) -> Self {
        Providers {
            static_values,
            env: std::env::vars().collect(),
        }
    }

    /// Adds the entries of a `.env` file that the environment does not already set
    /// (the built-in provider's fallback). A missing file is not an error.
    pub fn with_dotenv(mut self, path: &Path) -> Result<Self> {
        for (key, value) in read_dotenv(path)? {
            self.env.entry(key).or_insert(value);
        }
        Ok(self)
    }
}

/// Reads `KEY=VALUE` lines; `#` comments, blank lines and an `export ` prefix are
/// allowed, and matching quotes around a value are removed. A missing file is empty.
pub fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                cause: source,
            })
        }
    };
    Ok(parse_dotenv(&text))
}

fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|(open, close)| v.strip_prefix(*open)?.strip_suffix(*close))
                .unwrap_or(v);
            Some((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Parses one `--variable` argument: `NAME=VALUE`, or `NAME=@FILE` to read the value
/// from a file. The name must be a valid variable name.
pub fn parse_variable_arg(arg: &str) -> Result<(String, String)> {
    let field = || format!("--variable \"{arg}\"");
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| Error::invalid("", field(), Problem::VariableArgShape))?;
    let name = name.trim();
    validate_variable_name(name).map_err(|e| Error::invalid("", field(), e))?;
    let value = match value.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).map_err(|source| Error::Io {
            path: file.into(),
            cause: source,
        })?,
        None => value.to_owned(),
    };
    Ok((name.to_owned(), value))
}

/// The values of an app's `[variables]`, after every provider was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedVariables {
    values: IndexMap<String, String>,
}

/// Resolves app variables from `--variable` values, then the built-in env provider,
/// then defaults. Same as [`resolve_app_variables_with`] without runtime-config providers.
pub fn resolve_app_variables(app: &LockedApp, providers: &Providers) -> Result<ResolvedVariables> {
    resolve_app_variables_with(app, providers, &[])
}

/// Resolves app variables in Spin's order: `--variable` values, then `runtime`
/// providers in file order, then the built-in env provider, then defaults.
///
/// `env` runtime providers read [`Providers::env`] with their own prefix and then
/// their `dotenv_path` file. Other provider types (vault, Azure Key Vault) need the
/// network and are reported as not supported.
///
/// Fails listing every variable without a default that no provider sets.
pub fn resolve_app_variables_with(
    app: &LockedApp,
    providers: &Providers,
    runtime: &[VariablesProvider],
) -> Result<ResolvedVariables> {
    let mut sources: Vec<HashMap<String, String>> = Vec::new();
    let by_name = |values: &IndexMap<String, String>| values.clone().into_iter().collect();
    sources.push(by_name(&providers.static_values));
    for (index, provider) in runtime.iter().enumerate() {
        match provider {
            VariablesProvider::Static { values } => sources.push(by_name(values)),
            VariablesProvider::Env {
                prefix,
                dotenv_path,
            } => {
                let mut env = HashMap::new();
                if let Some(path) = dotenv_path {
                    env.extend(read_dotenv(path)?);
                }
                env.extend(providers.env.clone());
                sources.push(env_source(app, &env, prefix));
            }
            VariablesProvider::Other(_) => {
                return Err(Error::invalid(
                    "runtime config",
                    format!("variables_provider[{index}]"),
                    Problem::NotSupported {
                        what: "this variables provider type is",
                    },
                ))
            }
        }
    }
    sources.push(env_source(app, &providers.env, DEFAULT_ENV_PREFIX));

    let mut values = IndexMap::new();
    let mut missing = Vec::new();
    for (name, variable) in &app.variables {
        let found = sources
            .iter()
            .find_map(|s| s.get(name))
            .or(variable.default.as_ref());
        match found {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(Error::RequiredVariables { names: missing });
    }
    Ok(ResolvedVariables { values })
}

/// The app variables an env provider with `prefix` sets, by variable name.
fn env_source(
    app: &LockedApp,
    env: &HashMap<String, String>,
    prefix: &str,
) -> HashMap<String, String> {
    app.variables
        .keys()
        .filter_map(|name| Some((name.clone(), env.get(&env_key(prefix, name))?.clone())))
        .collect()
}

impl ResolvedVariables {
    /// Values given directly, e.g. in tests.
    pub fn from_values(values: IndexMap<String, String>) -> Self {
        ResolvedVariables { values }
    }

    /// The value of an app variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// All app variables and their values, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Renders one template (a trigger's address, say); `field` names it in
    /// errors.
    pub fn render(&self, field: impl Fn() -> String, text: &str) -> Result<String> {
        let template = Template::parse(text).map_err(|e| Error::invalid("", field(), e))?;
        let mut unknown = None;
        let out = template.render(|name| match self.get(name) {
            Some(v) => Some(v.to_owned()),
            None => {
                unknown = Some(name.to_owned());
                None
            }
        });
        out.ok_or_else(|| {
            Error::invalid(
                "",
                field(),
                Problem::UnknownAppVariable {
                    name: unknown.unwrap_or_default(),
                },
            )
        })
    }

    /// The component's `variables` (the lock's `config`), rendered. This is what the
    /// guest reads. Errors name the component and the key.
    pub fn component_config(
        &self,
        component: &LockedComponent,
    ) -> Result<IndexMap<String, String>> {
        component
            .config
            .iter()
            .map(|(key, text)| {
                let field = || format!("component \"{}\": variables.{key}", component.id);
                Ok((key.clone(), self.render(field, text)?))
            })
            .collect()
    }

    /// The component's `allowed_outbound_hosts` with templates rendered. Entries that
    /// render to nothing, `http://` or `https://` are dropped (spec §6.3).
    pub fn allowed_outbound_hosts(
        &self,
        component: &LockedComponent,
    ) -> Result<AllowedHostsConfig> {
        let field = || format!("component \"{}\": allowed_outbound_hosts", component.id);
        let rendered = component
            .allowed_outbound_hosts()
            .iter()
            .map(|entry| self.render(field, entry))
            .collect::<Result<Vec<_>>>()?;
        AllowedHostsConfig::parse_rendered(&rendered).map_err(|e| Error::invalid("", field(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locked::Variable;

    #[test]
    fn valid_names_pass_and_invalid_names_say_why() {
        for ok in ["a", "a1", "a_b", "abc_123_x"] {
            assert_eq!(validate_variable_name(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "must not be empty"),
            (
                "invalid-name",
                "only lower-case letters, digits and '_' are allowed",
            ),
            (
                "invalid!name",
                "only lower-case letters, digits and '_' are allowed",
            ),
            (
                "Upper",
                "only lower-case letters, digits and '_' are allowed",
            ),
            ("4invalidname", "must start with a letter"),
            ("_a", "must start with a letter"),
            ("a_", "must end with a letter or digit"),
            ("a__b", "must not contain \"__\""),
        ];
        for (name, reason) in cases {
            let err = validate_variable_name(name).unwrap_err();
            assert_eq!(err.reason, reason, "{name}");
        }
        assert_eq!(
            validate_variable_name("4x").unwrap_err().to_string(),
            "invalid variable name \"4x\": must start with a letter"
        );
    }

    fn app(vars: &[(&str, Option<&str>)]) -> LockedApp {
        let mut app = LockedApp::default();
        for (name, default) in vars {
            app.variables.insert(
                name.to_string(),
                Variable {
                    default: default.map(str::to_owned),
                    ..Default::default()
                },
            );
        }
        app
    }

    #[test]
    fn static_values_beat_env_which_beats_defaults() {
        let app = app(&[("a", Some("da")), ("b", Some("db")), ("c", Some("dc"))]);
        let providers = Providers {
            static_values: [("a".to_owned(), "sa".to_owned())].into_iter().collect(),
            env: [
                ("SPIN_VARIABLE_A".to_owned(), "ea".to_owned()),
                ("SPIN_VARIABLE_B".to_owned(), "eb".to_owned()),
            ]
            .into_iter()
            .collect(),
        };
        let r = resolve_app_variables(&app, &providers).unwrap();
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [("a", "sa"), ("b", "eb"), ("c", "dc")]
        );
    }

    #[test]
    fn runtime_config_providers_come_before_the_builtin_env_provider() {
        let app = app(&[("a", None), ("b", None), ("c", None)]);
        let providers = Providers {
            static_values: IndexMap::new(),
            env: [
                ("SPIN_VARIABLE_A".to_owned(), "builtin".to_owned()),
                ("MY_B".to_owned(), "custom-env".to_owned()),
                ("SPIN_VARIABLE_C".to_owned(), "builtin-c".to_owned()),
            ]
            .into_iter()
            .collect(),
        };
        let runtime = [
            VariablesProvider::Static {
                values: [("a".to_owned(), "static".to_owned())]
                    .into_iter()
                    .collect(),
            },
            VariablesProvider::Env {
                prefix: "MY".into(),
                dotenv_path: None,
            },
        ];
        let r = resolve_app_variables_with(&app, &providers, &runtime).unwrap();
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [("a", "static"), ("b", "custom-env"), ("c", "builtin-c")]
        );
    }

    #[test]
    fn missing_required_variables_are_all_listed() {
        let app = app(&[("a", None), ("x", Some("1")), ("b", None)]);
        let err = resolve_app_variables(&app, &Providers::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no value for required variable(s) \"a\", \"b\": set SPIN_VARIABLE_A in the environment (or pass --variable a=...)"
        );
    }

    #[test]
    fn unsupported_runtime_providers_are_an_error() {
        let err = resolve_app_variables_with(
            &app(&[]),
            &Providers::default(),
            &[VariablesProvider::Other(toml::Table::new())],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "runtime config: variables_provider[0]: this variables provider type is not supported yet"
        );
    }

    #[test]
    fn component_config_renders_templates_and_names_the_key_on_error() {
        let r = ResolvedVariables::from_values(
            [("who".to_owned(), "world".to_owned())]
                .into_iter()
                .collect(),
        );
        let mut c = LockedComponent {
            id: "api".into(),
            ..Default::default()
        };
        c.config.insert("greeting".into(), "hello {{ who }}".into());
        assert_eq!(r.component_config(&c).unwrap()["greeting"], "hello world");
        c.config.insert("other".into(), "{{ nope }}".into());
        assert_eq!(
            r.component_config(&c).unwrap_err().to_string(),
            "component \"api\": variables.other: unknown application variable \"nope\""
        );
    }

    #[test]
    fn allowed_hosts_are_rendered_and_empty_results_dropped() {
        let r = ResolvedVariables::from_values(
            [
                ("host".to_owned(), "example.com".to_owned()),
                ("opt".to_owned(), String::new()),
            ]
            .into_iter()
            .collect(),
        );
        let mut c = LockedComponent::default();
        c.metadata.insert(
            "allowed_outbound_hosts".into(),
            serde_json::json!(["https://{{ host }}", "https://{{ opt }}"]),
        );
        let hosts = r.allowed_outbound_hosts(&c).unwrap();
        assert!(hosts.allows(&"https://example.com/x".parse().unwrap()));
        assert!(!hosts.allows(&"https://other.com/x".parse().unwrap()));
    }

    #[test]
    fn variable_args_parse_name_and_value() {
        assert_eq!(
            parse_variable_arg("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert_eq!(
            parse_variable_arg("a=").unwrap(),
            ("a".into(), String::new())
        );
        assert_eq!(
            parse_variable_arg("novalue").unwrap_err().to_string(),
            "--variable \"novalue\": expected NAME=VALUE or NAME=@FILE"
        );
        assert_eq!(
            parse_variable_arg("Bad=1").unwrap_err().to_string(),
            "--variable \"Bad=1\": invalid variable name \"Bad\": only lower-case letters, digits and '_' are allowed"
        );
    }

    #[test]
    fn variable_args_can_read_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.txt");
        std::fs::write(&file, "from file").unwrap();
        let (_, value) = parse_variable_arg(&format!("a=@{}", file.display())).unwrap();
        assert_eq!(value, "from file");
    }

    #[test]
    fn dotenv_lines_are_parsed_and_the_environment_wins() {
        let parsed = parse_dotenv("# c\n\nexport A=1\nB = \"two\"\nC='3'\nnoeq\n");
        assert_eq!(
            parsed,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two".into()),
                ("C".into(), "3".into())
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "SPIN_VARIABLE_X=file\nSPIN_VARIABLE_Y=file\n",
        )
        .unwrap();
        let p = Providers {
            static_values: IndexMap::new(),
            env: [("SPIN_VARIABLE_X".to_owned(), "env".to_owned())]
                .into_iter()
                .collect(),
        }
        .with_dotenv(&dir.path().join(".env"))
        .unwrap();
        assert_eq!(p.env["SPIN_VARIABLE_X"], "env");
        assert_eq!(p.env["SPIN_VARIABLE_Y"], "file");
        assert!(read_dotenv(&dir.path().join("missing")).unwrap().is_empty());
    }
}
