# idaas — the two commands of the README, plus helpers.
# `make quickstart` and `make test` both install missing system packages first and share one
# cargo profile (dev, optimised), so the tree is compiled once.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Where cargo puts the build; `make quickstart` runs the binary from there.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: all deps peers axe build test test-slow quickstart demo bench perf-report load throughput lint fmt clean-data check-one-build fuzz fuzz-build fuzz-seeds

all: build

deps:
	@bash scripts/install-deps.sh

# ONE build serves both README commands: every target of the workspace, so dev-dependency
# features (federation's test-support, …) are unified the same way whichever command runs
# first. `cargo run -p idaas` alone would resolve features differently and recompile ~36 crates.
build: deps
	$(CARGO) build --workspace --all-targets

## The third-party peers the interop tests drive (pysaml2, python3-saml, Authlib), in a
## virtual environment under the target directory (installed once per requirements version).
PEERS_VENV := $(abspath $(TARGET_DIR))/peers-venv
export IDAAS_PEERS_PYTHON := $(PEERS_VENV)/bin/python
peers:
	@IDAAS_PEERS_VENV=$(PEERS_VENV) bash scripts/install-peers.sh

## axe-core, the accessibility checker the real-browser test runs in every page (pinned
## version, from the npm registry, into the target directory).
AXE_DIR := $(abspath $(TARGET_DIR))/axe-core
export IDAAS_AXE_JS := $(AXE_DIR)/axe.min.js
axe:
	@IDAAS_AXE_DIR=$(AXE_DIR) bash scripts/install-axe.sh

## Runs every test: unit, integration (including the CLI binary, the third-party peers and
## the real-browser walk in headless Chromium), doc tests.
test: build peers axe
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast && $(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	@$(MAKE) --no-print-directory check-one-build
	@bash scripts/check-module-size.sh

## Fails if the build `make quickstart` runs would compile anything after `make test`.
check-one-build:
	@bash scripts/check-one-build.sh

## The main job: the paper's whole scenario on 127.0.0.1 (home IdP, visitor IdP, shopping and
## delivery services), until Ctrl-C. QUICKSTART_ARGS passes options, e.g. --reset or --now DATE.
quickstart: build
	$(TARGET_DIR)/debug/idaas quickstart $(QUICKSTART_ARGS)

## The scheme alone: the paper's Table 1 lifecycle as a table, then exit.
demo: build
	$(TARGET_DIR)/debug/idaas pbe demo

## Criterion benchmarks (several minutes); results under target/criterion.
bench: deps
	$(CARGO) bench -p benches

## The load harness of issue 15 (loopback only, bounded floods; figures in docs/performance.md).
load: deps
	$(CARGO) run --release --workspace --bin load

## The services under load (issue 22): throughput and p50/p95/p99 at concurrency 1, 4 and 16,
## THROUGHPUT_SECONDS per step (default 5); `make throughput ONLY=proxy` runs one scenario.
throughput: build
	$(TARGET_DIR)/debug/throughput $(ONLY)

## The exhaustive byte-flip tests of the 192/256-bit suites (#[ignore] in make test: ~2 min).
test-slow: deps
	$(CARGO) nextest run --workspace --run-ignored ignored-only -E 'package(pbe-core) and test(/^scheme::/)'

## The scheme across all four security levels, then docs/performance.md and its plot.
perf-report: deps
	$(CARGO) bench -p benches --bench pbe
	$(CARGO) run -p benches --bin report

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Coverage-guided fuzzing (cargo-fuzz + libFuzzer; fuzz/ is outside the workspace and not part
## of `make test`). Runs every target for FUZZ_SECONDS each (default 600), from the checked-in
## seeds in fuzz/corpus/<target>/; a crash stops with the reproducer in fuzz/artifacts/<target>/.
## cargo-fuzz needs nightly compiler flags (-Z sanitizer, -C passes=sancov): on the stable
## toolchain RUSTC_BOOTSTRAP=1 unlocks them. Installs cargo-fuzz when it is missing.
## FUZZ_TARGETS picks targets, FUZZ_ARGS passes libFuzzer options (e.g. -jobs=2).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= policy disclosure decrypt saml_response authn_request unseal receipt propagation pii_bundle
FUZZ_ARGS ?=
FUZZ_ENV = RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$(CURDIR)/fuzz/target

fuzz-build: deps
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(FUZZ_ENV) $(CARGO) fuzz build -O

fuzz: fuzz-build
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		mkdir -p corpus/$$t; \
		case $$t in saml_response|authn_request|propagation) dict=-dict=xml.dict;; *) dict=;; esac; \
		$(FUZZ_ENV) $(CARGO) fuzz run -O $$t corpus/$$t -- $$dict -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_ARGS); \
	done

## Regenerates the structure-aware seeds (signed responses, sealed tokens, ciphertexts, keys)
## from federation::fuzzing's fixtures, and the plain-text ones.
fuzz-seeds: deps
	$(CARGO) nextest run --workspace --run-ignored ignored-only -E 'test(=fuzz_seeds::write_fuzz_seeds)'
	bash scripts/fuzz-seeds.sh
