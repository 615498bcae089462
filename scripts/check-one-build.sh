#!/usr/bin/env bash
# `make test` and `make quickstart` must share one build: after either, the other compiles
# nothing. This runs the build step both share and fails if cargo compiled any crate, which
# happens when a command resolves features differently (e.g. `cargo run -p idaas`, where
# dev-dependency features such as federation/test-support are not unified in).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(${CARGO:-cargo} build --workspace --all-targets 2>&1)
if grep -q "Compiling" <<<"$out"; then
  echo "check-one-build: the quickstart build recompiled crates after the test build:" >&2
  grep "Compiling" <<<"$out" >&2
  exit 1
fi
# The test runner's build must be a no-op too (the reverse order: quickstart, then test).
if ${CARGO:-cargo} nextest --version >/dev/null 2>&1; then
  out=$(${CARGO:-cargo} nextest run --workspace --no-run 2>&1)
  if grep -q "Compiling" <<<"$out"; then
    echo "check-one-build: the test build recompiled crates after the quickstart build:" >&2
    grep "Compiling" <<<"$out" >&2
    exit 1
  fi
fi
echo "check-one-build: make test and make quickstart share one build"
