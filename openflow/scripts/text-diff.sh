#!/bin/sh
# Differential check of the ovs-ofctl text parsers: the openflow crate of BASE (a commit,
# default main) against the working tree's, on the golden corpora, flow texts quoted in the
# sources and tests, the parse_flow fuzz seeds, their pieces and mutations of each. Every
# reader (FlowMod for each command, parse_unchecked, Match, Action, Action::parse_list,
# parse_instructions) must give the same value or the same error. Exit 1 on a difference.
#
# Usage: openflow/scripts/text-diff.sh [BASE]   (from the repository root)
set -eu
base=${1:-main}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/base"
git -C "$root" archive "$base" Cargo.toml Cargo.lock openflow | tar -x -C "$work/base"
# The base is a crate of its own: its workspace holds only openflow, at another version so
# both can be dependencies of the check.
sed -i 's/^version = "0.1.0"/version = "0.0.1"/' "$work/base/openflow/Cargo.toml"
python3 - "$work/base/Cargo.toml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('members = [".", "openflow", "ovsdb"]', 'members = ["openflow"]')
open(p, "w").write(s[: s.index("[package]")])
PY
mkdir -p "$work/check/src"
cp "$root/openflow/scripts/text-diff.rs" "$work/check/src/main.rs"
cat > "$work/check/Cargo.toml" <<TOML
[package]
name = "text-diff"
version = "0.0.0"
edition = "2021"

[dependencies]
old = { path = "$work/base/openflow", package = "openflow" }
new = { path = "$root/openflow", package = "openflow" }

[workspace]
TOML
cat "$root"/openflow/fuzz/corpus/parse_flow/* > "$work/seeds.txt"
grep -rhoE '"[^"]*(actions=|->|resubmit|ct\(|output:|nw_src|learn\()[^"]*"' \
    "$root/openflow/src" "$root/openflow/tests" "$root/src" "$root/tests" 2>/dev/null |
    sed 's/^"//; s/"$//' | grep -v '\\' | sort -u > "$work/literals.txt"
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target} cargo run -q --manifest-path "$work/check/Cargo.toml" -- \
    "$root/openflow/tests/golden/flows.txt" "$root/openflow/tests/golden/flow_mods.txt" \
    "$work/literals.txt" "$work/seeds.txt"
