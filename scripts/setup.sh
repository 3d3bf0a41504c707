#!/usr/bin/env bash
# Idempotent set-up: Debian packages (as root) and the pinned virtual environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# libusb-1.0-0 and libftdi1-2: openFPGALoader (kiln program); tcl: the Vivado script test.
APT_PACKAGES="g++ make perl iverilog liblz4-dev libusb-1.0-0 libftdi1-2 tcl"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need Debian packages:$missing (run as root, or install them yourself)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.kiln-setup
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
echo "setup: installing pinned Python packages into .venv (first time: several minutes)"
.venv/bin/pip install -q -r requirements.lock
.venv/bin/pip install -q --no-deps -e .
echo "$want" > "$stamp"
echo "setup: done"
