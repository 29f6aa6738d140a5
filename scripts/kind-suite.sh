#!/usr/bin/env bash
# kakine's scenario corpus in a cluster (docs/install.md, "End to end in kind"), against
# kubectl's current context; scripts/e2e-kind.sh runs it after
#   kakinectl kind-suite render --out SUITE --nodes NODE,... tests/cases tests/scenarios
# which writes, per scenario, SUITE/<id>/step-<n>-objects.yaml (namespaces, service accounts,
# agnhost pods), step-<n>-policies.yaml and probes.tsv (step, from-ns, from-pod, to-ns, to-pod,
# port, protocol, expect), or unsupported.txt. This script only applies, execs and compares:
# per scenario, per step, it applies the step's objects (the first step creates them) and
# waits for the pods, applies the step's policies, waits SETTLE seconds, runs every probe as
# `kubectl exec FROM -- /agnhost connect IP:PORT` (as the upstream NetworkPolicy e2e does:
# exit 0 allow, REFUSED reject, TIMEOUT deny), compares, and deletes the step's policies; then
# deletes the scenario's objects. A scenario passes when every probe does.
# Prints each mismatch, each scenario not run with its reasons, and last `N passed, N failed`
# (scenarios). Env: PROBE_TIMEOUT (s, default 3), SETTLE (s, default 5), READY_TIMEOUT
# (default 180s), APPLY_TIMEOUT (s, default 180: how long an apply refused because a
# namespace is still being terminated is tried again).
#
# Run it on a test cluster: some scenarios' policies are cluster-wide (ClusterNetworkPolicies
# and AdminNetworkPolicies that select every namespace, kube-system included, some of them
# Drop). Whatever way this script ends (a failure, Ctrl-C, SIGTERM), a trap deletes the
# running scenario's policies and namespaces, and before the first scenario it waits for the
# namespaces being terminated (those of the suites run before it) to be gone.
set -uo pipefail
export LC_ALL=C # scenarios in name order
suite=${1:?usage: kind-suite.sh SUITE_DIR}
probe_timeout=${PROBE_TIMEOUT:-3}
settle=${SETTLE:-5}
ready_timeout=${READY_TIMEOUT:-180s}
apply_timeout=${APPLY_TIMEOUT:-180}
passed=0
failed=0
not_run=0

log() { echo "kind-suite: $*" >&2; }

# The verdict of one connection from pod $1/$2 to $3:$4 over protocol $5.
verdict() {
    local out rc
    out=$(kubectl exec -n "$1" "$2" -- /agnhost connect "$3:$4" --timeout="${probe_timeout}s" \
        --protocol="${5,,}" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo allow
    elif grep -q REFUSED <<<"$out"; then
        echo reject
    elif grep -q TIMEOUT <<<"$out"; then
        echo deny
    else
        echo "error(${out//$'\n'/ })"
    fi
}

# Deletes every policy of scenario directory $1, then its objects (namespaces: their pods go
# with them), each file whether or not it was applied.
clean_scenario() {
    local f
    for f in "$1"/step-*-policies.yaml; do
        [ -s "$f" ] && kubectl delete -f "$f" --ignore-not-found >/dev/null 2>&1
    done
    for f in "$1"/step-*-objects.yaml; do
        [ -s "$f" ] && kubectl delete -f "$f" --ignore-not-found --wait=true \
            --timeout="$ready_timeout" >/dev/null 2>&1
    done
    return 0
}
current=
on_exit() {
    if [ -n "$current" ]; then
        log "stopped during $(basename "$current"): deleting its policies and namespaces"
        clean_scenario "$current"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kubectl apply -f $1 -o name, tried again for up to apply_timeout seconds: a new namespace's
# `default` ServiceAccount appears a moment after it, and a namespace of the same name still
# being terminated refuses objects until it is gone.
apply_retrying() {
    local deadline=$((SECONDS + apply_timeout)) out
    while :; do
        out=$(kubectl apply -f "$1" -o name 2>&1) && { echo "$out"; return 0; }
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "kubectl apply -f $1: $out"
            return 1
        fi
        sleep 2
    done
}

# Runs scenario directory $1; returns 0 when every probe matched.
run_scenario() {
    local d=$1 id ok=0 n step fns fpod tns tpod port proto expect got ip
    id=$(basename "$d")
    declare -A ips=()
    for objects in "$d"/step-*-objects.yaml; do
        n=${objects##*/step-}
        n=${n%-objects.yaml}
        local applied namespaces
        applied=$(apply_retrying "$objects") || applied=
        if [ -z "$applied" ]; then
            log "$id step $n: the objects do not apply"
            ok=1
            break
        fi
        namespaces=$(sed -n 's|^namespace/||p' <<<"$applied")
        for ns in $namespaces; do
            if ! kubectl wait --for=condition=Ready pod --all -n "$ns" --timeout="$ready_timeout" >/dev/null; then
                log "$id step $n: pods of namespace $ns not ready"
                kubectl get pods -n "$ns" -o wide >&2
                ok=1
            fi
        done
        [ "$ok" -eq 0 ] || break
        local policies="$d/step-$n-policies.yaml"
        if [ -s "$policies" ] && ! kubectl apply -f "$policies" >/dev/null; then
            log "$id step $n: the policies do not apply"
            ok=1
            break
        fi
        sleep "$settle"
        while IFS=$'\t' read -r step fns fpod tns tpod port proto expect; do
            [ "$step" = "$n" ] || continue
            ip=${ips[$tns/$tpod]:-}
            if [ -z "$ip" ]; then
                ip=$(kubectl get pod -n "$tns" "$tpod" -o jsonpath='{.status.podIP}')
                ips[$tns/$tpod]=$ip
            fi
            got=$(verdict "$fns" "$fpod" "$ip" "$port" "$proto")
            if [ "$got" != "$expect" ]; then
                echo "$id step $n: $fns/$fpod -> $tns/$tpod $port/$proto: expected $expect, got $got"
                ok=1
            fi
        done <"$d/probes.tsv"
        [ -s "$policies" ] && kubectl delete -f "$policies" --ignore-not-found >/dev/null
    done
    clean_scenario "$d"
    return "$ok"
}

# The suites run before this one delete their namespaces asynchronously: wait until none is
# terminating, so that no scenario meets a half-deleted namespace (or its policies).
terminating=$(kubectl get namespaces --no-headers 2>/dev/null | awk '$2 == "Terminating" {print "namespace/" $1}')
if [ -n "$terminating" ]; then
    log "waiting for $(wc -w <<<"$terminating") terminating namespaces to be gone"
    # shellcheck disable=SC2086
    kubectl wait --for=delete $terminating --timeout=300s >/dev/null ||
        log "namespaces still terminating after 300 s; applies are retried for ${apply_timeout} s"
fi

for d in "$suite"/*/; do
    d=${d%/}
    id=$(basename "$d")
    if [ -f "$d/unsupported.txt" ]; then
        echo "$id: not run in a cluster: $(paste -sd ';' "$d/unsupported.txt")"
        not_run=$((not_run + 1))
        continue
    fi
    current=$d
    if run_scenario "$d"; then
        echo "$id: PASS"
        passed=$((passed + 1))
    else
        echo "$id: FAIL"
        failed=$((failed + 1))
    fi
    current=
done
echo "$not_run not run in a cluster"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
