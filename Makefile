# cpcd — the two commands a newcomer needs: `make run` and `make test`.
# Both install what they need (Debian packages, the Rust build), so they work on a fresh machine.

CARGO      ?= cargo
PROFILE    := release
BIN        := $(or $(CARGO_TARGET_DIR),target)/$(PROFILE)/cpcd
# Extra flags for the dev node, e.g. `make run ARGS="--dev.block-time 0"`.
ARGS       ?=

.PHONY: run test bench fuzz deps build maxperf nvrtc clippy fmt clean-data explorer

## Install system packages the build needs (libclang for bindgen, Debian's RocksDB).
deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --$(PROFILE) --workspace --bins

## Binaries for this machine's CPU only (`-C target-cpu=native`, reth's `maxperf` idea):
## Ed25519 then uses AVX-512 IFMA where the CPU has it (curve25519-dalek compiles that
## backend only for such a target), 1.6x faster verification here. Not portable: never copy
## them to another machine. In $(NATIVE_DIR)/release/ (own target dir: the default build's
## cache stays valid).
NATIVE_DIR := $(or $(CARGO_TARGET_DIR),target)/native
maxperf: deps
	CARGO_TARGET_DIR=$(NATIVE_DIR) RUSTFLAGS="-C target-cpu=native --cfg chacha20_avx512" \
		$(CARGO) build --$(PROFILE) --workspace --bins

## Set up and run a local dev chain: cpcd --dev (JSON-RPC on 127.0.0.1:8545).
run: build
	$(BIN) --dev $(ARGS)

## Set up and run every test (unit, vectors, property, integration with real cpcd processes).
test: build
	@scripts/install-test-deps.sh
	@scripts/install-nvrtc.sh || echo "NVRTC not installed: the kernel compile test will skip"
	$(CARGO) test --$(PROFILE) --workspace --no-fail-fast

## Rebuild the explorer's front end (explorer/web -> explorer/dist, which is committed and
## embedded in cpcd; a test checks that dist is the build of the sources).
explorer:
	@scripts/install-test-deps.sh
	npm run build --prefix explorer

## Benchmarks; figures go to BENCHMARKS.md by hand with the command that made them.
bench: build
	@scripts/bench.sh

## Fuzz every decoder that takes outside bytes (cargo-fuzz, nightly) for FUZZ_SECONDS each
## (default 60; FUZZ_JOBS targets at once); RELIABILITY.md has the figures.
## `make fuzz FUZZ_SECONDS=600 FUZZ_JOBS=2`, `make fuzz FUZZ_TARGETS=tx_json`.
fuzz: deps
	@scripts/fuzz.sh

clippy:
	$(CARGO) clippy --$(PROFILE) --workspace --all-targets

## Only cpc-bft is rustfmt-formatted; the rest of the tree is not (docs/DEVELOPING.md).
fmt:
	$(CARGO) fmt -p cpc-bft
