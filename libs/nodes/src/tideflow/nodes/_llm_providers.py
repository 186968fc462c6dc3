"""Which client each model provider's litellm code sends through, so every answer is read
through the egress-guarded transport (checked connections, a response cap).

litellm takes a `client` per call, in the form the provider's code wants:

- an OpenAI SDK client for OpenAI and the OpenAI-compatible APIs litellm drives with it
  (`together_ai`, `perplexity`, `nebius`, ...), pointed at the provider's own base URL;
- an Azure OpenAI SDK client for `azure`;
- litellm's `AsyncHTTPHandler` for the providers it drives with its own HTTP code
  (`anthropic`, `bedrock`, `gemini`, ...).

Each provider listed here was checked against a local stand-in answering over the cap
(libs/nodes/tests/test_llm_providers.py): the call went through the given client and
failed with `LlmResponseTooLarge` after exactly one request. A provider that takes none
of these forms (Vertex AI, whose google-auth token exchange has its own HTTP client and
is not installed; Cohere, Replicate, watsonx, SageMaker, ...) would read its answers
with a client of litellm's making, uncapped: it is refused before any request
(`LlmProviderNotSupported`) rather than run without the cap.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from types import ModuleType

HANDLER_PROVIDERS = frozenset({
    "anthropic", "azure_ai", "bedrock", "databricks", "deepseek", "fireworks_ai", "gemini",
    "groq", "hosted_vllm", "huggingface", "minimax", "mistral", "ollama", "ollama_chat",
    "openrouter", "ovhcloud", "xai",
})  # fmt: skip
"""Providers whose litellm code takes its own HTTP handler as `client`."""

OPENAI_PROVIDERS = frozenset({
    "openai", "custom_openai", "litellm_proxy", "lm_studio", "xinference", "llamafile",
    "together_ai", "perplexity", "lambda_ai", "friendliai", "moonshot", "dashscope",
    "volcengine", "wandb", "novita", "nebius", "meta_llama", "github", "vercel_ai_gateway",
    "galadriel", "helicone", "parasail", "scaleway", "aiml", "chutes", "modelscope",
})  # fmt: skip
"""OpenAI-compatible APIs litellm calls through an OpenAI SDK client, once per call.
(`deepinfra`, `cerebras`, `nvidia_nim`, `sambanova`, `baseten`, `codestral`, ... are not:
litellm's code for them asks again after an answer over the cap, outside the node's retry
policy.)"""

AZURE_PROVIDERS = frozenset({"azure"})
"""Azure OpenAI, through an Azure OpenAI SDK client."""

OWN_CLIENT = "litellm reads its answers with a client of its own"
SUPPORTED = HANDLER_PROVIDERS | OPENAI_PROVIDERS | AZURE_PROVIDERS

REFUSAL_REASONS = {
    "vertex_ai": "Vertex AI signs in through google-auth, whose token requests use an HTTP "
    "client of its own (and google-auth is not installed)",
    "vertex_ai_beta": "Vertex AI signs in through google-auth, whose token requests use an "
    "HTTP client of its own (and google-auth is not installed)",
}


class ProviderRefused(Exception):  # noqa: N818 - `LlmProviderNotSupported` to the step
    """A provider whose answers cannot be read through the guarded transport."""


class ProviderMisconfigured(Exception):  # noqa: N818 - `LlmBadRequest` / `LlmAuthError`
    """A provider call that cannot be made as configured; retrying cannot help."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def provider_client(
    litellm: ModuleType,
    http_client: httpx.AsyncClient,
    *,
    model: str,
    api_base: str | None,
    api_key: str | None,
    api_version: str | None,
    timeout_s: float | None,
) -> Any:
    """A client over `http_client` in the form the model's provider takes; None when
    litellm cannot resolve the provider (it reports that on the call). Raises
    ProviderRefused for a provider none of the forms reaches."""
    try:
        _, provider, provider_key, default_base = litellm.get_llm_provider(model, api_base=api_base)
    except Exception:  # noqa: BLE001 - litellm reports an unknown provider on the call
        return None
    if provider in HANDLER_PROVIDERS:
        return _handler_class()(http_client)
    if provider in AZURE_PROVIDERS:
        return _azure_client(http_client, api_base, api_key, api_version, timeout_s)
    if provider in OPENAI_PROVIDERS:
        import openai  # noqa: PLC0415 - comes with litellm, loaded with it

        base = api_base or default_base
        if base is None and provider != "openai":
            msg = f"{provider} needs apiBase (the address of its OpenAI-compatible API)"
            raise ProviderMisconfigured("LlmBadRequest", msg)
        key = api_key or provider_key
        if provider == "openai":
            key = key or os.environ.get("OPENAI_API_KEY")
        return openai.AsyncOpenAI(
            api_key=key or "none", base_url=base, http_client=http_client, max_retries=0,
            timeout=timeout_s,
        )  # fmt: skip
    reason = REFUSAL_REASONS.get(
        str(provider), "litellm reads its answers with a client of its own"
    )
    msg = (
        f"provider {provider!r} is not supported: {reason}, so its answers could not be "
        "capped (TIDEFLOW_EGRESS_RESPONSE_BYTES) nor its connections checked by the egress "
        f"policy; supported providers: {', '.join(sorted(SUPPORTED))}"
    )
    raise ProviderRefused(msg)


def _azure_client(
    http_client: httpx.AsyncClient,
    api_base: str | None,
    api_key: str | None,
    api_version: str | None,
    timeout_s: float | None,
) -> Any:
    """An Azure OpenAI client with litellm's own defaults (`AZURE_API_BASE`,
    `AZURE_API_VERSION`, `AZURE_OPENAI_API_KEY` / `AZURE_API_KEY`, `AZURE_AD_TOKEN`)."""
    import litellm  # noqa: PLC0415 - loaded by the caller already
    import openai  # noqa: PLC0415

    base = api_base or os.environ.get("AZURE_API_BASE")
    if not base:
        msg = "azure needs apiBase (https://<resource>.openai.azure.com) or AZURE_API_BASE"
        raise ProviderMisconfigured("LlmBadRequest", msg)
    version = (
        api_version or os.environ.get("AZURE_API_VERSION") or litellm.AZURE_DEFAULT_API_VERSION
    )
    key = api_key or os.environ.get("AZURE_OPENAI_API_KEY") or os.environ.get("AZURE_API_KEY")
    token = None if key else os.environ.get("AZURE_AD_TOKEN")
    if not key and not token:
        msg = "azure needs an API key (apiKeySecret, or AZURE_API_KEY for the worker)"
        raise ProviderMisconfigured("LlmAuthError", msg)
    return openai.AsyncAzureOpenAI(
        api_key=key, azure_ad_token=token, azure_endpoint=base, api_version=version,
        http_client=http_client, max_retries=0, timeout=timeout_s,
    )  # fmt: skip


@cache
def _handler_class() -> type:
    """litellm's `AsyncHTTPHandler` sending through a given client, made once litellm is
    loaded (see `_llm_call`).

    litellm's handler reconnects once on a lost connection with a client of its own
    making, which would pass neither the egress policy nor the cap: here that reconnect
    fails as a connection error instead, and the step's retry policy (durable) decides."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: PLC0415

    class GuardedHandler(AsyncHTTPHandler):
        def __init__(self, http_client: httpx.AsyncClient) -> None:
            self._shared: httpx.AsyncClient | None = http_client
            super().__init__()  # asks `create_client` for its client: the shared one
            self._shared = None
            self.client = http_client  # not owned: `close()` leaves it open

        def create_client(self, *_: Any, **__: Any) -> httpx.AsyncClient:
            if self._shared is not None:
                return self._shared
            msg = "the connection was lost (the step's retry policy retries)"
            raise httpx.ConnectError(msg)

    return GuardedHandler
