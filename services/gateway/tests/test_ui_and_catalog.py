"""The web app's serving (cache policy, SPA fallback, redirects, offline docs) and the
routes the builder uses (node types, live validation), over an in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tideflow.bus import InMemoryBus
from tideflow.core.nodes import NODE_TYPES
from tideflow.gateway import GatewaySettings
from tideflow.gateway.app import create_app
from tideflow.store import InMemoryEventStore

pytestmark = pytest.mark.unit

TOKEN = "ui-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INDEX = "<!doctype html><title>Tideflow</title><div id=root></div>"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


async def _client(ui_dir: Path) -> httpx.AsyncClient:
    settings = GatewaySettings(admin_token=SecretStr(TOKEN), ui_dir=ui_dir)
    app = create_app(settings=settings, store=InMemoryEventStore(), bus=InMemoryBus())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.fixture
async def client(built: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(built) as c:
        yield c


async def test_root_and_bare_prefix_redirect_to_the_app(client):
    root = await client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"
    bare = await client.get("/ui")
    assert bare.status_code in {307, 308}
    assert bare.headers["location"].endswith("/ui/")


async def test_index_is_revalidated_and_hashed_assets_are_immutable(client):
    index = await client.get("/ui/")
    assert index.status_code == 200
    assert index.text == INDEX
    assert index.headers["cache-control"] == "no-cache"
    assert index.headers["etag"]
    again = await client.get("/ui/", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304

    asset = await client.get("/ui/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    icon = await client.get("/ui/favicon.svg")
    assert icon.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/ui/login", "/ui/runs/0b6c1234", "/ui/workflows/a.b-c/x"])
async def test_deep_links_get_the_app(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"


async def test_a_missing_asset_is_a_404_not_the_app(client):
    response = await client.get("/ui/assets/index-old999.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_no_path_escapes_the_build(client):
    response = await client.get("/ui/..%2f..%2fpyproject.toml")
    assert "tideflow" not in response.text.lower() or response.text == INDEX


async def test_an_unbuilt_app_says_how_to_build_it(tmp_path):
    async with await _client(tmp_path / "missing") as c:
        response = await c.get("/ui/")
    assert response.status_code == 503
    assert "scripts/install.sh" in response.json()["error"]["message"]


async def test_docs_load_swagger_from_the_build_not_a_cdn(client):
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/ui/swagger/swagger-ui-bundle.js" in docs.text
    assert "/ui/swagger/swagger-ui.css" in docs.text
    assert "cdn" not in docs.text.lower()


async def test_node_types_carry_every_type_with_its_config_schema(client):
    assert (await client.get("/node-types")).status_code == 401
    body = (await client.get("/node-types", headers=AUTH)).json()
    types = {item["type"]: item for item in body["items"]}
    builtin = {name for name, item in types.items() if item["source"] == "builtin"}
    assert builtin == set(NODE_TYPES)
    # the workspace installs the sample plugin: its types are listed with their origin
    slugify = types["example.slugify"]
    assert (slugify["runs"], slugify["source"]) == ("inline", "tideflow-example-plugin")
    assert slugify["configSchema"]["required"] == ["text"]
    assert types["example.digest"]["runs"] == "worker"
    assert types["http"]["runs"] == "worker"
    assert body["failures"] == []
    http = types["http"]["configSchema"]
    assert http["required"] == ["url"]
    assert "GET" in http["properties"]["method"]["enum"]
    assert types["condition"]["branches"] is True
    assert types["condition"]["whenValues"] == ["false", "true"]
    assert types["log"]["branches"] is False
    common = body["nodeSchema"]["properties"]
    assert {"retry", "timeout", "queue", "compensate", "join"} <= set(common)


async def test_validation_reports_every_problem_without_storing(client):
    document = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "draft"},
        "spec": {
            "nodes": [
                {"id": "a", "type": "log", "config": {"message": "hi"}},
                {"id": "b", "type": "nope"},
            ],
            "edges": [{"from": "a", "to": "ghost"}],
        },
    }
    body = (await client.post("/definitions/validate", json=document, headers=AUTH)).json()
    assert body["valid"] is False
    codes = {p["code"] for p in body["problems"]}
    assert {"UNKNOWN_NODE_TYPE", "DANGLING_EDGE"} <= codes
    assert any(p["path"].startswith("spec.nodes[1]") for p in body["problems"])
    by_code = {p["code"]: p for p in body["problems"]}
    assert by_code["UNKNOWN_NODE_TYPE"]["node"] == "b"  # as docs/api.md promises
    assert (await client.get("/workflows/draft", headers=AUTH)).status_code == 404

    document["spec"] = {"nodes": [{"id": "a", "type": "log", "config": {"message": "hi"}}]}
    ok = (await client.post("/definitions/validate", json=document, headers=AUTH)).json()
    assert ok == {"valid": True, "problems": []}
