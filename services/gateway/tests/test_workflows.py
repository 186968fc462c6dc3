"""Workflow definitions and versions through the API, against real Postgres."""

from __future__ import annotations

import pytest

from tideflow.gateway import ErrorCode

pytestmark = pytest.mark.integration


async def test_create_get_and_list(gateway, kit):
    name = kit.unique()
    created = await gateway.client.post("/workflows", json=kit.definition(name))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == name
    assert body["latestVersion"] is None
    assert body["archived"] is False
    assert body["definition"]["metadata"]["name"] == name
    assert body["definition"]["spec"]["nodes"][0]["id"] == "fetch"

    got = await gateway.client.get(f"/workflows/{name}")
    assert got.status_code == 200
    assert got.json()["definition"] == body["definition"]

    listed = await gateway.client.get("/workflows", params={"limit": 500})
    assert name in [w["id"] for w in listed.json()["items"]]


async def test_definitions_come_back_as_written(gateway, kit):
    name = kit.unique()
    written = {"kind": "Workflow", "metadata": {"name": name}, "apiVersion": "tideflow.io/v1",
               "spec": {"nodes": [{"type": "log", "id": "say",
                                   "config": {"message": "hi"}}]}}  # fmt: skip
    created = await gateway.client.post("/workflows", json=written)
    assert created.status_code == 201, created.text
    draft = (await gateway.client.get(f"/workflows/{name}")).json()["definition"]
    assert draft == written  # no defaults filled in
    assert list(draft) == list(written)
    assert list(draft["spec"]["nodes"][0]) == ["type", "id", "config"]
    await gateway.client.post(f"/workflows/{name}/publish")
    version = (await gateway.client.get(f"/workflows/{name}/versions/1")).json()["definition"]
    assert list(version) == list(written)


async def test_invalid_definition_lists_every_problem(gateway, kit):
    document = kit.definition(kit.unique())
    document["spec"]["nodes"].append({"id": "ghost", "type": "no-such-type"})
    document["spec"]["edges"].append({"from": "wrap", "to": "nowhere"})
    response = await gateway.client.post("/workflows", json=document)
    error = kit.assert_error(response, 422, ErrorCode.INVALID_DEFINITION)
    codes = {p["code"] for p in error["details"]["problems"]}
    assert {"UNKNOWN_NODE_TYPE", "DANGLING_EDGE"} <= codes
    assert all(p["path"] and p["message"] for p in error["details"]["problems"])


@pytest.mark.parametrize("name", ["has space", "a/b", "-leading"])
async def test_a_name_that_cannot_be_an_id_is_refused(gateway, kit, name):
    response = await gateway.client.post("/workflows", json=kit.definition(name))
    error = kit.assert_error(response, 422, ErrorCode.INVALID_DEFINITION)
    assert "metadata.name" in {p["path"] for p in error["details"]["problems"]}


async def test_not_json_object_and_nul_characters(gateway, kit):
    listed = await gateway.client.post("/workflows", json=[1, 2])
    kit.assert_error(listed, 422, ErrorCode.VALIDATION_FAILED)
    document = kit.definition(kit.unique())
    document["metadata"]["description"] = "bad\x00byte"
    nul = await gateway.client.post("/workflows", json=document)
    kit.assert_error(nul, 422, ErrorCode.VALIDATION_FAILED)


async def test_duplicate_is_a_conflict(gateway, kit):
    name = kit.unique()
    assert (await gateway.client.post("/workflows", json=kit.definition(name))).status_code == 201
    again = await gateway.client.post("/workflows", json=kit.definition(name))
    kit.assert_error(again, 409, ErrorCode.WORKFLOW_EXISTS)


async def test_unknown_workflow_is_404_everywhere(gateway, kit):
    name = kit.unique("missing")
    client = gateway.client
    responses = [
        await client.get(f"/workflows/{name}"),
        await client.put(f"/workflows/{name}", json=kit.definition(name)),
        await client.delete(f"/workflows/{name}"),
        await client.post(f"/workflows/{name}/restore"),
        await client.post(f"/workflows/{name}/publish"),
        await client.get(f"/workflows/{name}/versions"),
        await client.get(f"/workflows/{name}/versions/1"),
        await client.post(f"/workflows/{name}/versions/1/rollback"),
        await client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}}),
    ]
    for response in responses:
        kit.assert_error(response, 404, ErrorCode.WORKFLOW_NOT_FOUND)


async def test_pagination_with_cursor(gateway, kit):
    prefix = kit.unique("page")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for name in names:
        assert (
            await gateway.client.post("/workflows", json=kit.definition(name))
        ).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await gateway.client.get("/workflows", params=params)).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen.extend(w["id"] for w in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [n for n in seen if n.startswith(prefix)] == names
    assert seen == sorted(seen)
    assert pages >= 3


async def test_bad_cursor_and_limit(gateway, kit):
    kit.assert_error(
        await gateway.client.get("/workflows", params={"cursor": "%%%"}), 400, ErrorCode.BAD_REQUEST
    )
    kit.assert_error(
        await gateway.client.get("/workflows", params={"limit": 0}),
        422,
        ErrorCode.VALIDATION_FAILED,
    )


async def test_replace_draft(gateway, kit):
    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    changed = kit.definition(name, with_input_schema=False)
    replaced = await gateway.client.put(f"/workflows/{name}", json=changed)
    assert replaced.status_code == 200, replaced.text
    assert "input" not in replaced.json()["definition"]["spec"]
    assert replaced.json()["revision"] > 1
    # the same document again changes nothing: same revision, same answer (idempotent apply)
    again = await gateway.client.put(f"/workflows/{name}", json=changed)
    assert again.status_code == 200, again.text
    assert again.json() == replaced.json()
    fetched = await gateway.client.get(f"/workflows/{name}")
    assert fetched.json()["revision"] == replaced.json()["revision"]

    mismatch = await gateway.client.put(f"/workflows/{name}", json=kit.definition("other-name"))
    kit.assert_error(mismatch, 422, ErrorCode.NAME_MISMATCH)
    broken = kit.definition(name)
    broken["spec"]["nodes"] = []
    kit.assert_error(
        await gateway.client.put(f"/workflows/{name}", json=broken),
        422,
        ErrorCode.INVALID_DEFINITION,
    )


async def test_archive_hides_and_freezes_until_restored(gateway, kit):
    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    await gateway.client.post(f"/workflows/{name}/publish")
    deleted = await gateway.client.delete(f"/workflows/{name}")
    assert deleted.status_code == 204
    assert deleted.content == b""

    visible = (await gateway.client.get("/workflows", params={"limit": 500})).json()["items"]
    assert name not in [w["id"] for w in visible]
    everything = await gateway.client.get(
        "/workflows", params={"limit": 500, "includeArchived": "true"}
    )
    assert name in [w["id"] for w in everything.json()["items"]]
    assert (await gateway.client.get(f"/workflows/{name}")).json()["archived"] is True

    for response in [
        await gateway.client.put(f"/workflows/{name}", json=kit.definition(name)),
        await gateway.client.post(f"/workflows/{name}/publish"),
        await gateway.client.post(f"/workflows/{name}/versions/1/rollback"),
        await gateway.client.post(f"/workflows/{name}/runs", json={"input": {"n": 1}}),
    ]:
        kit.assert_error(response, 409, ErrorCode.WORKFLOW_ARCHIVED)

    restored = await gateway.client.post(f"/workflows/{name}/restore")
    assert restored.status_code == 200
    assert restored.json()["archived"] is False
    changed = kit.definition(name, with_input_schema=False)
    assert (await gateway.client.put(f"/workflows/{name}", json=changed)).status_code == 200
    assert (await gateway.client.post(f"/workflows/{name}/publish")).status_code == 201


async def test_publish_versions_and_rollback(gateway, kit):
    name = kit.unique()
    await gateway.client.post("/workflows", json=kit.definition(name))
    first = await gateway.client.post(f"/workflows/{name}/publish")
    assert first.status_code == 201
    assert first.json() == {"workflowId": name, "version": 1, "created": True}
    again = await gateway.client.post(f"/workflows/{name}/publish")  # the draft is unchanged
    assert again.status_code == 200
    assert again.json() == {"workflowId": name, "version": 1, "created": False}
    await gateway.client.put(
        f"/workflows/{name}", json=kit.definition(name, with_input_schema=False)
    )
    second = await gateway.client.post(f"/workflows/{name}/publish")
    assert second.json()["version"] == 2
    assert (await gateway.client.get(f"/workflows/{name}")).json()["latestVersion"] == 2

    rolled = await gateway.client.post(f"/workflows/{name}/versions/1/rollback")
    assert rolled.status_code == 201
    assert rolled.json() == {"workflowId": name, "version": 3, "created": True}
    draft = (await gateway.client.get(f"/workflows/{name}")).json()["definition"]
    assert draft == kit.definition(name)  # the draft is version 1 again
    unchanged = await gateway.client.post(f"/workflows/{name}/publish")
    assert unchanged.json() == {"workflowId": name, "version": 3, "created": False}

    versions = (await gateway.client.get(f"/workflows/{name}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[0]["rollbackOf"] == 1
    assert versions[0]["definition"] is None
    with_definitions = await gateway.client.get(
        f"/workflows/{name}/versions", params={"definitions": "true"}
    )
    assert "input" in with_definitions.json()["items"][0]["definition"]["spec"]

    one = await gateway.client.get(f"/workflows/{name}/versions/2")
    assert one.status_code == 200
    assert "input" not in one.json()["definition"]["spec"]
    kit.assert_error(
        await gateway.client.get(f"/workflows/{name}/versions/9"), 404, ErrorCode.VERSION_NOT_FOUND
    )
    kit.assert_error(
        await gateway.client.post(f"/workflows/{name}/versions/9/rollback"),
        404,
        ErrorCode.VERSION_NOT_FOUND,
    )
