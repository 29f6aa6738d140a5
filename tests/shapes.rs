//! Antrea's benchmark shapes: their counts at full scale, and small versions written as YAML,
//! loaded by the normal loader into exactly the objects generated, and resolved.

use kakine::lab::shapes::{generate, Shape, ShapeName, ShapeOptions};
use kakine::lab::shapes_yaml::write_dir;
use kakine::policy::model::Origin;
use kakine::policy::{load_dir, resolve, PolicySet};

/// (namespaces, pods, K8s policies, Antrea policies) of each shape at Antrea's scale.
fn expected(shape: ShapeName) -> (usize, usize, usize, usize) {
    match shape {
        ShapeName::XlargeSmallNs => (25_000, 100_000, 75_000, 0),
        ShapeName::XlargeLargeNs => (100, 100_000, 10_100, 0),
        ShapeName::XlargeOneNs => (1, 10_000, 10_000, 0),
        ShapeName::XlargeSmallNsAcnp | ShapeName::XlargeSmallNsAnnp => (25_000, 100_000, 0, 75_000),
    }
}

#[test]
fn every_shape_has_antreas_counts_at_full_scale() {
    for name in ShapeName::ALL {
        let shape = generate(name, &ShapeOptions::full(name));
        let counts = (
            shape.cluster.namespaces.len(),
            shape.cluster.pods.len(),
            shape.policies.k8s_policies.len(),
            shape.policies.antrea_policies.len(),
        );
        assert_eq!(counts, expected(name), "{name}");
        assert_eq!(shape.cluster.nodes.len(), 100, "{name}");
        let per_node = shape
            .cluster
            .pods
            .iter()
            .filter(|p| p.node.as_deref() == Some("node-42"))
            .count();
        assert_eq!(per_node, counts.1 / 100, "{name}: pods on node-42");
    }
}

fn without_origins(mut set: PolicySet) -> PolicySet {
    for p in &mut set.k8s_policies {
        p.origin = Origin::default();
    }
    for p in &mut set.antrea_policies {
        p.origin = Origin::default();
    }
    set
}

fn small(name: ShapeName) -> Shape {
    let units = if name == ShapeName::XlargeOneNs {
        20
    } else {
        10
    };
    generate(
        name,
        &ShapeOptions {
            nodes: 4,
            seed: 3,
            units,
        },
    )
}

#[test]
fn small_shapes_written_as_yaml_load_back_to_the_same_objects_and_resolve() {
    for name in ShapeName::ALL {
        let shape = small(name);
        let dir = tempfile::tempdir().expect("temp dir");
        write_dir(&shape, dir.path()).expect("write");
        let input = load_dir(dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(input.cluster, shape.cluster, "{name}: cluster");
        assert_eq!(
            without_origins(input.objects.clone()),
            shape.policies,
            "{name}: policies"
        );

        let resolved = resolve(&input.cluster, &input.objects).expect("resolves");
        let pods = shape.cluster.pods.len();
        match name {
            // Every pod is isolated both ways by default-deny-all.
            ShapeName::XlargeSmallNs | ShapeName::XlargeLargeNs | ShapeName::XlargeOneNs => {
                assert_eq!(resolved.isolated_ingress.len(), pods, "{name}");
                assert_eq!(resolved.isolated_egress.len(), pods, "{name}");
            }
            // Per namespace: the deny's ingress and egress rules and the two allows.
            ShapeName::XlargeSmallNsAcnp | ShapeName::XlargeSmallNsAnnp => {
                assert_eq!(resolved.rules.len(), 4 * 10, "{name}");
                assert!(resolved.isolated_ingress.is_empty(), "{name}");
            }
        }
    }
}
