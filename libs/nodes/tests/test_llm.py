"""`llm` nodes against a scripted local OpenAI-compatible server and litellm's mock
responses: prompts and keys sent, JSON repair, error classes, usage and cost. No network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import (
    OUTPUT_INVALID,
    EgressPolicy,
    GuardedTransport,
    LlmHandler,
    ModelCallError,
    ModelRequest,
    StepFailure,
    StepSuccess,
    TaskSpec,
    call_model,
)
from tideflow.nodes._json_answer import NotJson, parse_answer, schema_errors
from tideflow.nodes.testing import FakeLlmServer, FakeReply

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
INVOICE = {
    "type": "object",
    "required": ["vendor", "amount"],
    "properties": {"vendor": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
}


class Secrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def secrets(self, tenant_id: str) -> dict[str, str]:
        assert tenant_id == "default"
        return self.values


@pytest.fixture
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


def task(config: dict[str, Any], *, timeout: float = 10) -> TaskSpec:
    return TaskSpec("r", "ask", 1, "llm", config, timeout=timedelta(seconds=timeout))


def handler() -> LlmHandler:
    return LlmHandler(policy=LOCAL, secrets=Secrets({"llm_key": "sk-test-123"}))


async def test_prompt_with_system_key_and_options_is_sent(llm: FakeLlmServer) -> None:
    llm.replies = [FakeReply("Hello Ada", prompt_tokens=12, completion_tokens=3)]
    outcome = await handler().run(
        task(
            {
                "model": "openai/fake-model", "apiBase": llm.url, "apiKeySecret": "llm_key",
                "system": "be brief", "prompt": "greet Ada", "temperature": 0.2,
                "maxTokens": 50,
            }
        )
    )  # fmt: skip
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output == {
        "text": "Hello Ada",
        "json": None,
        "usage": {"promptTokens": 12, "completionTokens": 3, "totalTokens": 15},
        "model": "fake-model",
        "costUsd": 0.0,
    }
    [sent] = llm.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test-123"
    body = sent["json"]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "greet Ada"},
    ]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0.2, 50, "fake-model")


async def test_invalid_json_is_repaired_with_the_errors(llm: FakeLlmServer) -> None:
    llm.replies = [
        FakeReply('Here it is:\n```json\n{"vendor": "ACME", "amount": -5}\n```'),
        FakeReply('{"vendor": "ACME", "amount": 120.5}'),
    ]
    config = {
        "model": "openai/fake-model", "apiBase": llm.url, "apiKeySecret": "llm_key",
        "messages": [{"role": "user", "content": "extract"}], "outputSchema": INVOICE,
    }  # fmt: skip
    outcome = await handler().run(task(config))
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output["json"] == {"vendor": "ACME", "amount": 120.5}
    assert outcome.output["usage"]["totalTokens"] == 36  # both calls count
    first, second = (r["json"]["messages"] for r in llm.requests)
    assert "JSON Schema" in first[0]["content"]
    assert first[-1] == {"role": "user", "content": "extract"}
    assert second[-2]["role"] == "assistant"
    assert "$.amount: -5 is less than the minimum of 0" in second[-1]["content"]


async def test_gives_up_with_llm_output_invalid_after_the_repairs(llm: FakeLlmServer) -> None:
    llm.replies = [FakeReply("no idea"), FakeReply('{"vendor": 3}')]
    config = {"model": "openai/fake-model", "apiBase": llm.url, "prompt": "extract",
              "outputSchema": INVOICE, "repairAttempts": 1}  # fmt: skip
    outcome = await handler().run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (OUTPUT_INVALID, False)
    assert outcome.details["errors"] == [
        "$: 'amount' is a required property",
        "$.vendor: 3 is not of type 'string'",
    ]
    assert len(llm.requests) == 2
    assert "not JSON" in llm.requests[1]["json"]["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (429, "LlmRateLimited", True),
        (500, "LlmProviderError", True),
        (503, "LlmProviderError", True),
        (401, "LlmAuthError", False),
        (400, "LlmBadRequest", False),
    ],
)
async def test_provider_errors_are_classified(
    llm: FakeLlmServer, status: int, error_type: str, retryable: bool
) -> None:
    llm.replies = [FakeReply(status=status, error="nope")]
    config = {"model": "openai/fake-model", "apiBase": llm.url, "prompt": "hi"}
    outcome = await handler().run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (error_type, retryable), outcome.message
    assert len(llm.requests) == 1  # no hidden client-side retries: the engine decides


async def test_a_slow_provider_times_out_retryably(llm: FakeLlmServer) -> None:
    llm.replies = [FakeReply("late", delay_s=3)]
    config = {"model": "openai/fake-model", "apiBase": llm.url, "prompt": "hi", "timeout": "1s"}
    outcome = await handler().run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("LlmTimeout", True)


async def test_egress_policy_applies_to_api_base(llm: FakeLlmServer) -> None:
    strict = LlmHandler(policy=EgressPolicy(), secrets=Secrets({}))
    config = {"model": "openai/fake-model", "apiBase": llm.url, "prompt": "hi"}
    outcome = await strict.run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("EgressDenied", False)
    assert "loopback" in outcome.message
    assert llm.requests == []


async def test_a_missing_key_secret_fails_for_good(llm: FakeLlmServer) -> None:
    config = {"model": "openai/fake-model", "apiBase": llm.url, "prompt": "hi",
              "apiKeySecret": "absent"}  # fmt: skip
    outcome = await handler().run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("SecretNotFound", False)
    assert llm.requests == []


async def test_litellm_mock_response_prices_a_known_model() -> None:
    before = REGISTRY.get_sample_value(
        "tideflow_llm_tokens_total", {"model": "gpt-4o-mini", "kind": "prompt"}
    )
    mocked = LlmHandler(policy=LOCAL, extra={"mock_response": '{"vendor": "ACME", "amount": 3}'})
    config = {"model": "gpt-4o-mini", "prompt": "extract", "outputSchema": INVOICE}
    outcome = await mocked.run(task(config))
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output["json"] == {"vendor": "ACME", "amount": 3}
    assert outcome.output["costUsd"] > 0
    after = REGISTRY.get_sample_value(
        "tideflow_llm_tokens_total", {"model": "gpt-4o-mini", "kind": "prompt"}
    )
    assert (after or 0) > (before or 0)


async def test_call_model_returns_tool_calls(llm: FakeLlmServer) -> None:
    llm.replies = [FakeReply(None, tool_calls=[{"name": "lookup", "arguments": {"id": 7}}])]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    reply = await call_model(
        ModelRequest(
            model="openai/fake-model", api_base=llm.url, api_key="k",
            messages=[{"role": "user", "content": "find 7"}], tools=tools,
        )
    )  # fmt: skip
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("lookup", '{"id": 7}')]
    assert reply.message["tool_calls"][0]["function"]["name"] == "lookup"
    assert llm.requests[0]["json"]["tools"] == tools


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("Sure! ```\n[1, 2]\n``` done", [1, 2]),
        ('The result is {"a": {"b": 2}} as asked.', {"a": {"b": 2}}),
        ("42", 42),
    ],
)
def test_parse_answer(text: str, value: Any) -> None:
    assert parse_answer(text) == value


def test_parse_answer_refuses_prose() -> None:
    with pytest.raises(NotJson):
        parse_answer("I cannot help with that {")
    assert schema_errors({"amount": "x"}, INVOICE) == [
        "$: 'vendor' is a required property",
        "$.amount: 'x' is not of type 'number'",
    ]


def definition(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "x"},
        "spec": {"nodes": [{"id": "ask", "type": "llm", "config": config}], "edges": []},
    }  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [
        {"model": "m"},
        {"model": "m", "prompt": "a", "messages": [{"role": "user", "content": "b"}]},
        {"model": "m", "prompt": "a", "outputSchema": {"type": "nope"}},
        {"model": "m", "prompt": "a", "repairAttempts": -1},
        {"model": "m", "prompt": "a", "apiKeySecret": "not a name"},
        {"prompt": "a"},
    ],
)
def test_bad_config_names_the_node(config: dict[str, Any]) -> None:
    problems = validate_definition(definition(config))
    assert problems
    assert all(p.code is ProblemCode.INVALID_CONFIG and p.node == "ask" for p in problems)


def test_good_config_is_valid() -> None:
    config = {"model": "m", "prompt": "total of {{ input.x }}", "outputSchema": INVOICE,
              "apiKeySecret": "openai", "timeout": "30s"}  # fmt: skip
    assert validate_definition(definition(config)) == []


async def test_call_model_connects_only_through_the_guarded_client(llm: FakeLlmServer) -> None:
    llm.replies = [FakeReply("should not be asked")]
    guarded = httpx.AsyncClient(transport=GuardedTransport(EgressPolicy()))
    request = ModelRequest(
        model="openai/fake-model", api_base=llm.url, api_key="k", http_client=guarded,
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    with pytest.raises(ModelCallError) as raised:
        await call_model(request)
    await guarded.aclose()
    assert (raised.value.error_type, raised.value.retryable) == ("EgressDenied", False)
    assert llm.requests == []


@pytest.mark.parametrize("model", ["openai/fake-model", "anthropic/claude-3-5-haiku-latest"])
async def test_the_workers_own_key_never_goes_to_a_workflows_api_base(
    llm: FakeLlmServer, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without apiKeySecret, a server the workflow names gets a placeholder, not the
    provider key of the worker's environment (litellm would read and send it)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-operator-anthropic-key")
    llm.replies = [FakeReply("hi")]
    await handler().run(task({"model": model, "apiBase": llm.url, "prompt": "hi"}))
    assert llm.requests, "the call was not made"
    for sent in llm.requests:
        assert "operator" not in json.dumps(sent["headers"]), sent["headers"]


@pytest.mark.parametrize(
    "reply", [FakeReply(body_bytes=600 * 1024), FakeReply(endless=True)], ids=["huge", "endless"]
)
@pytest.mark.parametrize(
    "model", ["openai/fake-model", "anthropic/claude-3-5-haiku-20241022", "ollama/llama3"]
)
async def test_a_provider_answering_too_much_fails_the_step_for_good(
    llm: FakeLlmServer, reply: FakeReply, model: str
) -> None:
    """A hostile or broken endpoint cannot make the worker read (and hold) its answer:
    reading stops at the guarded transport's cap, the step fails, no retry repeats it.
    OpenAI-compatible APIs and providers litellm drives itself alike."""
    llm.replies = [reply]
    cap = 256 * 1024
    node = LlmHandler(policy=LOCAL, response_bytes=cap)
    try:
        outcome = await node.run(task({"model": model, "apiBase": llm.url, "prompt": "hi"}))
    finally:
        await node.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "LlmResponseTooLarge"
    assert not outcome.retryable
    assert "262,144-byte cap" in outcome.message
    assert len(llm.requests) == 1
    assert llm.endless_sent < 64 * 1024 * 1024  # stopped long before the fake's 1 GiB
