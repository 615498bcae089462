#!/usr/bin/env bash
# Fails if a source file holds more than LIMIT lines of non-test code (issue 13: one job per
# module). Non-test code = every line outside `#[cfg(test)] mod … { … }` blocks (at any
# indentation, so the test module inside a suite macro counts as tests too).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${LIMIT:-500}
status=0
while IFS= read -r f; do
  n=$(awk '
    skipping { if ($0 == indent "}") skipping = 0; next }
    pending { pending = 0; if ($0 ~ "^" indent "(pub(\\(crate\\))? )?mod [a-z_]+ \\{$") { skipping = 1; next } }
    /^[ ]*#\[cfg\(test\)\]$/ { match($0, /^[ ]*/); indent = substr($0, 1, RLENGTH); pending = 1; next }
    { c++ } END { print c + 0 }' "$f")
  if [ "$n" -gt "$LIMIT" ]; then
    echo "check-module-size: $f has $n lines of non-test code (limit $LIMIT): split it by job" >&2
    status=1
  fi
done < <(find pbe-core federation idp-home idp-visitor web-agent idaas benches service-kit fuzz \
           -path '*/target' -prune -o -name '*.rs' -path '*/src/*' -print 2>/dev/null | sort)
exit $status
