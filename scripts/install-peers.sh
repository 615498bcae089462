#!/usr/bin/env bash
# Installs the third-party peers the interop tests drive (two SAML SP libraries and an OAuth
# client: scripts/peers/requirements.txt) into a virtual environment under the target
# directory, once per version of the requirements file. Needs python3 with venv (installed
# from Debian when missing) and the PyPI registry.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${IDAAS_PEERS_VENV:-${CARGO_TARGET_DIR:-target}/peers-venv}"
REQ=scripts/peers/requirements.txt
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ]; then
  exit 0
fi

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-peers: run as root, or install: $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@"
}

command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
rm -rf "$VENV"
if ! python3 -m venv "$VENV" 2>/dev/null; then
  apt_install python3-venv
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
echo "install-peers: installing the interop peers into $VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
echo "$want" > "$STAMP"
