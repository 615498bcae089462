# idaas — the two commands of the README, plus helpers.
# `make quickstart` and `make test` both install missing system packages first and share one
# cargo profile (dev, optimised), so the tree is compiled once.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Where cargo puts the build; `make quickstart` runs the binary from there.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: all deps build test test-slow quickstart demo bench perf-report lint fmt clean-data check-one-build

all: build

deps:
	@bash scripts/install-deps.sh

# ONE build serves both README commands: every target of the workspace, so dev-dependency
# features (federation's test-support, …) are unified the same way whichever command runs
# first. `cargo run -p idaas` alone would resolve features differently and recompile ~36 crates.
build: deps
	$(CARGO) build --workspace --all-targets

## Runs every test: unit, integration (including the CLI binary), doc tests.
test: build
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast && $(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	@$(MAKE) --no-print-directory check-one-build

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

## The exhaustive byte-flip tests of the 192/256-bit suites (#[ignore] in make test: ~2 min).
test-slow: deps
	$(CARGO) nextest run -p pbe-core --test scheme --run-ignored ignored-only

## The scheme across all four security levels, then docs/performance.md and its plot.
perf-report: deps
	$(CARGO) bench -p benches --bench pbe
	$(CARGO) run -p benches --bin report

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
