//! Errors of this crate.
//!
//! Every message starts with the file it concerns (`spin.toml`, `spin.lock`,
//! `runtime-config.toml`, ...) and the field inside it, written the way an author
//! would look for it: `component "api"`, `trigger.http[0]: route`, `variable "foo"`.
//! Only then comes what is wrong, so one line is enough to find and fix the problem.

use std::fmt;
use std::path::PathBuf;

use crate::outbound::OutboundError;
use crate::routes::RouteError;
use crate::template::TemplateError;
use crate::variables::InvalidName;

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading or checking an application.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: cannot read: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error. Its text is part of this error's message,
        /// so it is deliberately not exposed as `source()` (no repeats when
        /// the chain is printed).
        cause: std::io::Error,
    },
    /// A TOML file is not valid TOML, or does not have the expected shape.
    #[error("{}{}{}", prefix(file, field), tidy(cause.message()), at(location))]
    Toml {
        /// The file label, e.g. `spin.toml`.
        file: String,
        /// Where in the file, e.g. `component "api"`; empty for the top level.
        field: String,
        /// 1-based line and column, when known.
        location: Option<(usize, usize)>,
        /// The underlying error. Its text is part of this error's message,
        /// so it is deliberately not exposed as `source()` (no repeats when
        /// the chain is printed).
        cause: Box<toml::de::Error>,
    },
    /// A JSON document (a lock file, a trigger config) does not have the expected shape.
    #[error("{}{}", prefix(file, field), Tidy(cause))]
    Json {
        /// The file label, e.g. `spin.lock`.
        file: String,
        /// Where in the document, e.g. `components[0].source`; empty for the top level.
        field: String,
        /// The underlying error. Its text is part of this error's message,
        /// so it is deliberately not exposed as `source()` (no repeats when
        /// the chain is printed).
        cause: serde_json::Error,
    },
    /// A value was read but breaks a rule.
    #[error("{}{problem}", prefix(file, field))]
    Invalid {
        /// The file label, e.g. `spin.toml`; empty when the value is not tied to a file.
        file: String,
        /// Where, e.g. `component "api": variables.greeting`.
        field: String,
        /// What is wrong.
        problem: Box<Problem>,
    },
    /// The manifest declares a version this crate cannot read.
    #[error("{file}: spin_manifest_version: unsupported manifest version {found} (expected 2, or \"1\" for the old format)")]
    ManifestVersion {
        /// The file label.
        file: String,
        /// The value found, as written in TOML.
        found: String,
    },
    /// A lock file asks its reader to understand features this host lacks.
    #[error("{file}: unknown must_understand {}", quoted_list(unknown))]
    MustUnderstand {
        /// The file label.
        file: String,
        /// The values that are not understood.
        unknown: Vec<String>,
    },
    /// A lock file requires host features this host lacks.
    #[error(
        "{file}: this host does not support host_requirements {}",
        quoted_list(unsupported)
    )]
    HostRequirements {
        /// The file label.
        file: String,
        /// The unsupported requirement names.
        unsupported: Vec<String>,
    },
    /// Some required application variables have no value from any provider.
    #[error(
        "no value for required variable(s) {}: set {} in the environment (or pass --variable {}=...)",
        quoted_list(names),
        crate::variables::env_key(crate::variables::DEFAULT_ENV_PREFIX, names.first().map(String::as_str).unwrap_or_default()),
        names.first().map(String::as_str).unwrap_or_default()
    )]
    RequiredVariables {
        /// The variables without a value, in declaration order.
        names: Vec<String>,
    },
}

/// What is wrong with a value in [`Error::Invalid`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A key that is not part of the format.
    #[error("unknown field \"{name}\", expected one of {}", quoted_list(expected))]
    UnknownField {
        /// The key as written.
        name: String,
        /// The keys allowed here.
        expected: Vec<&'static str>,
    },
    /// A required key is absent.
    #[error("missing field \"{name}\"")]
    MissingField {
        /// The key.
        name: &'static str,
    },
    /// A value has the wrong type.
    #[error("expected {expected}")]
    WrongType {
        /// What was expected, e.g. `a string`.
        expected: &'static str,
    },
    /// A component id that is not kebab-case.
    #[error("invalid component id \"{id}\": {reason}")]
    InvalidComponentId {
        /// The id.
        id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A key-value store or SQLite database label that is neither kebab- nor snake-case.
    #[error("invalid label \"{label}\": use lower-case letters, digits and '-' or '_' between words, starting with a letter")]
    InvalidLabel {
        /// The label.
        label: String,
    },
    /// A variable name that breaks the naming rules.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// An application variable with neither a default nor `required = true`.
    #[error("must have either a default or required = true")]
    VariableWithoutDefault,
    /// An application variable with both a default and `required = true`.
    #[error("must not have both a default and required = true")]
    VariableDefaultAndRequired,
    /// A template names a variable that `[variables]` does not declare.
    #[error("unknown application variable \"{name}\"")]
    UnknownAppVariable {
        /// The variable name.
        name: String,
    },
    /// A template that does not parse.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An `allowed_outbound_hosts` (or `allowed_http_hosts`) entry that does not parse.
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    /// A route that does not parse.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A `files` pattern that leads outside the application directory.
    #[error("\"{pattern}\" escapes the application directory")]
    FileEscapes {
        /// The pattern as written.
        pattern: String,
    },
    /// A `files` entry that is, or passes through, a symbolic link resolving
    /// outside the application directory: the guest would read host files
    /// the app does not contain.
    #[error("\"{pattern}\": {} is a symbolic link to {}, outside {bound}", link.display(), target.display())]
    FileLinksOutside {
        /// The pattern as written.
        pattern: String,
        /// The path in the app directory that leads outside.
        link: std::path::PathBuf,
        /// Where it resolves to.
        target: std::path::PathBuf,
        /// What it may not leave: the application directory or a mounted tree.
        bound: String,
    },
    /// A symbolic link to a directory that contains it, in a mounted tree.
    #[error("\"{pattern}\": {} is a symbolic link to a directory it is in", link.display())]
    FileLinkLoop {
        /// The pattern as written.
        pattern: String,
        /// The link, relative to the application directory.
        link: std::path::PathBuf,
    },
    /// A `files` pattern ending in `.` or `..`.
    #[error("\"{pattern}\" must not end in \".\" or \"..\"")]
    FileDots {
        /// The pattern as written.
        pattern: String,
    },
    /// A `files` path (not a glob) that does not exist.
    #[error("\"{pattern}\" does not exist")]
    FileMissing {
        /// The pattern as written.
        pattern: String,
    },
    /// A `files` destination that is not an absolute guest path.
    #[error("destination \"{destination}\" must be an absolute path")]
    FileDestination {
        /// The destination as written.
        destination: String,
    },
    /// A glob pattern with invalid syntax.
    #[error("invalid glob \"{pattern}\": {cause}")]
    Glob {
        /// The pattern as written.
        pattern: String,
        /// The underlying error. Its text is part of this error's message,
        /// so it is deliberately not exposed as `source()` (no repeats when
        /// the chain is printed).
        cause: glob::PatternError,
    },
    /// A file or directory could not be listed while expanding `files`.
    #[error("cannot read \"{}\": {cause}", path.display())]
    FileRead {
        /// The path on the host.
        path: PathBuf,
        /// The underlying error. Its text is part of this error's message,
        /// so it is deliberately not exposed as `source()` (no repeats when
        /// the chain is printed).
        cause: std::io::Error,
    },
    /// A `[component.x.dependencies]` key that is not a valid name.
    #[error("{0}")]
    DependencyName(String),
    /// A dependency table naming no source, or several.
    #[error(
        "expected exactly one of \"path\", \"component\", \"url\" (with \"digest\") or \"version\""
    )]
    DependencySource,
    /// A dependency on a component id the manifest does not define.
    #[error("no component \"{id}\" in this app")]
    UnknownDependencyComponent {
        /// The id as written.
        id: String,
    },
    /// A component used as a dependency that has resources of its own.
    #[error("component \"{id}\" cannot be a dependency: dependencies may not have their own resources or permissions, and it sets {}", fields.join(", "))]
    DependencyWithResources {
        /// The component used as a dependency.
        id: String,
        /// The fields it sets.
        fields: Vec<&'static str>,
    },
    /// Both ways of saying what dependencies inherit.
    #[error("\"dependencies_inherit_configuration\" and a dependency's \"inherit_configuration\" are mutually exclusive; use one or the other")]
    InheritTwice,
    /// A feature this host does not implement yet.
    #[error("{what} not supported yet")]
    NotSupported {
        /// The feature, phrased to read well before "not supported yet".
        what: &'static str,
    },
    /// `[application.trigger.http] base` other than `/`.
    #[error("\"{base}\" is not supported: app-wide base paths were removed in Spin 3; remove it or use \"/\"")]
    HttpBase {
        /// The value found.
        base: String,
    },
    /// `route = { private = false }`.
    #[error("private = false is not allowed: give a route string, or private = true")]
    PrivateFalse,
    /// Both or neither of `component` and `static_response`.
    #[error("exactly one of \"component\" or \"static_response\" is required")]
    ComponentXorStaticResponse,
    /// An executor type other than `http`, `spin` or `wagi`.
    #[error("unknown executor type \"{name}\", expected one of \"http\", \"spin\", \"wagi\"")]
    UnknownExecutor {
        /// The type found.
        name: String,
    },
    /// A WAGI option given to a non-WAGI executor.
    #[error("\"{name}\" is only allowed with executor type \"wagi\"")]
    WagiOnly {
        /// The option.
        name: &'static str,
    },
    /// A WAGI entrypoint other than `_start`.
    #[error("entrypoint \"{entrypoint}\" is not supported: it must be \"_start\"")]
    WagiEntrypoint {
        /// The entrypoint found.
        entrypoint: String,
    },
    /// A static response status outside 100..=999.
    #[error("status_code {status} is not a valid HTTP status")]
    StatusCode {
        /// The status found.
        status: u64,
    },
    /// A trigger refers to a component that does not exist.
    #[error("component \"{id}\" does not exist")]
    UnknownComponent {
        /// The id referred to.
        id: String,
    },
    /// A trigger id used twice.
    #[error("trigger id \"{id}\" is used more than once")]
    DuplicateTriggerId {
        /// The id.
        id: String,
    },
    /// A `--variable` argument without `=`.
    #[error("expected NAME=VALUE or NAME=@FILE")]
    VariableArgShape,
    /// A runtime-config provider type this crate does not know.
    #[error("unknown type \"{name}\", expected one of {}", quoted_list(expected))]
    UnknownType {
        /// The type found.
        name: String,
        /// The types allowed here.
        expected: Vec<&'static str>,
    },
    /// A value that must not be empty.
    #[error("must not be empty")]
    Empty,
}

impl Error {
    /// An [`Error::Invalid`] for `file` and `field`.
    pub(crate) fn invalid(
        file: &str,
        field: impl Into<String>,
        problem: impl Into<Problem>,
    ) -> Self {
        Error::Invalid {
            file: file.to_owned(),
            field: field.into(),
            problem: Box::new(problem.into()),
        }
    }

    /// A TOML syntax error, located in `text`.
    pub(crate) fn from_toml_syntax(file: &str, text: &str, source: toml::de::Error) -> Self {
        Error::Toml {
            file: file.to_owned(),
            field: String::new(),
            location: source.span().map(|span| line_col(text, span.start)),
            cause: Box::new(source),
        }
    }

    /// A TOML error located with serde_path_to_error and the source text.
    pub(crate) fn from_toml_path(
        file: &str,
        text: Option<&str>,
        err: serde_path_to_error::Error<toml::de::Error>,
    ) -> Self {
        let field = describe_path(
            err.path(),
            err.inner().message().starts_with("unknown field"),
        );
        let source = err.into_inner();
        let location = match (text, source.span()) {
            (Some(text), Some(span)) => Some(line_col(text, span.start)),
            _ => None,
        };
        Error::Toml {
            file: file.to_owned(),
            field,
            location,
            cause: Box::new(source),
        }
    }

    /// A JSON error located with serde_path_to_error.
    pub(crate) fn from_json_path(
        file: &str,
        field_prefix: &str,
        err: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let unknown = err.inner().to_string().starts_with("unknown field");
        let inner = describe_path(err.path(), unknown);
        let field = match (field_prefix.is_empty(), inner.is_empty()) {
            (true, _) => inner,
            (false, true) => field_prefix.to_owned(),
            (false, false) => format!("{field_prefix}: {inner}"),
        };
        Error::Json {
            file: file.to_owned(),
            field,
            cause: err.into_inner(),
        }
    }
}

/// `"file: field: "`, leaving out empty parts.
fn prefix(file: &str, field: &str) -> String {
    let mut out = String::new();
    for part in [file, field] {
        if !part.is_empty() {
            out.push_str(part);
            out.push_str(": ");
        }
    }
    out
}

/// Serde writes field names in backticks; our messages quote names with double quotes.
/// Other messages (e.g. "invalid type: integer `5`") keep serde's wording.
fn tidy(message: &str) -> String {
    let message = message.trim();
    if [
        "unknown field",
        "missing field",
        "unknown variant",
        "duplicate field",
    ]
    .iter()
    .any(|p| message.starts_with(p))
    {
        message.replace('`', "\"")
    } else {
        message.to_owned()
    }
}

/// Displays a serde_json error with [`tidy`] quoting, without allocating a variant string.
struct Tidy<'a>(&'a serde_json::Error);

impl fmt::Display for Tidy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tidy(&self.0.to_string()))
    }
}

fn at(location: &Option<(usize, usize)>) -> String {
    match location {
        Some((line, column)) => format!(" (line {line}, column {column})"),
        None => String::new(),
    }
}

/// `"a", "b", "c"`.
pub(crate) fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Renders a serde path the way a `spin.toml` author reads it:
/// `component.api.source` → `component "api": source`,
/// `trigger.http[0].route` → `trigger.http[0]: route`,
/// `variables.foo.default` → `variable "foo": default`.
/// With `drop_last`, the final segment (an unknown key, which the message already
/// names) is left out.
fn describe_path(path: &serde_path_to_error::Path, drop_last: bool) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect();
    if drop_last {
        segments.pop();
    }
    let (head, rest): (String, &[String]) = match segments.as_slice() {
        [c, id, rest @ ..] if c == "component" && !id.starts_with('[') => {
            (format!("component \"{id}\""), rest)
        }
        [v, name, rest @ ..] if v == "variables" => (format!("variable \"{name}\""), rest),
        [t, kind, index, rest @ ..] if t == "trigger" && index.starts_with('[') => {
            (format!("trigger.{kind}{index}"), rest)
        }
        _ => (String::new(), segments.as_slice()),
    };
    let tail = join_segments(rest);
    match (head.is_empty(), tail.is_empty()) {
        (true, _) => tail,
        (false, true) => head,
        (false, false) => format!("{head}: {tail}"),
    }
}

/// `["a", "[0]", "b"]` → `a[0].b`.
fn join_segments(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn quoted_list_joins_with_commas() {
        assert_eq!(quoted_list(&["a", "b"]), "\"a\", \"b\"");
    }

    #[test]
    fn required_variables_error_names_every_variable_and_hints_at_the_first() {
        let err = Error::RequiredVariables {
            names: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            err.to_string(),
            "no value for required variable(s) \"a\", \"b\": set SPIN_VARIABLE_A in the environment (or pass --variable a=...)"
        );
    }

    #[test]
    fn must_understand_error_lists_the_unknown_values() {
        let err = Error::MustUnderstand {
            file: "spin.lock".into(),
            unknown: vec!["foo".into()],
        };
        assert_eq!(
            err.to_string(),
            "spin.lock: unknown must_understand \"foo\""
        );
    }

    #[test]
    fn invalid_without_file_or_field_is_just_the_problem() {
        let err = Error::invalid("", "", Problem::Empty);
        assert_eq!(err.to_string(), "must not be empty");
    }
}
