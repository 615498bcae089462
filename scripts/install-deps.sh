#!/usr/bin/env bash
# Installs the system packages the workspace needs, when any is missing.
# samael (XML signatures) links libxml2 and libxmlsec1 and generates bindings with libclang;
# the tests use the xmlsec1 command-line tool as an independent signature verifier, and start
# throwaway PostgreSQL clusters (initdb, pg_ctl, pg_dump from the Debian `postgresql` package,
# found under /usr/lib/postgresql/*/bin) for the PostgreSQL stores (issue 17).
set -euo pipefail

# curl: the TLS tests check HTTP/2 negotiation with an independent client; postgresql: the
# store suites and the scale-out tests start throwaway clusters; chromium and chromium-driver:
# the real-browser test (idaas/tests/it/browser.rs) drives headless Chromium over WebDriver.
PACKAGES=(libclang-dev libxml2-dev libxmlsec1-dev libxmlsec1-openssl pkg-config xmlsec1 curl postgresql
  chromium chromium-driver)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: missing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists: update first.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: run this as root, then try again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
