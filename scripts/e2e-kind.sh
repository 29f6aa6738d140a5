#!/usr/bin/env bash
# kakine end to end in kind (`make e2e-kind`; docs/install.md, "End to end in kind").
# Needs docker, kind, kubectl, jq, cargo (kakine-controller certs, kakinectl kind-suite render),
# go (the network-policy-api conformance) and, for the suites:
#   E2E_TEST   the upstream Kubernetes e2e binary `e2e.test` (kubernetes-test tarball of the
#              cluster's version): its NetworkPolicy specs run
#   NPAPI_DIR  a checkout of kubernetes-sigs/network-policy-api at a release (its CRDs are
#              installed from config/crd/standard and its conformance suite runs with go)
# A suite whose input is not given is counted as failed (nothing is skipped silently).
# kakine's own scenario corpus (tests/cases, tests/scenarios) always runs: scripts/kind-suite.sh;
# KIND_SUITE_IMAGE overrides its agnhost image (a mirror, for clusters without registry.k8s.io).
# Prints `N passed, N failed` (suites' test cases) last, also when the set-up fails (then
# `0 passed, 1 failed`); on a failure keeps the logs of every kakine container, the objects and
# `kind export logs` under E2E_OUT (default run/e2e-kind). KEEP=1 leaves the cluster up.
# The cluster's credentials go to E2E_OUT/kubeconfig (exported as KUBECONFIG for this run
# only): the user's kubeconfig and its current context are never changed.
set -uo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-kakine-e2e}
out=${E2E_OUT:-run/e2e-kind}
version=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)}
prefix=localhost/kakine # the manifests' image names (manifests/kustomization.yaml)
passed=0
failed=0
mkdir -p "$out"
export KUBECONFIG=$(cd "$out" && pwd)/kubeconfig

log() { echo "e2e-kind: $*" >&2; }
need() { command -v "$1" >/dev/null || { log "$1 is not installed"; exit 2; }; }
need docker
need kind
need kubectl
need jq
need cargo

collect() {
    log "collecting logs into $out"
    kubectl get all,cm,ds,lease -A -o wide >"$out/objects.txt" 2>&1
    kubectl -n kube-system describe pods -l app.kubernetes.io/part-of=kakine >"$out/describe.txt" 2>&1
    for p in $(kubectl -n kube-system get pods -l app.kubernetes.io/part-of=kakine -o name); do
        for c in $(kubectl -n kube-system get "$p" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}'); do
            kubectl -n kube-system logs "$p" -c "$c" >"$out/${p#pod/}.$c.log" 2>&1
            kubectl -n kube-system logs "$p" -c "$c" --previous >"$out/${p#pod/}.$c.previous.log" 2>/dev/null
        done
    done
    kind export logs --name "$cluster" "$out/kind" >/dev/null 2>&1
}
# On every exit: the logs when anything failed, the summary line, the cluster deleted.
finish() {
    [ "$failed" -eq 0 ] || collect
    echo "$passed passed, $failed failed"
    if [ "${KEEP:-}" = 1 ]; then
        log "cluster kept: KUBECONFIG=$KUBECONFIG kubectl get nodes"
    else
        kind delete cluster --name "$cluster" >/dev/null 2>&1
    fi
}
trap finish EXIT
# A set-up step failed: counted as one failure; the trap collects and prints the summary.
setup_failed() {
    log "set-up failed: $*"
    failed=$((failed + 1))
    exit 1
}

# 1. A cluster with no CNI (kakine is the CNI) and the host's kernel modules visible, so the
#    ovs container can use the kernel datapath (datapathType netdev otherwise).
cat >"$out/kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
  podSubnet: 10.244.0.0/16
nodes:
  - role: control-plane
    extraMounts: [{hostPath: /lib/modules, containerPath: /lib/modules, readOnly: true}]
  - role: worker
    extraMounts: [{hostPath: /lib/modules, containerPath: /lib/modules, readOnly: true}]
  - role: worker
    extraMounts: [{hostPath: /lib/modules, containerPath: /lib/modules, readOnly: true}]
KIND
kind delete cluster --name "$cluster" >/dev/null 2>&1
kind create cluster --name "$cluster" --config "$out/kind.yaml" --wait 0s ||
    setup_failed "kind create cluster"

# 2. The images, built from this checkout and loaded into every node (the manifests' names:
#    localhost/kakine/..., never pulled from a registry).
make images VERSION="$version" IMAGE_PREFIX="$prefix" || setup_failed "make images"
for i in kakine-agent kakine-controller; do
    kind load docker-image --name "$cluster" "$prefix/$i:$version" || setup_failed "kind load $i"
done

# 3. kakine, its certificate, and the ANP/BANP CRDs.
if [ -n "${NPAPI_DIR:-}" ]; then
    kubectl apply -f "$NPAPI_DIR/config/crd/standard" || setup_failed "the network-policy-api CRDs"
fi
kubectl apply -k manifests/ || setup_failed "kubectl apply -k manifests/"
cargo build --bin kakine-controller || setup_failed "cargo build --bin kakine-controller"
bash scripts/kakine-certs.sh || setup_failed "scripts/kakine-certs.sh"

# 4. Ready: controller, an agent per node, every node Ready (its CNI configured).
ready() {
    kubectl -n kube-system rollout status deploy/kakine-controller --timeout=300s &&
        kubectl -n kube-system rollout status ds/kakine-agent --timeout=300s &&
        kubectl wait --for=condition=Ready nodes --all --timeout=300s
}
ready || setup_failed "kakine did not become ready"

# `go test -json` events of FILE: "PASSED FAILED" counting the tests that have no subtests.
leaf_results() {
    jq -Rrn '[inputs | fromjson? | select(.Test != null and (.Action == "pass" or .Action == "fail"))]
        | (map(.Test)) as $names
        | map(select(.Test as $t | $names | any(startswith($t + "/")) | not))
        | "\(map(select(.Action == "pass")) | length) \(map(select(.Action == "fail")) | length)"' "$1"
}

# 5a. Upstream NetworkPolicy e2e: Ginkgo's "Ran N of M Specs ... X Passed | Y Failed".
if [ -n "${E2E_TEST:-}" ]; then
    "$E2E_TEST" --kubeconfig "$KUBECONFIG" --provider=skeleton \
        --ginkgo.focus='NetworkPolicy' --ginkgo.skip='Feature:SCTPConnectivity|Disruptive' \
        --ginkgo.timeout=2h >"$out/e2e-networkpolicy.log" 2>&1
    line=$(grep -Eo '[0-9]+ Passed \| [0-9]+ Failed' "$out/e2e-networkpolicy.log" | tail -n 1)
    if [ -n "$line" ]; then
        passed=$((passed + $(awk '{print $1}' <<<"$line")))
        failed=$((failed + $(awk '{print $4}' <<<"$line")))
    else
        failed=$((failed + 1))
    fi
else
    log "E2E_TEST not set: the upstream NetworkPolicy suite did not run (counted as failed)"
    failed=$((failed + 1))
fi

# 5b. network-policy-api conformance (AdminNetworkPolicy, BaselineAdminNetworkPolicy).
if [ -n "${NPAPI_DIR:-}" ]; then
    (cd "$NPAPI_DIR" && go test ./conformance -run TestConformance -timeout 2h -json \
        -args --supported-features=AdminNetworkPolicy,BaselineAdminNetworkPolicy) \
        >"$out/npapi-conformance.json" 2>"$out/npapi-conformance.stderr"
    # The test cases are the leaves: a parent (TestConformance, each suite) passes or fails
    # with its subtests and is not counted again.
    read -r p f < <(leaf_results "$out/npapi-conformance.json")
    jq -Rr 'fromjson? | .Output // empty' "$out/npapi-conformance.json" >"$out/npapi-conformance.log"
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    [ "$((${p:-0} + ${f:-0}))" -gt 0 ] || failed=$((failed + 1))
else
    log "NPAPI_DIR not set: the ANP/BANP conformance suite did not run (counted as failed)"
    failed=$((failed + 1))
fi

# 5c. kakine's scenario corpus with pods and real connections: rendered by kakinectl (checked
#     in `make test` by tests/kind_suite.rs), applied, probed and compared by kind-suite.sh.
nodes=$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}' | tr ' ' ',')
rm -rf "$out/scenarios"
if cargo run --quiet --bin kakinectl -- kind-suite render --out "$out/scenarios" \
    --nodes "$nodes" ${KIND_SUITE_IMAGE:+--image "$KIND_SUITE_IMAGE"} \
    tests/cases tests/scenarios >"$out/scenarios-render.log" 2>&1; then
    bash scripts/kind-suite.sh "$out/scenarios" >"$out/scenarios.log" 2>&1
    line=$(tail -n 1 "$out/scenarios.log")
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        failed=$((failed + 1))
    fi
else
    log "kakinectl kind-suite render failed (see $out/scenarios-render.log)"
    failed=$((failed + 1))
fi

[ "$failed" -eq 0 ]
