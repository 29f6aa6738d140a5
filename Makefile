# kakine: `make demo` shows the product, `make test` runs every test (what CI runs).
SHELL := /bin/bash
CARGO ?= cargo
RUNDIR ?= run/ovs
# Where cargo puts the binaries (follows CARGO_TARGET_DIR when it is set).
BIN := $(or $(CARGO_TARGET_DIR),target)/debug
DEMO_FLAGS := $(if $(filter 1,$(KEEP)),--keep) $(if $(filter 1,$(EXPLAIN)),--explain)

.PHONY: all deps build demo demo-clean test test-ovs proptest golden lint bench check-root

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --bins

check-root:
	@if [ "$$(id -u)" -ne 0 ]; then echo "this needs root (network namespaces, veths): run it with sudo" >&2; exit 1; fi

## The standalone demo: sandbox OVS in ./run, pods as netns, kakine-agent, flows, reachability.
demo: check-root build
	$(BIN)/kakinectl demo examples --rundir $(RUNDIR) $(DEMO_FLAGS)

## Stop what `make demo KEEP=1` left running.
demo-clean:
	$(BIN)/kakinectl demo examples --rundir $(RUNDIR) --clean

## Every test: unit, golden bytes, OVSDB against ovsdb-server, OpenFlow and end to end against
## ovs-vswitchd with real traffic between network namespaces.
test: check-root deps
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace -- --test-threads=2

## Scenarios on a real OVS (trace and traffic) and 100 random differential cases on OVS.
test-ovs: check-root deps
	$(CARGO) build --workspace --bins
	$(CARGO) test --test scenarios_ovs -- --test-threads=2
	OVS_DIFFERENTIAL_CASES=$${OVS_DIFFERENTIAL_CASES:-100} $(CARGO) test --test differential real_ovs -- --nocapture

## The whole scenario corpus across a 3-node lab with real traffic (make test runs a sample).
.PHONY: test-cluster
test-cluster: check-root deps
	$(CARGO) build --workspace --bins
	$(CARGO) test --test cluster -- --include-ignored --test-threads=1 --nocapture

## The differential property test with many more random cases than `make test` runs.
proptest:
	PROPTEST_CASES=$${PROPTEST_CASES:-20000} $(CARGO) test --test differential -- --nocapture

## Compile benchmark on Antrea-style shapes (10k pods, 1k policies); figures in docs/benchmarks.md.
bench:
	$(CARGO) bench --bench compile

## Grouping benchmark on Antrea's controller benchmark shapes (groups, spans, internal policies,
## incremental updates, one node's view); figures in docs/benchmarks.md.
.PHONY: bench-grouping
bench-grouping:
	$(CARGO) bench --bench grouping

## Controller benchmark: every node's span and event -> delta fan-out with 100 and 1,000
## agents on Antrea's shapes (figures in docs/benchmarks.md).
.PHONY: bench-controller
bench-controller:
	$(CARGO) bench --bench controller

## Agent benchmarks on a sandbox OVS (install rate vs ovs-ofctl, realization latency, RSS and
## restart at ~100k flows); figures in docs/benchmarks.md. Needs root.
.PHONY: bench-agent
bench-agent: check-root deps
	$(CARGO) bench --bench agent

## Node-lab benchmarks (policy change until committed on 3 and 10 nodes; cross-node TCP
## throughput and latency vs plain forwarding); figures in docs/benchmarks.md. Needs root.
.PHONY: bench-cluster
bench-cluster: check-root deps
	$(CARGO) build --workspace --bins
	$(CARGO) bench --bench cluster

## CNI benchmark: kakine-cni ADD to pod reachable under its policy, p50/p99 over PODS pods
## (default 50) on a node netns with its own OVS; figures in docs/benchmarks.md. Needs root.
.PHONY: bench-cni
bench-cni: check-root deps
	$(CARGO) bench --bench cni -- $(PODS)

## Regenerate the OpenFlow and pipeline golden files from OVS's own encoder.
golden:
	bash openflow/scripts/gen-golden.sh
	bash scripts/gen-pipeline-golden.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## OpenFlow codec throughput vs rovs-openflow, allocations per match field; figures in docs/benchmarks.md.
.PHONY: bench-openflow fuzz
bench-openflow:
	$(CARGO) bench -p openflow --bench codec

## Fuzz the message decoder and the flow text parser, FUZZ_SECONDS each (needs `cargo install cargo-fuzz`).
FUZZ_SECONDS ?= 180
fuzz:
	cd openflow/fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run decode_message -- -max_total_time=$(FUZZ_SECONDS)
	cd openflow/fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run parse_flow -- -max_total_time=$(FUZZ_SECONDS)

## manifests/kakine.yaml from the kustomize base (`kubectl apply -k manifests/` takes the base
## itself); tests/manifests.rs fails when it is stale.
.PHONY: manifests
manifests:
	bash scripts/manifests.sh

## The agent and controller images (Debian slim, Open vSwitch from Debian), tagged with the crate
## version, built from Cargo.lock (--locked). Needs docker. Named $(IMAGE_PREFIX)/kakine-agent and
## $(IMAGE_PREFIX)/kakine-controller: the default `localhost/kakine` is the manifests' default and
## never pulls from a registry (kind load takes it); set your registry with
## `make images IMAGE_PREFIX=registry.example.com/kakine` and `kustomize edit set image`
## (docs/install.md). RUST_IMAGE and DEBIAN_IMAGE pin the base images (name@sha256:...).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE_PREFIX ?= localhost/kakine
IMAGE_BUILD_ARGS = $(if $(RUST_IMAGE),--build-arg RUST_IMAGE=$(RUST_IMAGE)) \
	$(if $(DEBIAN_IMAGE),--build-arg DEBIAN_IMAGE=$(DEBIAN_IMAGE))
.PHONY: images
images:
	docker build $(IMAGE_BUILD_ARGS) -f images/agent/Dockerfile -t $(IMAGE_PREFIX)/kakine-agent:$(VERSION) .
	docker build $(IMAGE_BUILD_ARGS) -f images/controller/Dockerfile -t $(IMAGE_PREFIX)/kakine-controller:$(VERSION) .

## kakinectl as the kubectl plugin `kubectl kakine` (kubectl runs `kubectl-kakine` from PATH):
## installs kakinectl into $(PREFIX)/bin with the link kubectl-kakine beside it.
PREFIX ?= /usr/local
.PHONY: install-plugin
install-plugin:
	$(CARGO) build --release --bin kakinectl
	install -D -m 755 $(or $(CARGO_TARGET_DIR),target)/release/kakinectl $(PREFIX)/bin/kakinectl
	ln -sf kakinectl $(PREFIX)/bin/kubectl-kakine

## End to end in kind (needs docker, kind, kubectl; not here): a cluster without its default CNI,
## the images built and loaded, the manifests applied, then the upstream NetworkPolicy e2e, the
## network-policy-api conformance (ANP/BANP) and kakine's scenarios with pods. Prints
## `N passed, N failed`; logs of every component kept under $(E2E_OUT) on failure.
E2E_OUT ?= run/e2e-kind
.PHONY: e2e-kind
e2e-kind:
	E2E_OUT=$(E2E_OUT) VERSION=$(VERSION) bash scripts/e2e-kind.sh
