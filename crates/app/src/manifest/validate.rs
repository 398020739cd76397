//! One rule per function: ids, labels, variables and templates.

use indexmap::IndexMap;

use super::v2::VariableDef;
use crate::error::{Error, Problem, Result};
use crate::template::Template;
use crate::variables::validate_variable_name;

/// Kebab-case: words separated by single `-`; each word starts with a letter, has only
/// ASCII letters and digits, and is all lower-case or all upper-case.
pub(crate) fn is_kebab_id(id: &str) -> std::result::Result<(), &'static str> {
    if id.is_empty() {
        return Err("must not be empty");
    }
    for word in id.split('-') {
        if word.is_empty() {
            return Err("words must be separated by a single '-' with no leading or trailing '-'");
        }
        if !word.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("only ASCII letters, digits and '-' are allowed");
        }
        if !word.as_bytes()[0].is_ascii_alphabetic() {
            return Err("each word must start with a letter");
        }
        let lower = word.bytes().any(|b| b.is_ascii_lowercase());
        let upper = word.bytes().any(|b| b.is_ascii_uppercase());
        if lower && upper {
            return Err("a word must be all lower-case or all upper-case");
        }
    }
    Ok(())
}

/// A component id key.
pub(crate) fn component_id(file: &str, id: &str) -> Result<()> {
    is_kebab_id(id).map_err(|reason| {
        Error::invalid(
            file,
            format!("component \"{id}\""),
            Problem::InvalidComponentId {
                id: id.to_owned(),
                reason,
            },
        )
    })
}

/// A key-value store or SQLite database label: kebab- or snake-case, lower-case.
pub(crate) fn label(file: &str, field: &str, label: &str) -> Result<()> {
    let kebab = is_kebab_id(label).is_ok() && !label.bytes().any(|b| b.is_ascii_uppercase());
    if kebab || validate_variable_name(label).is_ok() {
        Ok(())
    } else {
        Err(Error::invalid(
            file,
            field,
            Problem::InvalidLabel {
                label: label.to_owned(),
            },
        ))
    }
}

/// `[variables]`: valid names, and exactly one of a default or `required = true`.
pub(crate) fn app_variables(file: &str, variables: &IndexMap<String, VariableDef>) -> Result<()> {
    for (name, v) in variables {
        let field = format!("variable \"{name}\"");
        validate_variable_name(name).map_err(|e| Error::invalid(file, field.clone(), e))?;
        match (v.default.is_some(), v.required) {
            (false, false) => {
                return Err(Error::invalid(file, field, Problem::VariableWithoutDefault))
            }
            (true, true) => {
                return Err(Error::invalid(
                    file,
                    field,
                    Problem::VariableDefaultAndRequired,
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a template whose references must all be app variables.
pub(crate) fn template(
    file: &str,
    field: &str,
    text: &str,
    variables: &IndexMap<String, VariableDef>,
) -> Result<Template> {
    let t = Template::parse(text).map_err(|e| Error::invalid(file, field, e))?;
    if let Some(unknown) = t.references().find(|r| !variables.contains_key(*r)) {
        return Err(Error::invalid(
            file,
            field,
            Problem::UnknownAppVariable {
                name: unknown.to_owned(),
            },
        ));
    }
    Ok(t)
}

/// Renders a template with the manifest defaults; `None` if some reference has none.
pub(crate) fn render_with_defaults(
    t: &Template,
    variables: &IndexMap<String, VariableDef>,
) -> Option<String> {
    t.render(|name| variables.get(name)?.default.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_ids_follow_the_rules() {
        for ok in ["a", "api", "my-api", "API", "MY-api", "a1-b2"] {
            assert_eq!(is_kebab_id(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "must not be empty"),
            (
                "a--b",
                "words must be separated by a single '-' with no leading or trailing '-'",
            ),
            (
                "-a",
                "words must be separated by a single '-' with no leading or trailing '-'",
            ),
            (
                "a-",
                "words must be separated by a single '-' with no leading or trailing '-'",
            ),
            ("my_api", "only ASCII letters, digits and '-' are allowed"),
            ("1a", "each word must start with a letter"),
            ("a-2b", "each word must start with a letter"),
            ("myApi", "a word must be all lower-case or all upper-case"),
        ];
        for (id, reason) in cases {
            assert_eq!(is_kebab_id(id), Err(reason), "{id}");
        }
    }

    #[test]
    fn labels_may_be_kebab_or_snake_case() {
        for ok in ["default", "my-store", "my_store", "a1"] {
            assert!(label("f", "x", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            label("spin.toml", "component \"a\": key_value_stores", "My Store").unwrap_err().to_string(),
            "spin.toml: component \"a\": key_value_stores: invalid label \"My Store\": use lower-case letters, digits and '-' or '_' between words, starting with a letter"
        );
    }
}
