#!/usr/bin/env bash
# Installs what kakine's demo and tests need on Debian: Open vSwitch (userspace datapath is
# enough, no kernel module), iproute2, ethtool and ping (the live agent's restart test), nftables
# (the multi-node agent's masquerade), the standard CNI plugins kakine-cni delegates to and
# chains with (host-local, portmap in /usr/lib/cni; portmap needs iptables) with nsenter
# (util-linux) to enter pods' namespaces, jq (the install-cni script), and Debian's headless Chromium (the `kakinectl graph`
# page is rendered in it by a test).
# Does nothing when all is present.
set -euo pipefail

need=()
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch)
command -v ovs-ofctl >/dev/null 2>&1 || need+=(openvswitch-common)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# The multi-node agent owns a masquerade rule (nftables) in its node.
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
[ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/portmap ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# The agent image's install-cni script (tests/install_startup.rs runs it) edits the conflist.
command -v jq >/dev/null 2>&1 || need+=(jq)
# tests/manifests.rs renders manifests/ with `kubectl kustomize` (kustomize v5: kubectl 1.27 or
# later; Debian's kubernetes-client is too old): not installable from Debian, so only said.
command -v kubectl >/dev/null 2>&1 \
  || echo "install-deps: kubectl not found: tests/manifests.rs needs kubectl >= 1.27 on PATH" >&2
command -v chromium >/dev/null 2>&1 || command -v chromium-headless-shell >/dev/null 2>&1 \
  || need+=(chromium-headless-shell)

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found: install a Rust toolchain (https://rustup.rs), then re-run" >&2
  exit 1
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${need[*]}" >&2
  echo "install-deps: run as root (sudo make ...) or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
