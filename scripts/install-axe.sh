#!/usr/bin/env bash
# Installs axe-core, the accessibility checker the real-browser test runs in every page it
# visits (idaas/tests/it/browser.rs), from the npm registry into the target directory, once
# per pinned version: <target>/axe-core/axe.min.js. The tarball's SHA-512 is pinned (the same
# digest as the registry's `dist.integrity`). Needs npm (installed from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.14.1
SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
DIR="${IDAAS_AXE_DIR:-${CARGO_TARGET_DIR:-target}/axe-core}"
STAMP="$DIR/.version"

if [ -f "$DIR/axe.min.js" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$VERSION" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-axe: npm is missing; run as root, or install it: sudo apt-get install -y npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "install-axe: fetching axe-core $VERSION into $DIR" >&2
(cd "$tmp" && npm pack --silent "axe-core@$VERSION" >/dev/null)
tgz="$tmp/axe-core-$VERSION.tgz"
got="$(sha512sum "$tgz" | cut -d' ' -f1)"
if [ "$got" != "$SHA512" ]; then
  echo "install-axe: axe-core-$VERSION.tgz has SHA-512 $got, expected $SHA512" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/axe.min.js package/LICENSE
mkdir -p "$DIR"
mv "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$DIR/"
echo "$VERSION" > "$STAMP"
