//! The `Cluster` documents of an input merged into one model and checked as a whole, each
//! problem and warning placed back in the file and document it came from (a large model can be
//! split, say one file per namespace or per node).

use std::path::Path;

use super::error::{Location, PolicyError};
use super::load::Parsed;
use super::model::{Cluster, PolicySet};

/// What [`gather`] made of parsed files.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The `Cluster` documents merged into one model, if there was one.
    pub cluster: Option<Cluster>,
    /// The policy objects, as given (not deduplicated).
    pub objects: PolicySet,
    /// The model's problems ([`super::sanity::check_cluster`]).
    pub errors: Vec<PolicyError>,
    /// The model's warnings ([`super::topology::warnings`]).
    pub warnings: Vec<super::lint::Warning>,
}

/// The `Cluster` documents merged into one model (nodes, namespaces and pods of each, in
/// order) with its problems ([`super::sanity::check_cluster`]) and warnings
/// ([`super::topology::warnings`]), each naming the file and the field of the document it is
/// in; and the policy objects, as given (not deduplicated).
pub fn gather<'a>(files: impl IntoIterator<Item = (&'a Path, &'a [Parsed])>) -> Gathered {
    let mut cluster: Option<Cluster> = None;
    // Per Cluster document: its file and the index of its first node and first pod in the
    // merged model.
    let mut origins: Vec<ModelOrigin> = Vec::new();
    let mut objects = PolicySet::default();
    for (path, docs) in files {
        for doc in docs {
            match doc {
                Parsed::Cluster(c) => {
                    let merged = cluster.get_or_insert_with(Cluster::default);
                    origins.push(ModelOrigin {
                        file: path,
                        first_node: merged.nodes.len(),
                        first_pod: merged.pods.len(),
                    });
                    merged.nodes.extend(c.nodes.iter().cloned());
                    merged.namespaces.extend(c.namespaces.iter().cloned());
                    merged.pods.extend(c.pods.iter().cloned());
                }
                Parsed::Object(o) => objects.push((**o).clone()),
            }
        }
    }
    let mut out = Gathered {
        objects,
        ..Gathered::default()
    };
    if let Some(c) = &cluster {
        out.errors = super::sanity::check_cluster(c)
            .into_iter()
            .map(|(field, message)| PolicyError::Field {
                at: model_location(&origins, &field),
                message,
            })
            .collect();
        out.warnings = super::topology::warnings(c)
            .into_iter()
            .map(|(field, message)| super::lint::Warning {
                at: model_location(&origins, &field),
                message,
            })
            .collect();
    }
    out.cluster = cluster;
    out
}

/// Where one `Cluster` document's part of the merged model starts.
#[derive(Debug, Clone, Copy)]
struct ModelOrigin<'a> {
    file: &'a Path,
    first_node: usize,
    first_pod: usize,
}

/// The location of `field` of the merged model (`pods[i].x`, `nodes[i].x`, or another): the
/// document holding that pod or node, and the field renumbered to the document's.
fn model_location(origins: &[ModelOrigin], field: &str) -> Location {
    let first = origins[0];
    let indexed = ["pods", "nodes"].iter().find_map(|list| {
        let rest = field.strip_prefix(list)?.strip_prefix('[')?;
        let (n, tail) = rest.split_once(']')?;
        Some((*list, n.parse::<usize>().ok()?, tail))
    });
    let (file, field) = match indexed {
        Some((list, i, tail)) => {
            let start = |o: &ModelOrigin| match list {
                "pods" => o.first_pod,
                _ => o.first_node,
            };
            // The last document starting at or before i (an earlier one when a document has
            // none of that list).
            let o = origins
                .iter()
                .rev()
                .find(|o| start(o) <= i)
                .copied()
                .unwrap_or(first);
            (o.file, format!("{list}[{}]{tail}", i - start(&o)))
        }
        None => (first.file, field.to_string()),
    };
    let mut at = Location::file(file);
    at.object = Some("Cluster".to_string());
    at.at(field)
}
