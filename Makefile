# idaas — the two commands of the README, plus helpers.
# `make quickstart` and `make test` both install missing system packages first and share one
# cargo profile (dev, optimised), so the tree is compiled once.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all deps build test quickstart bench perf-report lint fmt clean-data

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --all-targets

## Runs every test: unit, integration (including the CLI binary), doc tests.
test: deps
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast && $(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## The main job. Until the services exist this prints the paper's Table 1 lifecycle.
quickstart: deps
	$(CARGO) run -p idaas --bin idaas -- pbe demo

## Criterion benchmarks (several minutes); results under target/criterion.
bench: deps
	$(CARGO) bench -p benches --bench pbe

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
