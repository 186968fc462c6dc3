"""Every model provider the `llm` and `agent` nodes run reads its answers through the
egress-guarded transport, or is refused before any request.

Against a local stand-in that answers over the cap: each supported provider's call goes
through the guarded client (the stand-in sees exactly one request) and fails with
`LlmResponseTooLarge`, not retried. Providers litellm would drive with a client of its own
(Vertex AI, Cohere, ...) fail with `LlmProviderNotSupported` and send nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest

from tideflow.core import ProblemCode, validate_definition
from tideflow.core.nodes._llm import UNCAPPED_PROVIDERS
from tideflow.nodes import EgressPolicy, GuardedTransport, LlmHandler, StepFailure, StepSuccess
from tideflow.nodes import TaskSpec as Task
from tideflow.nodes._llm_call import _litellm
from tideflow.nodes._llm_providers import SUPPORTED, ProviderRefused, provider_client
from tideflow.nodes.testing import FakeLlmServer, FakeReply, StaticSecrets

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
CAP = 256 * 1024
MODELS = {
    "bedrock": "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic": "anthropic/claude-3-5-haiku-20241022",
}
"""Providers whose litellm code needs a model it knows to choose its request format."""


SECRETS = StaticSecrets({"key": "sk-from-a-secret"}, tenant="default")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as fake:
        yield fake


@pytest.fixture
def llm(server: FakeLlmServer) -> FakeLlmServer:
    server.replies.clear()
    server.requests.clear()
    return server


async def _run(model: str, api_base: str, **config: Any) -> Any:
    node = LlmHandler(policy=LOCAL, response_bytes=CAP, secrets=SECRETS)
    task = Task("r", "ask", 1, "llm", {"model": model, "apiBase": api_base, "prompt": "hi",
                                       **config}, timeout=timedelta(seconds=10))  # fmt: skip
    try:
        return await node.run(task)
    finally:
        await node.aclose()


@pytest.mark.parametrize("provider", sorted(SUPPORTED))
async def test_every_supported_provider_is_capped(llm: FakeLlmServer, provider: str) -> None:
    llm.replies = [FakeReply(body_bytes=600 * 1024)]
    outcome = await _run(MODELS.get(provider, f"{provider}/some-model"), llm.url)
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("LlmResponseTooLarge", False), outcome
    assert len(llm.requests) == 1  # through the guarded client, once: no hidden retry


@pytest.mark.parametrize("model", ["azure/invoices-gpt4o", "together_ai/meta-llama/Llama-3-8b"])
async def test_an_sdk_provider_answers_through_the_guarded_client(
    llm: FakeLlmServer, model: str
) -> None:
    """Not only refused when too large: an answer under the cap is read, with the node's
    own key sent as the provider expects it."""
    llm.replies = [FakeReply("forty-two")]
    outcome = await _run(model, llm.url, apiKeySecret="key")
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output["text"] == "forty-two"
    [sent] = llm.requests
    if model.startswith("azure/"):
        assert sent["path"].startswith("/v1/openai/deployments/invoices-gpt4o/chat/completions")
        assert "api-version=" in sent["path"]
        assert sent["headers"]["api-key"] == "sk-from-a-secret"
    else:
        assert sent["path"] == "/v1/chat/completions"
        assert sent["headers"]["authorization"] == "Bearer sk-from-a-secret"


@pytest.mark.parametrize(
    ("model", "provider"),
    [("vertex_ai/gemini-1.5-pro", "vertex_ai"), ("cohere/command-r", "cohere_chat"),
     ("replicate/meta/llama-3-8b", "replicate")],
)  # fmt: skip
async def test_a_provider_the_transport_cannot_reach_is_refused(
    llm: FakeLlmServer, model: str, provider: str
) -> None:
    llm.replies = [FakeReply(body_bytes=600 * 1024)]
    outcome = await _run(model, llm.url)
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("LlmProviderNotSupported", False)
    assert f"provider {provider!r} is not supported" in outcome.message
    assert "TIDEFLOW_EGRESS_RESPONSE_BYTES" in outcome.message
    assert llm.requests == []


async def test_a_provider_without_api_base_gets_its_own_address_and_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """together_ai without apiBase: the OpenAI client points at Together's API with the
    worker's TOGETHERAI_API_KEY, over the guarded client (no request made here)."""
    monkeypatch.setenv("TOGETHERAI_API_KEY", "sk-worker-together")
    guarded = httpx.AsyncClient(transport=GuardedTransport(LOCAL))
    try:
        client = provider_client(
            _litellm(), guarded, model="together_ai/meta-llama/Llama-3-8b", api_base=None,
            api_key=None, api_version=None, timeout_s=5,
        )  # fmt: skip
    finally:
        await guarded.aclose()
    assert isinstance(client, openai.AsyncOpenAI)
    assert str(client.base_url).rstrip("/") == "https://api.together.xyz/v1"
    assert client.api_key == "sk-worker-together"
    assert client._client is guarded


async def test_azure_without_any_key_is_refused_before_a_request(
    llm: FakeLlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY", "AZURE_AD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    node = LlmHandler(policy=LOCAL, response_bytes=CAP)
    task = Task("r", "ask", 1, "llm", {"model": "azure/x", "prompt": "hi"},
                timeout=timedelta(seconds=10))  # fmt: skip
    monkeypatch.setenv("AZURE_API_BASE", llm.url.removesuffix("/v1"))
    try:
        outcome = await node.run(task)
    finally:
        await node.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("LlmAuthError", False)
    assert llm.requests == []


@pytest.mark.parametrize("provider", sorted(UNCAPPED_PROVIDERS))
async def test_what_validation_refuses_the_worker_refuses(provider: str) -> None:
    """The core's list of providers refused at publish is the workers' own: each is
    refused by the worker too, and none is one it caps."""
    assert provider not in SUPPORTED
    guarded = httpx.AsyncClient(transport=GuardedTransport(LOCAL))
    try:
        with pytest.raises(ProviderRefused, match=f"provider {provider!r} is not supported"):
            provider_client(
                _litellm(), guarded, model=f"{provider}/some-model", api_base=None,
                api_key=None, api_version=None, timeout_s=5,
            )  # fmt: skip
    finally:
        await guarded.aclose()


@pytest.mark.parametrize("node_type", ["llm", "agent"])
@pytest.mark.parametrize(
    ("model", "refused"),
    [("vertex_ai/gemini-1.5-pro", True), ("cohere/command-r", True),
     ("openai/gpt-4o-mini", False), ("azure/invoices", False), ("gpt-4o-mini", False),
     ("{{ input.model }}", False)],
)  # fmt: skip
def test_a_model_of_a_refused_provider_is_refused_at_publish(
    node_type: str, model: str, refused: bool
) -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"nodes": [{"id": "ask", "type": node_type,
                            "config": {"model": model, "prompt": "hi"}}]},
    }  # fmt: skip
    problems = validate_definition(definition)
    if not refused:
        assert problems == []
        return
    [problem] = problems
    assert (problem.code, problem.path, problem.node) == (
        ProblemCode.INVALID_CONFIG,
        "spec.nodes[0].config.model",
        "ask",
    )
    assert "is not supported" in problem.message
