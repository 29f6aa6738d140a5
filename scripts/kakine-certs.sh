#!/usr/bin/env bash
# The controller's serving certificate for a cluster (docs/install.md, step 2): a CA and a
# certificate for the kakine-controller Service (its DNS names and ClusterIP, which the agents
# dial), stored as the Secret kakine-controller-tls (mounted by the Deployment as
# --tls-cert-dir) and the CA as ConfigMap kakine-ca (mounted by the agents as --ca-file).
# Run after `kubectl apply -k manifests/` (the Service must exist), with kubectl's current
# context. `kakine-controller certs` makes the files, run from:
#   KAKINE_CONTROLLER  a kakine-controller binary (default: on PATH, else target/debug's), or
#   KAKINE_CONTROLLER_IMAGE  the controller image, with docker, when there is no binary
#                      (default localhost/kakine/kakine-controller:VERSION, what `make images`
#                      builds)
# NAMESPACE: kube-system.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ns=${NAMESPACE:-kube-system}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n 1)
image=${KAKINE_CONTROLLER_IMAGE:-localhost/kakine/kakine-controller:$version}
bin=${KAKINE_CONTROLLER:-$(command -v kakine-controller || echo "$repo/target/debug/kakine-controller")}

fail() { echo "kakine-certs: $*" >&2; exit 1; }

if ! ip=$(kubectl -n "$ns" get service kakine-controller -o jsonpath='{.spec.clusterIP}' 2>&1); then
    case $ip in
        *NotFound* | *"not found"*)
            fail "Service $ns/kakine-controller does not exist: apply the manifests first (kubectl apply -k manifests/)" ;;
        *) fail "reading Service $ns/kakine-controller: $ip" ;;
    esac
fi
[ -n "$ip" ] && [ "$ip" != None ] ||
    fail "Service $ns/kakine-controller has no ClusterIP (apply the manifests first: kubectl apply -k manifests/)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
hosts="kakine-controller,kakine-controller.$ns,kakine-controller.$ns.svc,$ip"
if [ -x "$bin" ]; then
    "$bin" certs --out "$dir" --hosts "$hosts"
elif command -v docker >/dev/null && docker image inspect "$image" >/dev/null 2>&1; then
    echo "kakine-certs: no kakine-controller binary; running $image" >&2
    chmod 777 "$dir"
    docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/out" "$image" \
        certs --out /out --hosts "$hosts"
else
    fail "no kakine-controller: build it (cargo build --bin kakine-controller), set KAKINE_CONTROLLER=PATH, or build the image (make images) for docker to run"
fi
kubectl -n "$ns" create secret generic kakine-controller-tls \
    --from-file=tls.crt="$dir/tls.crt" --from-file=tls.key="$dir/tls.key" \
    --from-file=ca.crt="$dir/ca.crt" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" create configmap kakine-ca --from-file=ca.crt="$dir/ca.crt" \
    --dry-run=client -o yaml | kubectl apply -f -
echo "kakine-certs: Secret $ns/kakine-controller-tls and ConfigMap $ns/kakine-ca for $ip"
