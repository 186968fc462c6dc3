"""Webhooks: a bad or stale signature starts nothing; one delivery starts one run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tideflow.auth import Authenticator, Envelope, LocalKeyFile, Secrets
from tideflow.bus import BusError
from tideflow.trigger.app import create_app, services_of
from tideflow.trigger.secrets import StoredSecrets
from tideflow.trigger.settings import TriggerSettings
from tideflow.trigger.signatures import tideflow_headers

from .conftest import Stack, workflow

pytestmark = pytest.mark.integration

SECRET = "hook-secret-1"


@pytest.fixture(autouse=True)
def hook_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_SECRET_ORDERS_HOOK", SECRET)
    monkeypatch.setenv("TIDEFLOW_SECRET_GH_HOOK", SECRET)


def signed(body: bytes, *, secret: str = SECRET, age: int = 0, delivery: str | None = None,
           content_type: str = "application/json") -> dict[str, str]:  # fmt: skip
    headers = tideflow_headers(secret, body, int(time.time()) - age)
    headers["Content-Type"] = content_type
    if delivery:
        headers["X-Tideflow-Delivery"] = delivery
    return headers


async def test_bad_signatures_start_nothing_and_a_repeated_delivery_starts_one_run(
    stack: Stack,
) -> None:
    await stack.publish(workflow("hooked", [
        {"id": "orders", "type": "webhook", "secret": "ORDERS_HOOK"},
    ]))  # fmt: skip
    body = json.dumps({"order": 7, "total": 120}).encode()
    url = "/hooks/hooked/orders"

    for headers in (
        {"Content-Type": "application/json"},  # unsigned
        signed(body, secret="wrong"),  # another secret
        signed(body, age=400),  # stale (replayed later)
        signed(body, age=-400),  # from the future
        signed(b'{"order": 8}'),  # signature of another body
    ):
        response = await stack.http.post(url, content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "BAD_SIGNATURE"
    assert await stack.runs_of("hooked") == []

    first = await stack.http.post(url, content=body, headers=signed(body, delivery="dlv-1"))
    assert first.status_code == 202, first.text
    run_id = first.json()["runId"]
    again = await stack.http.post(url, content=body, headers=signed(body, delivery="dlv-1"))
    assert again.status_code == 202
    assert again.json() == {"runId": run_id}
    record = await stack.wait_run(run_id)
    assert record.status == "succeeded"
    assert record.output == {"order": 7, "total": 120}
    other = await stack.http.post(url, content=body, headers=signed(body, delivery="dlv-2"))
    assert other.json()["runId"] != run_id
    assert len(await stack.runs_of("hooked")) == 2

    missing = await stack.http.post("/hooks/hooked/nope", content=body, headers=signed(body))
    assert missing.status_code == 404
    assert (await stack.http.post("/hooks/nowhere/orders", content=body,
                                  headers=signed(body))).status_code == 404  # fmt: skip


async def test_input_and_idempotency_key_templates_and_the_github_scheme(stack: Stack) -> None:
    await stack.publish(workflow("gh", [
        {"id": "push", "type": "webhook", "secret": "GH_HOOK", "scheme": "github",
         "input": {"repo": "{{ body.repository.name }}",
                   "event": "{{ headers['x-github-event'] }}"},
         "idempotencyKey": "{{ body.after }}"},
    ]))  # fmt: skip
    body = json.dumps({"repository": {"name": "tideflow"}, "after": "abc123"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Event": "push",
               "Content-Type": "application/json"}  # fmt: skip
    first = await stack.http.post("/hooks/gh/push", content=body, headers=headers)
    assert first.status_code == 202, first.text
    # GitHub's redelivery has a new delivery id but the same commit: the key template wins
    again = await stack.http.post("/hooks/gh/push", content=body,
                                  headers={**headers, "X-GitHub-Delivery": "other"})  # fmt: skip
    assert again.json()["runId"] == first.json()["runId"]
    record = await stack.wait_run(first.json()["runId"])
    assert record.output == {"repo": "tideflow", "event": "push"}
    forged = {**headers, "X-Hub-Signature-256": "sha256=00"}
    bad = await stack.http.post("/hooks/gh/push", content=body, headers=forged)
    assert bad.status_code == 401


async def test_input_schema_pause_resume_and_superseded_triggers(stack: Stack) -> None:
    document = workflow("typed", [{"id": "in", "type": "webhook", "secret": "ORDERS_HOOK"}],
                        input={"type": "object", "required": ["order"]})  # fmt: skip
    await stack.publish(document)
    bad = b'{"nothing": 1}'
    response = await stack.http.post("/hooks/typed/in", content=bad, headers=signed(bad))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INPUT_INVALID"

    paused = await stack.http.post("/workflows/typed/triggers/in/pause", headers=stack.auth)
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    good = b'{"order": 1}'
    refused = await stack.http.post("/hooks/typed/in", content=good, headers=signed(good))
    assert refused.status_code == 409
    resumed = await stack.http.post("/workflows/typed/triggers/in/resume", headers=stack.auth)
    assert resumed.json()["paused"] is False
    accepted = await stack.http.post("/hooks/typed/in", content=good, headers=signed(good))
    assert accepted.status_code == 202

    # a new version without the trigger removes it; archiving removes all
    await stack.publish(
        workflow("typed", [{"id": "in2", "type": "webhook", "secret": "ORDERS_HOOK"}])
    )
    gone = await stack.http.post("/hooks/typed/in", content=good, headers=signed(good))
    assert gone.status_code == 404
    listed = await stack.http.get("/workflows/typed/triggers", headers=stack.auth)
    assert [t["id"] for t in listed.json()["items"]] == ["in2"]
    await stack.store.set_archived("typed", True)
    assert (await stack.http.get("/workflows/typed/triggers", headers=stack.auth)).json() == {
        "items": []
    }
    await stack.store.set_archived("typed", False)
    listed = await stack.http.get("/workflows/typed/triggers", headers=stack.auth)
    assert [t["id"] for t in listed.json()["items"]] == ["in2"]
    assert (await stack.http.get("/workflows/typed/triggers")).status_code == 401
    missing = await stack.http.get("/workflows/nowhere/triggers", headers=stack.auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_the_secret_comes_from_the_tenants_secret_store(stack: Stack, tmp_path: Path) -> None:
    secrets = Secrets(stack.store, Envelope(LocalKeyFile(tmp_path / "kek.json")))
    await secrets.put("default", "STORED_HOOK", "from-the-store", by="test")
    webhooks = stack.services.webhooks
    original = webhooks._secrets
    webhooks._secrets = StoredSecrets(secrets)
    try:
        await stack.publish(workflow("stored", [
            {"id": "in", "type": "webhook", "secret": "STORED_HOOK"},
        ]))  # fmt: skip
        body = b'{"x": 1}'
        good = await stack.http.post("/hooks/stored/in", content=body,
                                     headers=signed(body, secret="from-the-store"))  # fmt: skip
        assert good.status_code == 202, good.text
        env_secret = await stack.http.post("/hooks/stored/in", content=body,
                                           headers=signed(body))  # fmt: skip
        assert env_secret.status_code == 401
    finally:
        webhooks._secrets = original


async def test_a_tenant_qualified_hook_reaches_that_tenants_workflow(stack: Stack) -> None:
    document = workflow("shared-name", [{"id": "in", "type": "webhook", "secret": "ORDERS_HOOK"}])
    await stack.store.create_tenant("acme")
    await stack.store.create_workflow("shared-name", "shared-name", document, tenant_id="acme")
    await stack.store.publish("shared-name", tenant_id="acme")
    body = b'{"for": "acme"}'
    # the default tenant has no such workflow; acme's answers on its own path
    assert (await stack.http.post("/hooks/shared-name/in", content=body,
                                  headers=signed(body))).status_code == 404  # fmt: skip
    accepted = await stack.http.post("/hooks/acme/shared-name/in", content=body,
                                     headers=signed(body))  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    record = await stack.store.get_run(accepted.json()["runId"])
    assert (record.tenant_id, record.input) == ("acme", {"for": "acme"})
    bad = await stack.http.post("/hooks/No.Such/shared-name/in", content=body, headers=signed(body))
    assert bad.status_code == 422


class _Unreachable:
    """A bus whose publishes fail, as Kafka does while it is down."""

    def __init__(self, bus: object) -> None:
        self.topics = bus.topics  # type: ignore[attr-defined]

    async def publish_raw_batch(self, records: object) -> None:
        raise BusError("kafka is down")


async def test_a_start_whose_publish_failed_still_runs_through_the_outbox(stack: Stack) -> None:
    await stack.publish(workflow("relayed", [
        {"id": "in", "type": "webhook", "secret": "ORDERS_HOOK"},
    ]))  # fmt: skip
    settings = TriggerSettings(outbox_claim=timedelta(milliseconds=200))
    offline = services_of(settings=settings, store=stack.triggers, bus=_Unreachable(stack.bus))
    app = create_app(offline, Authenticator(admin_token="x"))
    body = b'{"late": true}'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        accepted = await c.post("/hooks/relayed/in", content=body, headers=signed(body))
    assert accepted.status_code == 202, accepted.text
    record = await stack.wait_run(accepted.json()["runId"])
    assert record.status == "succeeded"
    assert record.output == {"late": True}


@pytest.mark.parametrize(
    "text", ['{"total": NaN}', '{"total": Infinity}', "[-Infinity]", '{"note": "a\\u0000b"}']
)
async def test_a_json_body_the_store_cannot_hold_is_422_and_starts_nothing(
    stack: Stack, text: str
) -> None:
    """`json.loads` reads NaN and Infinity (not JSON) and NUL characters (Postgres refuses)."""
    await stack.publish(workflow("nan-hook", [
        {"id": "orders", "type": "webhook", "secret": "ORDERS_HOOK"},
    ]))  # fmt: skip
    body = text.encode()
    response = await stack.http.post("/hooks/nan-hook/orders", content=body, headers=signed(body))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "INVALID_BODY"
    assert await stack.runs_of("nan-hook") == []


@pytest.mark.parametrize(
    ("body", "mapped", "status", "code"),
    [
        (b'{"n": ' + b"[" * 300 + b"]" * 300 + b"}", False, 422, "JSON_TOO_DEEP"),  # encoder
        (b"[" * 100_000 + b"]" * 100_000, False, 422, "JSON_TOO_DEEP"),  # past the parser
        (b'{"n": 1e400}', False, 422, "INVALID_BODY"),  # json reads it as infinity
        (b'"' + b"x" * 600_000 + b'"', True, 413, "INPUT_TOO_LARGE"),  # the input doubles it
    ],
)  # fmt: skip
async def test_a_signed_body_the_log_cannot_hold_is_refused_not_a_500(
    stack: Stack, body: bytes, mapped: bool, status: int, code: str
) -> None:
    """`tide serve trigger` has no API edge in front of it: a signed body nested past the
    encoder or the parser once answered 500 (an encoder error, a RecursionError), a number
    that overflows to infinity was stored as null, and an input mapped past the run-input
    limit was accepted with a StartRun too large for the broker (the run stayed pending).
    Each is now refused with a stable code, and nothing is started."""
    name = "big-hook" if mapped else "deep-hook"
    await stack.publish(workflow(name, [
        {"id": "orders", "type": "webhook", "secret": "ORDERS_HOOK",
         **({"input": {"a": "{{ body }}", "b": "{{ body }}"}} if mapped else {})},
    ]))  # fmt: skip
    response = await stack.http.post(f"/hooks/{name}/orders", content=body, headers=signed(body))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await stack.runs_of(name) == []


async def test_a_delivery_sent_many_times_at_once_starts_one_run(stack: Stack) -> None:
    """Senders retry on a timeout while the first attempt is still in flight: every copy
    of one delivery, concurrent or not, answers 202 with the same run."""
    await stack.publish(workflow("racy-hook", [
        {"id": "orders", "type": "webhook", "secret": "ORDERS_HOOK"},
    ]))  # fmt: skip
    body = b'{"order": 1}'

    async def send(delivery: str) -> httpx.Response:
        headers = signed(body, delivery=delivery)
        return await stack.http.post("/hooks/racy-hook/orders", content=body, headers=headers)

    answers = await asyncio.gather(*(send(f"d-{i % 3}") for i in range(30)))
    assert [a.status_code for a in answers] == [202] * 30, [a.text for a in answers]
    by_delivery: dict[str, set[str]] = {}
    for i, answer in enumerate(answers):
        by_delivery.setdefault(f"d-{i % 3}", set()).add(answer.json()["runId"])
    assert all(len(runs) == 1 for runs in by_delivery.values()), by_delivery
    assert len(await stack.runs_of("racy-hook")) == 3
