//! Composing a component with its `[component.x.dependencies]` (spec
//! §1.2), so the host compiles and links one component as Spin does.
//!
//! Each dependency is instantiated inside the composition and plugs the
//! imports its name matches (a plain name, a package, an interface, a
//! version: [`DependencyName::matches_import`]) with its export of the
//! same name, or with the export the manifest names. What a dependency
//! imports itself stays an import of the result, shared with the
//! component's own import of the same name.
//!
//! Spin wraps a dependency that does not inherit its parent's
//! configuration in a deny adapter, so its capability imports answer
//! "nothing" or "denied". Here the host answers them that way: each such
//! import of the dependency is renamed to a `spinshim-denied:` import of
//! the composition, which [`crate::host::denied`] serves. Nothing is
//! granted that the manifest did not grant.

use std::collections::{BTreeMap, HashSet};

use anyhow::{anyhow, bail, Context as _, Result};
use spinshim_app::dependencies::{capability_group, DependencyName, InheritConfiguration};
use wac_graph::types::{ItemKind, Package, SubtypeChecker, WorldId};
use wac_graph::{CompositionGraph, EncodeOptions, ImportError, NodeId};

use crate::host::denied::denied_name;

/// One dependency, its Wasm read (and made a component).
pub struct Dependency<'a> {
    /// Its key in the manifest / lock.
    pub key: &'a str,
    /// The export to plug the matched imports with, if not their own name.
    pub export: Option<&'a str>,
    /// The capability groups it inherits.
    pub inherit: &'a InheritConfiguration,
    /// Its component binary.
    pub component: Vec<u8>,
}

/// A dependency in the graph.
struct Instantiated<'a> {
    key: &'a str,
    export: Option<&'a str>,
    world: WorldId,
    node: NodeId,
}

/// `component` (of app component `id`) with `dependencies` plugged into
/// its imports, as one component binary.
pub fn compose(id: &str, component: Vec<u8>, dependencies: Vec<Dependency<'_>>) -> Result<Vec<u8>> {
    let what = format!("component \"{id}\"");
    let mut graph = CompositionGraph::new();
    let (root_world, root) = instantiate(&mut graph, "spinshim:root", component)
        .with_context(|| format!("{what}: reading it for composition"))?;
    let imports: Vec<String> = graph.types()[root_world].imports.keys().cloned().collect();

    let mut plugs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut instantiated = Vec::new();
    for (index, dependency) in dependencies.into_iter().enumerate() {
        let name = DependencyName::parse(dependency.key)
            .map_err(|e| anyhow!("{what}: dependency \"{}\": {e}", dependency.key))?;
        let matched: Vec<&String> = imports.iter().filter(|i| name.matches_import(i)).collect();
        if matched.is_empty() {
            bail!(
                "{what}: dependency \"{}\" matches none of its imports ({})",
                dependency.key,
                imports.join(", ")
            );
        }
        let package = format!("spinshim:dependency{index}");
        let (world, node) = instantiate(&mut graph, &package, dependency.component)
            .with_context(|| format!("{what}: dependency \"{}\"", dependency.key))?;
        deny_uninherited_capabilities(
            &what,
            &mut graph,
            (world, node),
            dependency.key,
            dependency.inherit,
        )?;
        for import in matched {
            plugs.entry(import.clone()).or_default().push(index);
        }
        instantiated.push(Instantiated {
            key: dependency.key,
            export: dependency.export,
            world,
            node,
        });
    }

    let mut cache = HashSet::new();
    for (import, by) in &plugs {
        let [index] = by.as_slice() else {
            let keys: Vec<&str> = by.iter().map(|i| instantiated[*i].key).collect();
            bail!(
                "{what}: its import {import} is matched by several dependencies: {}",
                keys.join(", ")
            );
        };
        let dependency = &instantiated[*index];
        let export = dependency.export.unwrap_or(import);
        let Some(export_kind) = graph.types()[dependency.world].exports.get(export).copied() else {
            bail!(
                "{what}: dependency \"{}\" does not export {export}, which its import {import} \
                 needs",
                dependency.key
            );
        };
        let import_kind = graph.types()[root_world].imports[import.as_str()];
        SubtypeChecker::new(&mut cache)
            .is_subtype(export_kind, graph.types(), import_kind, graph.types())
            .map_err(|e| {
                anyhow!(
                    "{what}: dependency \"{}\" exports {export} with a type its import {import} \
                     cannot take: {e:#}",
                    dependency.key
                )
            })?;
        let plug = graph
            .alias_instance_export(dependency.node, export)
            .with_context(|| format!("{what}: dependency \"{}\": {export}", dependency.key))?;
        graph
            .set_instantiation_argument(root, import, plug)
            .with_context(|| format!("{what}: plugging {import}"))?;
    }

    let exports: Vec<String> = graph.types()[root_world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph.alias_instance_export(root, &export)?;
        graph.export(node, &export)?;
    }
    graph
        .encode(EncodeOptions::default())
        .map_err(|e| anyhow!("{what}: composing it with its dependencies: {e:#}"))
}

/// Registers `component` as package `name` and instantiates it.
fn instantiate(
    graph: &mut CompositionGraph,
    name: &str,
    component: Vec<u8>,
) -> Result<(WorldId, NodeId)> {
    let package = Package::from_bytes(name, None, component, graph.types_mut())?;
    let world = package.ty();
    let package = graph.register_package(package)?;
    Ok((world, graph.instantiate(package)))
}

/// `kind` as an instance of a copy of its interface named `name`: wac
/// merges imports of one interface into one, which would hand the
/// dependency its parent's import again.
fn renamed_interface(graph: &mut CompositionGraph, kind: ItemKind, name: &str) -> ItemKind {
    let ItemKind::Instance(interface) = kind else {
        return kind;
    };
    let mut copy = graph.types()[interface].clone();
    copy.id = Some(name.to_owned());
    ItemKind::Instance(graph.types_mut().add_interface(copy))
}

/// Plugs each capability import of a dependency that it does not inherit
/// with the host's denied answer (see the module docs).
fn deny_uninherited_capabilities(
    what: &str,
    graph: &mut CompositionGraph,
    (world, node): (WorldId, NodeId),
    key: &str,
    inherit: &InheritConfiguration,
) -> Result<()> {
    let imports: Vec<(String, ItemKind)> = graph.types()[world]
        .imports
        .iter()
        .map(|(name, kind)| (name.clone(), *kind))
        .collect();
    for (import, kind) in imports {
        let Some(group) = capability_group(&import) else {
            continue;
        };
        if inherit.inherits(group) {
            continue;
        }
        let Some(denied) = denied_name(&import) else {
            continue;
        };
        let kind = renamed_interface(graph, kind, &denied);
        let plug = match graph.import(denied.as_str(), kind) {
            Ok(plug) => plug,
            Err(ImportError::ImportAlreadyExists { node, .. }) => node,
            Err(err) => return Err(anyhow!("{what}: denying {import}: {err:#}")),
        };
        graph
            .set_instantiation_argument(node, &import, plug)
            .with_context(|| format!("{what}: dependency \"{key}\": denying {import}"))?;
    }
    Ok(())
}
