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
# Two workers, a test file at a time each (a module's fixtures stay in one process), in
# the files' own order: the long chaos and e2e files come first, so neither worker is left
# with one at the end. Most tests wait on subprocesses, Kafka or Postgres, so two share the
# cores well. `-n 0` after it runs everything in this one process.
pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
