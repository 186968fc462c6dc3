"""The web app and the API docs, served by the gateway from files built at install time.

`scripts/install.sh` builds `web/` (Vite) into `ui_dist/` inside this package. Vite puts
every bundle under `assets/` with a content hash in its name, so those are cached for a
year as immutable; `index.html` and the few unhashed files are `no-cache` (revalidated by
ETag each time), so a new build is picked up on the next page load. Any other path under
`/ui/` that is not a file is a client-side route (a deep link such as `/ui/runs/<id>`) and
gets `index.html`. Swagger UI's files are copied into the same build, so `/docs` works
offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from tideflow.gateway.errors import ApiError, ErrorCode

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

UI_PREFIX = "/ui"
BUILT_UI = Path(__file__).parent / "ui_dist"
"""Where `scripts/install.sh` puts the build (git-ignored, packaged into the wheel)."""

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ASSETS = "assets/"
INDEX = "index.html"

router = APIRouter(include_in_schema=False)


class SinglePageApp(StaticFiles):
    """Static files with the SPA fallback and the cache policy described above."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.root = directory

    async def check_config(self) -> None:
        """A missing build is answered per request (503 with how to build it), not a crash."""
        if self.root.is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not (self.root / INDEX).is_file():
            raise ApiError(
                503,
                ErrorCode.UNAVAILABLE,
                "the web UI is not built: run `bash scripts/install.sh` (needs Node.js and npm)",
            )
        asset = path.startswith(ASSETS)
        try:
            response = await super().get_response(path, scope)
        except HTTPException as e:
            # a missing hashed bundle is a real 404 (a stale page asking for an old build);
            # anything else is a route of the app
            if e.status_code != 404 or asset:  # noqa: PLR2004
                raise
            response = await super().get_response(INDEX, scope)
            asset = False
        response.headers["Cache-Control"] = IMMUTABLE if asset else REVALIDATE
        return response


@router.get("/")
async def root() -> RedirectResponse:
    """The web app is the front door."""
    return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI from the UI build's own copy of swagger-ui-dist (no CDN)."""
    response = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Tideflow API",
        swagger_js_url=f"{UI_PREFIX}/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{UI_PREFIX}/swagger/swagger-ui.css",
        swagger_favicon_url=f"{UI_PREFIX}/favicon.svg",
    )
    response.headers["Cache-Control"] = REVALIDATE
    return response
