//! Normalisation (spec §1.1): every trigger gets an id and every inline component is
//! hoisted into the component list, so later code sees only ids.
//!
//! 1. A trigger without an id gets `<component>-<type>-trigger`; if that is taken, or
//!    its component is inline, `<type>-trigger<N>` (N counts from 1 per type).
//! 2. An inline component becomes `<trigger-id>-component`; if that is not a valid id
//!    or is taken, or the trigger has several component specs, `inline-component<N>`.

use std::collections::HashSet;

use indexmap::IndexMap;

use super::v2::{ComponentDef, ComponentSpec, ManifestV2, StrOr};
use super::validate::is_kebab_id;
use crate::error::{Error, Problem, Result};

/// A trigger after normalisation.
#[derive(Debug)]
pub(crate) struct Trigger {
    pub trigger_type: String,
    /// Position among the triggers of its type, for error labels.
    pub index: usize,
    pub id: String,
    pub component: Option<String>,
    pub components: IndexMap<String, Vec<String>>,
    pub config: toml::Table,
}

impl Trigger {
    /// `trigger.http[0]`.
    pub fn label(&self) -> String {
        format!("trigger.{}[{}]", self.trigger_type, self.index)
    }
}

/// Assigns trigger ids and hoists inline components. Explicit trigger ids must be
/// unique.
pub(crate) fn normalize(
    file: &str,
    manifest: &mut ManifestV2,
) -> Result<(Vec<Trigger>, IndexMap<String, ComponentDef>)> {
    let mut trigger_ids = HashSet::new();
    for (trigger_type, triggers) in &manifest.trigger {
        for (index, t) in triggers.iter().enumerate() {
            if let Some(id) = &t.id {
                if !trigger_ids.insert(id.clone()) {
                    return Err(Error::invalid(
                        file,
                        format!("trigger.{trigger_type}[{index}]: id"),
                        Problem::DuplicateTriggerId { id: id.clone() },
                    ));
                }
            }
        }
    }

    let mut components = std::mem::take(&mut manifest.component);
    let mut inline_counter = 1;
    let mut out = Vec::new();
    for (trigger_type, triggers) in std::mem::take(&mut manifest.trigger) {
        let mut counter = 1;
        for (index, t) in triggers.into_iter().enumerate() {
            let id = match t.id {
                Some(id) => id,
                None => {
                    let natural = match &t.component {
                        Some(StrOr::Str(c)) => Some(format!("{c}-{trigger_type}-trigger")),
                        _ => None,
                    };
                    match natural.filter(|n| !trigger_ids.contains(n)) {
                        Some(n) => n,
                        None => loop {
                            let candidate = format!("{trigger_type}-trigger{counter}");
                            counter += 1;
                            if !trigger_ids.contains(&candidate) {
                                break candidate;
                            }
                        },
                    }
                }
            };
            trigger_ids.insert(id.clone());

            let spec_count = usize::from(t.component.is_some())
                + t.components.values().map(|v| v.0.len()).sum::<usize>();
            let mut hoist = |spec: ComponentSpec| -> String {
                match spec {
                    StrOr::Str(reference) => reference,
                    StrOr::Table(inline) => {
                        let natural = format!("{id}-component");
                        let new_id = if spec_count == 1
                            && is_kebab_id(&natural).is_ok()
                            && !components.contains_key(&natural)
                        {
                            natural
                        } else {
                            loop {
                                let candidate = format!("inline-component{inline_counter}");
                                inline_counter += 1;
                                if !components.contains_key(&candidate) {
                                    break candidate;
                                }
                            }
                        };
                        components.insert(new_id.clone(), *inline);
                        new_id
                    }
                }
            };
            let component = t.component.map(&mut hoist);
            let roles = t
                .components
                .into_iter()
                .map(|(role, specs)| (role, specs.0.into_iter().map(&mut hoist).collect()))
                .collect();
            out.push(Trigger {
                trigger_type: trigger_type.clone(),
                index,
                id,
                component,
                components: roles,
                config: t.config,
            });
        }
    }
    Ok((out, components))
}
