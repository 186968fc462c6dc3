# syntax=docker/dockerfile:1
# The image of every Tideflow service: one Dockerfile, the service chosen by build args.
# The build context is the repository root, because a service is installed from the uv
# workspace together with the libraries it uses:
#   docker build --build-arg SERVICE=scheduler --build-arg PORT=8081 -t tideflow/scheduler .
#   docker build --build-arg SERVICE=gateway --build-arg PORT=8080 --build-arg UI=web \
#       -t tideflow/gateway .
# docker-compose.yml holds the arguments of every service (tests/deploy checks them).

# Base images pinned to exact releases (a rebuild gets the same bases; bump them on purpose).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
# The same uv release that writes uv.lock, so `--locked` reads it exactly as in development.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG NODE_IMAGE=node:20.19.5-bookworm-slim
# The service (its folder under services/) and the port its settings listen on by default.
ARG SERVICE
ARG PORT
# `web` builds the web UI into the gateway package (ui_dist/, served under /ui/ and /docs);
# `none` (every other service) skips the Node stage altogether.
ARG UI=none

FROM ${UV_IMAGE} AS uv

FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npx vite build

# What the build stage copies over the sources (/out mirrors the repository): the built
# UI, or an empty folder.
FROM scratch AS ui-none
WORKDIR /out
FROM scratch AS ui-web
COPY --from=web /src/services/gateway/src/tideflow/gateway/ui_dist /out/services/gateway/src/tideflow/gateway/ui_dist
FROM ui-${UI} AS ui

# Only the workspace manifests: the dependency layer below is rebuilt when a pyproject.toml
# or uv.lock changes, not on every code change.
FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find . -depth -type d -empty -delete

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY --from=manifests /src ./
RUN test -n "${SERVICE}" && test -f "services/${SERVICE}/pyproject.toml" \
    || { echo "build with --build-arg SERVICE=<a folder of services/>" >&2; exit 1; }
# Third-party dependencies of the service and of tideflow-cli (the `tide` entry point).
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace \
        --package tideflow-${SERVICE} --package tideflow-cli
COPY . .
COPY --from=ui /out/ ./
# The workspace packages themselves, non-editable so the venv does not point into /src.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
        --package tideflow-${SERVICE} --package tideflow-cli

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PORT
RUN test -n "${PORT}" || { echo "build with --build-arg PORT=<the service's port>" >&2; exit 1; } \
    && groupadd --system --gid 10001 tideflow \
    && useradd --system --uid 10001 --gid tideflow --home-dir /app --no-create-home tideflow \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/tideflow/keys
# Owned by root and read-only for the service user: the process cannot alter its own code.
COPY --from=build /app/.venv /app/.venv
# TIDEFLOW_IMAGE_* say which service this image runs (no settings class reads them); the
# key file is where the services that seal secrets look for it (the others ignore it).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TIDEFLOW_IMAGE_SERVICE=${SERVICE} \
    TIDEFLOW_IMAGE_PORT=${PORT} \
    TIDEFLOW_SECURITY_KEY_FILE=/var/lib/tideflow/keys/kek.json
WORKDIR /app
# Numeric, so Kubernetes `runAsNonRoot` can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE ${PORT}
# python:3.11-slim has no curl; the interpreter is there anyway. Follows the service's
# TIDEFLOW_<SERVICE>_PORT when it is set, so overriding it keeps the check on the server.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; name = 'TIDEFLOW_%s_PORT' % os.environ['TIDEFLOW_IMAGE_SERVICE'].upper(); port = os.environ.get(name) or os.environ['TIDEFLOW_IMAGE_PORT']; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=2)" || exit 1
CMD exec tide serve "$TIDEFLOW_IMAGE_SERVICE" --host 0.0.0.0
