#!/usr/bin/env bash
# Installs Tideflow into .venv at the repository root (one uv workspace, locked versions).
#   bash scripts/install.sh                  the Python environment only
#   bash scripts/install.sh --with-test-deps also the system packages the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_PYTHON_DOWNLOADS=never UV_PYTHON="${UV_PYTHON:-3.11}"

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
  UV=(python3 -m uv)
fi

"${UV[@]}" sync --locked --all-packages --quiet

if [[ "${1:-}" == "--with-test-deps" ]]; then
  for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "install.sh: $tool is required (Java 17 + Maven)" >&2; exit 1; }
  done
  if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  fi
fi
