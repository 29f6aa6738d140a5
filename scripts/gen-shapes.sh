#!/bin/sh
# Writes every Antrea controller benchmark shape as a standalone input directory:
#   scripts/gen-shapes.sh [OUT_DIR] [NODES]
# gives OUT_DIR/xlarge-small-ns/{cluster,policies}.yaml and so on (default OUT_DIR
# target/shapes, NODES 100). Shapes: docs/benchmarks.md; generator: src/lab/shapes.rs.
set -eu
out=${1:-target/shapes}
nodes=${2:-100}
cargo build --release --bin kakinectl
for shape in xlarge-small-ns xlarge-large-ns xlarge-one-ns xlarge-small-ns-acnp xlarge-small-ns-annp; do
    target/release/kakinectl shape "$shape" --out "$out/$shape" --nodes "$nodes"
done
