#!/usr/bin/env bash
# The controller's serving certificate for a cluster (docs/install.md, step 2): a CA and a
# certificate for the kakine-controller Service (its DNS names and ClusterIP, which the agents
# dial), stored as the Secret kakine-controller-tls (mounted by the Deployment as
# --tls-cert-dir) and the CA as ConfigMap kakine-ca (mounted by the agents as --ca-file).
# Run after `kubectl apply -k manifests/` (the Service must exist), with kubectl's current
# context. KAKINE_CONTROLLER: the kakine-controller binary (default: on PATH, else
# target/debug); NAMESPACE: kube-system.
set -euo pipefail
ns=${NAMESPACE:-kube-system}
bin=${KAKINE_CONTROLLER:-$(command -v kakine-controller || echo target/debug/kakine-controller)}
[ -x "$bin" ] || { echo "kakine-certs: $bin: no kakine-controller binary (cargo build --bin kakine-controller)" >&2; exit 1; }
ip=$(kubectl -n "$ns" get service kakine-controller -o jsonpath='{.spec.clusterIP}')
[ -n "$ip" ] || { echo "kakine-certs: Service $ns/kakine-controller has no ClusterIP (apply the manifests first)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" certs --out "$dir" \
    --hosts "kakine-controller,kakine-controller.$ns,kakine-controller.$ns.svc,$ip"
kubectl -n "$ns" create secret generic kakine-controller-tls \
    --from-file=tls.crt="$dir/tls.crt" --from-file=tls.key="$dir/tls.key" \
    --from-file=ca.crt="$dir/ca.crt" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" create configmap kakine-ca --from-file=ca.crt="$dir/ca.crt" \
    --dry-run=client -o yaml | kubectl apply -f -
echo "kakine-certs: Secret $ns/kakine-controller-tls and ConfigMap $ns/kakine-ca for $ip"
