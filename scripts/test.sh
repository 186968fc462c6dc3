#!/usr/bin/env bash
# Installs everything and runs the whole test suite: lint, types, layer check, unit,
# contract and integration tests against the real Kafka, Postgres and Redis it starts.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m unit`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh --with-test-deps
export PATH="$PWD/.venv/bin:$PATH"

echo "== lint and types"
ruff check .
ruff format --check .
mypy

echo "== infrastructure"
tide infra up
trap 'tide infra down' EXIT
set -a
eval "$(tide infra env)"
set +a

echo "== tests"
pytest "$@"
