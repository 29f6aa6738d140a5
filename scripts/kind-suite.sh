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
# (default 180s).
set -uo pipefail
export LC_ALL=C # scenarios in name order
suite=${1:?usage: kind-suite.sh SUITE_DIR}
probe_timeout=${PROBE_TIMEOUT:-3}
settle=${SETTLE:-5}
ready_timeout=${READY_TIMEOUT:-180s}
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

# Runs scenario directory $1; returns 0 when every probe matched.
run_scenario() {
    local d=$1 id ok=0 n step fns fpod tns tpod port proto expect got ip
    id=$(basename "$d")
    declare -A ips=()
    for objects in "$d"/step-*-objects.yaml; do
        n=${objects##*/step-}
        n=${n%-objects.yaml}
        local applied namespaces try
        # A new namespace's `default` ServiceAccount appears a moment after it: pods that run
        # as it are refused until then, so the apply is tried again.
        for try in 1 2 3 4 5; do
            applied=$(kubectl apply -f "$objects" -o name) && break
            applied=
            sleep "$try"
        done
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
    kubectl delete -f "$d/step-1-objects.yaml" --ignore-not-found --wait=true \
        --timeout="$ready_timeout" >/dev/null
    return "$ok"
}

for d in "$suite"/*/; do
    d=${d%/}
    id=$(basename "$d")
    if [ -f "$d/unsupported.txt" ]; then
        echo "$id: not run in a cluster: $(paste -sd ';' "$d/unsupported.txt")"
        not_run=$((not_run + 1))
        continue
    fi
    if run_scenario "$d"; then
        echo "$id: PASS"
        passed=$((passed + 1))
    else
        echo "$id: FAIL"
        failed=$((failed + 1))
    fi
done
echo "$not_run not run in a cluster"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
