//! Keeping only some of an app's components (`SPIN_COMPONENTS_TO_RETAIN`).
//!
//! A node can run a subset of an app: the named components and the
//! triggers that use them stay, everything else is dropped before any code
//! is compiled. A retained component that chains to a dropped one (an
//! `allowed_outbound_hosts` entry `http://<id>.spin.internal`) could only
//! fail at request time, so it is refused up front.

use std::collections::HashSet;

use crate::locked::LockedApp;

/// The host suffix of service chaining (spec §3.6).
const CHAINING_SUFFIX: &str = ".spin.internal";

/// Why a subset cannot be retained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetainError {
    /// The list names no component at all.
    #[error("the list of components to retain is empty")]
    Empty,
    /// A listed id is not a component of the app.
    #[error("component \"{id}\" is not in the app (its components: {known})")]
    Unknown {
        /// The listed id.
        id: String,
        /// The app's component ids, comma-separated.
        known: String,
    },
    /// A retained component chains to one that is dropped.
    #[error("component \"{from}\" chains to component \"{to}\" ({entry}), which is not retained")]
    ChainsToDropped {
        /// The retained component.
        from: String,
        /// The dropped component it calls.
        to: String,
        /// The `allowed_outbound_hosts` entry that names it.
        entry: String,
    },
}

/// Drops every component not in `ids`, and every trigger whose component is
/// dropped. Fails on an unknown id or on chaining to a dropped component.
pub fn retain_components(app: &mut LockedApp, ids: &[&str]) -> Result<(), RetainError> {
    if ids.is_empty() {
        return Err(RetainError::Empty);
    }
    let known: Vec<&str> = app.components.iter().map(|c| c.id.as_str()).collect();
    if let Some(id) = ids.iter().find(|id| !known.contains(id)) {
        return Err(RetainError::Unknown {
            id: id.to_string(),
            known: known.join(", "),
        });
    }
    let retained: HashSet<&str> = ids.iter().copied().collect();
    for component in app
        .components
        .iter()
        .filter(|c| retained.contains(c.id.as_str()))
    {
        for entry in component.allowed_outbound_hosts() {
            if let Some(to) = chained_component(&entry) {
                if to != "*" && !retained.contains(to) {
                    return Err(RetainError::ChainsToDropped {
                        from: component.id.clone(),
                        to: to.to_string(),
                        entry: entry.clone(),
                    });
                }
            }
        }
    }
    app.components.retain(|c| retained.contains(c.id.as_str()));
    app.triggers.retain(|t| {
        t.trigger_config
            .get("component")
            .and_then(|c| c.as_str())
            .is_none_or(|c| retained.contains(c))
    });
    Ok(())
}

/// The component id in a chaining entry such as `http://api.spin.internal`.
fn chained_component(entry: &str) -> Option<&str> {
    let authority = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let host = authority.split([':', '/']).next()?;
    host.strip_suffix(CHAINING_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> LockedApp {
        LockedApp::from_json(
            json!({
                "spin_lock_version": 1,
                "triggers": [
                    {"id": "t1", "trigger_type": "http", "trigger_config": {"component": "front", "route": "/..."}},
                    {"id": "t2", "trigger_type": "http", "trigger_config": {"component": "back", "route": "/back"}},
                    {"id": "t3", "trigger_type": "http", "trigger_config": {"static_response": {"status_code": 204}, "route": "/s"}}
                ],
                "components": [
                    {"id": "front", "source": {"content_type": "application/wasm", "digest": "sha256:a"},
                     "metadata": {"allowed_outbound_hosts": ["http://back.spin.internal"]}},
                    {"id": "back", "source": {"content_type": "application/wasm", "digest": "sha256:b"}}
                ]
            })
            .to_string()
            .as_bytes(),
            "spin.lock",
        )
        .unwrap()
    }

    #[test]
    fn keeps_named_components_and_their_triggers() {
        let mut app = app();
        retain_components(&mut app, &["back"]).unwrap();
        let ids: Vec<_> = app.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["back"]);
        let triggers: Vec<_> = app.triggers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            triggers,
            ["t2", "t3"],
            "static responses have no component and stay"
        );
    }

    #[test]
    fn unknown_id_is_named() {
        let err = retain_components(&mut app(), &["back", "nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "component \"nope\" is not in the app (its components: front, back)"
        );
    }

    #[test]
    fn chaining_to_a_dropped_component_is_refused() {
        let err = retain_components(&mut app(), &["front"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "component \"front\" chains to component \"back\" (http://back.spin.internal), which is not retained"
        );
    }

    #[test]
    fn retaining_both_ends_of_a_chain_is_fine() {
        let mut app = app();
        retain_components(&mut app, &["front", "back"]).unwrap();
        assert_eq!(app.components.len(), 2);
        assert_eq!(app.triggers.len(), 3);
    }

    #[test]
    fn chained_component_parses_entries() {
        assert_eq!(chained_component("http://api.spin.internal"), Some("api"));
        assert_eq!(
            chained_component("http://api.spin.internal:80"),
            Some("api")
        );
        assert_eq!(chained_component("https://example.com"), None);
        assert_eq!(chained_component("http://*.spin.internal"), Some("*"));
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert_eq!(retain_components(&mut app(), &[]), Err(RetainError::Empty));
    }
}
