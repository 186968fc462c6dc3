"""The operator's publish policy: an `ocr` node naming its own `endpointUrl` without its
own credentials is refused when the definition is saved, validated or published, unless
the operator allows the endpoint's host (`TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS`).

The worker refuses such a node at run time too (`OcrEndpointNotAllowed`); these tests pin
that the author hears it at once, as a problem naming the node and the field.
"""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.gateway.errors import ErrorCode

CODE = "OCR_ENDPOINT_NOT_ALLOWED"


def _ocr_workflow(name: str, **config: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "scan", "type": "ocr",
                 "config": {"document": "{{ input.document }}", **config}},
            ]
        },
    }  # fmt: skip


@pytest.fixture
def allowed_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """The operator allows one host (set before the gateway reads its settings)."""
    monkeypatch.setenv("TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS", '["textract.vpce.example"]')
    return "textract.vpce.example"


async def test_an_endpoint_without_credentials_is_refused_on_save(gateway, kit):
    name = kit.unique()
    document = _ocr_workflow(name, endpointUrl="https://collector.example")
    response = await gateway.client.post("/workflows", json=document)
    error = kit.assert_error(response, 422, ErrorCode.INVALID_DEFINITION)
    [problem] = error["details"]["problems"]
    assert problem["code"] == CODE
    assert problem["path"] == "spec.nodes[0].config.endpointUrl"
    assert problem["node"] == "scan"
    assert "accessKeyIdSecret" in problem["message"]
    assert "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS" in problem["message"]
    missing = await gateway.client.get(f"/workflows/{name}")
    assert missing.status_code == 404  # nothing stored

    validated = await gateway.client.post("/definitions/validate", json=document)
    assert validated.status_code == 200, validated.text
    assert not validated.json()["valid"]
    assert [p["code"] for p in validated.json()["problems"]] == [CODE]


@pytest.mark.parametrize(
    "config",
    [
        {"endpointUrl": "https://collector.example",
         "accessKeyIdSecret": "KEY_ID", "secretAccessKeySecret": "KEY"},
        {"region": "eu-west-1"},  # the operator's endpoint, or AWS's
        {"endpointUrl": ""},
    ],
    ids=["own-credentials", "no-endpoint", "empty-endpoint"],
)  # fmt: skip
async def test_what_the_worker_would_run_is_accepted(gateway, kit, config):
    response = await gateway.client.post("/workflows", json=_ocr_workflow(kit.unique(), **config))
    assert response.status_code == 201, response.text


async def test_a_templated_endpoint_is_refused_when_no_host_is_allowed(gateway, kit):
    document = _ocr_workflow(kit.unique(), endpointUrl="{{ input.endpoint }}")
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=document), 422, ErrorCode.INVALID_DEFINITION
    )
    assert [p["code"] for p in error["details"]["problems"]] == [CODE]


async def test_an_allowed_host_is_accepted(allowed_host, gateway, kit):
    for endpoint in (f"https://{allowed_host}", "{{ input.endpoint }}"):
        document = _ocr_workflow(kit.unique(), endpointUrl=endpoint)
        response = await gateway.client.post("/workflows", json=document)
        assert response.status_code == 201, response.text
    other = _ocr_workflow(kit.unique(), endpointUrl="https://elsewhere.example")
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=other), 422, ErrorCode.INVALID_DEFINITION
    )
    assert allowed_host in error["details"]["problems"][0]["message"]


async def test_a_foreach_child_is_checked(gateway, kit):
    document = _ocr_workflow(kit.unique())
    document["spec"]["nodes"] = [
        {"id": "scan", "type": "foreach",
         "config": {"items": "{{ input.documents }}",
                    "node": {"type": "ocr", "config": {"document": "{{ item }}",
                                                       "endpointUrl": "https://c.example"}}}},
    ]  # fmt: skip
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=document), 422, ErrorCode.INVALID_DEFINITION
    )
    [problem] = error["details"]["problems"]
    assert (problem["code"], problem["node"]) == (CODE, "scan")
    assert problem["path"] == "spec.nodes[0].config.node.config.endpointUrl"


async def test_publish_applies_the_policy_of_now(gateway, kit):
    """A draft saved before the operator narrowed the policy is refused at publish, and no
    version is made."""
    name = kit.unique()
    draft = _ocr_workflow(name, endpointUrl="https://collector.example")
    await gateway.store.create_workflow(name, name, draft)  # as saved under another policy
    response = await gateway.client.post(f"/workflows/{name}/publish")
    error = kit.assert_error(response, 422, ErrorCode.INVALID_DEFINITION)
    assert [p["code"] for p in error["details"]["problems"]] == [CODE]
    versions = await gateway.client.get(f"/workflows/{name}/versions")
    assert versions.status_code == 200, versions.text
    assert versions.json()["items"] == []


@pytest.mark.parametrize("topic", ["tideflow.events", "tideflow.runs", "tideflow.tasks.default"])
async def test_an_event_trigger_on_the_platforms_own_topics_is_refused(gateway, kit, topic):
    """`tideflow.events` carries every tenant's run events (inputs and outputs): a trigger
    of one tenant on it started runs from other tenants' data. The platform's topics (under
    `TIDEFLOW_KAFKA_TOPIC_PREFIX.`) are refused when the definition is written."""
    document = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": kit.unique()},
        "spec": {"triggers": [{"id": "spy", "type": "event", "topic": topic}],
                 "nodes": [{"id": "a", "type": "log", "config": {"message": "x"}}]},
    }  # fmt: skip
    error = kit.assert_error(
        await gateway.client.post("/workflows", json=document), 422, ErrorCode.INVALID_DEFINITION
    )
    [problem] = error["details"]["problems"]
    assert problem["code"] == "RESERVED_TOPIC"
    assert problem["path"] == "spec.triggers[0].topic"
    document["spec"]["triggers"][0]["topic"] = "tideflow-orders"  # only alike: accepted
    response = await gateway.client.post("/workflows", json=document)
    assert response.status_code == 201, response.text


async def test_rollback_applies_the_policy_of_now(gateway, kit):
    """Rolling back publishes an old version again: one published before the operator
    narrowed the policy is refused like any publish, and the newest version stays."""
    name = kit.unique()
    refused = _ocr_workflow(name, endpointUrl="https://collector.example")
    await gateway.store.create_workflow(name, name, refused)  # as saved under another policy
    await gateway.store.publish(name)  # version 1
    accepted = _ocr_workflow(name)
    response = await gateway.client.put(f"/workflows/{name}", json=accepted)
    assert response.status_code == 200, response.text
    assert (await gateway.client.post(f"/workflows/{name}/publish")).json()["version"] == 2

    response = await gateway.client.post(f"/workflows/{name}/versions/1/rollback")
    error = kit.assert_error(response, 422, ErrorCode.INVALID_DEFINITION)
    [problem] = error["details"]["problems"]
    assert (problem["code"], problem["path"]) == (CODE, "spec.nodes[0].config.endpointUrl")
    versions = (await gateway.client.get(f"/workflows/{name}/versions")).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]  # no version 3
    draft = (await gateway.client.get(f"/workflows/{name}")).json()["definition"]
    assert draft == accepted
    missing = await gateway.client.post(f"/workflows/{name}/versions/9/rollback")
    kit.assert_error(missing, 404, ErrorCode.VERSION_NOT_FOUND)
    rolled = await gateway.client.post(f"/workflows/{name}/versions/2/rollback")
    assert rolled.status_code == 201, rolled.text
