//! Templates: literal text mixed with `{{ variable }}` references.
//!
//! Spin uses them in component `variables`, `allowed_outbound_hosts` and Redis
//! `address`/`channel` (never in `environment`). An expression is trimmed and must be
//! a valid application variable name; there are no filters, defaults or nesting.
//!
//! ```
//! use spinshim_app::template::Template;
//! let t = Template::parse("https://{{ host }}:{{port}}").unwrap();
//! assert_eq!(t.references().collect::<Vec<_>>(), ["host", "port"]);
//! let out = t.render(|name| Some(if name == "host" { "example.com".into() } else { "443".into() }));
//! assert_eq!(out.as_deref(), Some("https://example.com:443"));
//! ```

use crate::variables::{validate_variable_name, InvalidName};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` without a matching `}}`.
    #[error("unclosed \"{{{{\" in \"{template}\"")]
    Unclosed {
        /// The whole template.
        template: String,
    },
    /// The text between `{{` and `}}` is not a valid variable name.
    #[error("invalid template expression \"{{{{{expression}}}}}\": {source}")]
    InvalidExpression {
        /// The trimmed expression.
        expression: String,
        /// Which naming rule it breaks.
        #[source]
        source: InvalidName,
    },
}

impl Template {
    /// Parses `text`. `}}` without an opening `{{` is literal text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
                template: text.to_owned(),
            })?;
            let expression = after[..end].trim();
            validate_variable_name(expression).map_err(|source| {
                TemplateError::InvalidExpression {
                    expression: expression.to_owned(),
                    source,
                }
            })?;
            parts.push(Part::Variable(expression.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The variable names referenced, in order (repeats included).
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// True when the template has no references.
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// Renders the template, asking `lookup` for each reference.
    ///
    /// Returns `None` as soon as a reference is unresolved, so a caller can tell
    /// "cannot decide yet" (e.g. a required variable at load time) from a result.
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(&lookup(name)?),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_renders_unchanged() {
        for text in ["", "plain", "a } b", "x }} y"] {
            let t = Template::parse(text).unwrap();
            assert!(t.is_literal(), "{text}");
            assert_eq!(t.render(|_| None).as_deref(), Some(text));
        }
    }

    #[test]
    fn references_are_trimmed_and_in_order() {
        let t = Template::parse("{{a}}-{{  b_c  }}-{{a}}").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), ["a", "b_c", "a"]);
        let out = t.render(|n| Some(n.to_uppercase()));
        assert_eq!(out.as_deref(), Some("A-B_C-A"));
    }

    #[test]
    fn an_unresolved_reference_renders_as_none() {
        let t = Template::parse("x{{ a }}y{{ b }}").unwrap();
        assert_eq!(t.render(|n| (n == "a").then(|| "1".to_owned())), None);
    }

    #[test]
    fn unclosed_braces_are_an_error() {
        let err = Template::parse("abc {{ foo").unwrap_err();
        assert_eq!(err.to_string(), "unclosed \"{{\" in \"abc {{ foo\"");
    }

    #[test]
    fn an_invalid_expression_is_an_error() {
        let err = Template::parse("{{ Foo-bar }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid template expression \"{{Foo-bar}}\": invalid variable name \"Foo-bar\": only lower-case letters, digits and '_' are allowed"
        );
        assert!(Template::parse("{{}}").is_err());
    }
}
