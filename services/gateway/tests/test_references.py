"""A reference to a node that does not exist, or has not run where it is read, is refused
when a definition is saved, validated or published; versions published before keep
starting runs."""

from __future__ import annotations

from typing import Any

from tideflow.gateway.errors import ErrorCode


def _typo(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "extract", "type": "transform", "config": {"value": 1}},
                {"id": "save", "type": "log", "config": {"message": "{{ nodes.extarct.output }}"}},
            ],
            "edges": [{"from": "extract", "to": "save"}],
        },
    }


async def test_save_and_validate_refuse_a_typo(gateway, kit):
    name = kit.unique()
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=_typo(name)), 422, ErrorCode.INVALID_DEFINITION
    )
    [problem] = error["details"]["problems"]
    assert (problem["code"], problem["path"], problem["node"]) == (
        "UNKNOWN_NODE_REFERENCE",
        "spec.nodes[1].config.message",
        "save",
    )
    assert "did you mean 'extract'" in problem["message"]
    validated = (await gateway.client.post("/definitions/validate", json=_typo(name))).json()
    assert [p["code"] for p in validated["problems"]] == ["UNKNOWN_NODE_REFERENCE"]


async def test_a_version_published_before_still_starts_runs_and_its_draft_is_refused(gateway, kit):
    name = kit.unique()
    await gateway.store.create_workflow(name, name, _typo(name))  # saved before the check
    await gateway.store.publish(name)  # version 1, as published then
    started = await gateway.client.post(f"/workflows/{name}/runs", json={"input": {}})
    assert started.status_code == 201, started.text
    fetched = await gateway.client.get(f"/workflows/{name}/versions/1")
    assert fetched.status_code == 200, fetched.text

    draft = _typo(name)
    draft["spec"]["nodes"][0]["config"]["value"] = 2  # a new draft with the old typo
    await gateway.store.update_draft(name, draft)
    error = kit.assert_error(
        await gateway.client.post(f"/workflows/{name}/publish"), 422, ErrorCode.INVALID_DEFINITION
    )
    assert [p["code"] for p in error["details"]["problems"]] == ["UNKNOWN_NODE_REFERENCE"]
    versions = (await gateway.client.get(f"/workflows/{name}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [1]
