"""One chat-model call through litellm, as a typed result or a classified error.

Shared by the `llm` node and anything that drives a model turn by turn (the `agent`
node): messages (and tools) in; text, tool calls, token usage and cost out. Provider
errors become `ModelCallError` with a stable `error_type` and whether retrying can help:
rate limits (429), server errors (5xx), timeouts and lost connections can; bad
credentials, bad requests and an answer over the response cap (`LlmResponseTooLarge`,
read through the guarded transport) cannot. litellm's own retries are off: the engine's retry
policy (durable, with backoff) decides.

litellm is imported on first use: importing it takes seconds, and without
`LITELLM_LOCAL_MODEL_COST_MAP` every import fetches the price list from the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tideflow.nodes import _metrics as metrics
from tideflow.nodes._capped import ResponseTooLarge
from tideflow.nodes._egress import EgressDenied
from tideflow.nodes._llm_providers import ProviderMisconfigured, ProviderRefused, provider_client

if TYPE_CHECKING:
    from types import ModuleType

    import httpx

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_E = TypeVar("_E", bound=BaseException)

TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500
REQUEST_TIMEOUT = 408
UNAUTHORIZED = 401
FORBIDDEN = 403


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    def as_output(self) -> dict[str, int]:
        return {
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
            "totalTokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function the model asked to call; `arguments` is the model's JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """What to send. `api_key` is a resolved secret value: never log or store it."""

    model: str
    messages: list[dict[str, Any]]
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Further litellm parameters (e.g. `top_p`, or `mock_response` to answer offline)."""
    http_client: httpx.AsyncClient | None = field(default=None, repr=False)
    """The httpx client the call goes through (the egress policy's `GuardedTransport`, so
    every connection, redirects included, is checked and the answer capped), in the form
    the provider takes (`_llm_providers`); a provider that takes none is refused."""


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    model: str
    cost_usd: float
    finish_reason: str | None
    message: dict[str, Any]
    """The assistant message as sent back in a follow-up request (with its tool calls)."""


class ModelCallError(Exception):
    """A call that failed; `retryable` says whether the same call could succeed later."""

    def __init__(
        self, error_type: str, message: str, *, retryable: bool, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.status = status


def _litellm() -> ModuleType:
    import litellm  # noqa: PLC0415 - slow import, deferred to the first model call

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


async def call_model(request: ModelRequest) -> ModelReply:
    """One completion; raises `ModelCallError` for every failure of the provider."""
    litellm = _litellm()
    params: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "num_retries": 0,
        "max_retries": 0,
    }
    optional = {
        "api_base": request.api_base,
        "api_key": request.api_key,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "timeout": request.timeout_s,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
    }
    params |= {k: v for k, v in optional.items() if v is not None}
    params |= request.extra
    if request.http_client is not None and "mock_response" not in params:
        client = _client(litellm, request)
        if client is not None:
            params["client"] = client
    try:
        response = await litellm.acompletion(**params)
    except Exception as e:
        error = classify(e)
        metrics.LLM_CALLS.labels(request.model, error.error_type).inc()
        raise error from e
    reply = _reply(litellm, response, request.model)
    metrics.LLM_CALLS.labels(request.model, "ok").inc()
    metrics.LLM_TOKENS.labels(reply.model, "prompt").inc(reply.usage.prompt_tokens)
    metrics.LLM_TOKENS.labels(reply.model, "completion").inc(reply.usage.completion_tokens)
    metrics.LLM_COST.labels(reply.model).inc(reply.cost_usd)
    return reply


def _client(litellm: ModuleType, request: ModelRequest) -> Any:
    """The provider's client over the guarded `request.http_client`; a provider that
    cannot be reached through it is refused before any request (not retried)."""
    assert request.http_client is not None  # noqa: S101 - call_model checked it
    try:
        return provider_client(
            litellm, request.http_client, model=request.model, api_base=request.api_base,
            api_key=request.api_key, api_version=request.extra.get("api_version"),
            timeout_s=request.timeout_s,
        )  # fmt: skip
    except ProviderRefused as e:
        error = ModelCallError("LlmProviderNotSupported", str(e), retryable=False)
    except ProviderMisconfigured as e:
        error = ModelCallError(e.error_type, str(e), retryable=False)
    metrics.LLM_CALLS.labels(request.model, error.error_type).inc()
    raise error


def _reply(litellm: ModuleType, response: Any, asked: str) -> ModelReply:
    try:
        choice = response.choices[0]
        message = choice.message
    except (AttributeError, IndexError, TypeError) as e:
        msg = f"the provider's answer has no choices: {e}"
        raise ModelCallError("LlmBadResponse", msg, retryable=True) from e
    raw_usage = getattr(response, "usage", None)
    usage = Usage(
        int(getattr(raw_usage, "prompt_tokens", 0) or 0),
        int(getattr(raw_usage, "completion_tokens", 0) or 0),
        int(getattr(raw_usage, "total_tokens", 0) or 0),
    )
    calls = tuple(
        ToolCall(
            id=str(call.id),
            name=str(call.function.name),
            arguments=str(call.function.arguments or "{}"),
        )
        for call in (getattr(message, "tool_calls", None) or [])
    )
    text = str(message.content or "")
    sent: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        sent["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    return ModelReply(
        text=text,
        tool_calls=calls,
        usage=usage,
        model=str(getattr(response, "model", None) or asked),
        cost_usd=_cost(litellm, response),
        finish_reason=getattr(choice, "finish_reason", None),
        message=sent,
    )


def _cost(litellm: ModuleType, response: Any) -> float:
    """The price of the call per litellm's local price list; 0 for models it has no price
    for (local and self-hosted models)."""
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # noqa: BLE001 - an unknown price is not an error of the call
        return 0.0


def _cause(error: BaseException, kind: type[_E]) -> _E | None:
    """The `kind` error behind a provider error (the SDKs wrap it), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify(error: Exception) -> ModelCallError:  # noqa: PLR0911 - one return per class
    """A provider error as a stable type and whether a retry can help."""
    from litellm import exceptions as ex  # noqa: PLC0415 - see the module docstring

    denied = _cause(error, EgressDenied)
    if denied is not None:
        return ModelCallError("EgressDenied", str(denied), retryable=False)
    too_large = _cause(error, ResponseTooLarge)
    if too_large is not None:  # the same call to the same endpoint answers the same way
        return ModelCallError("LlmResponseTooLarge", str(too_large), retryable=False)
    status = getattr(error, "status_code", None)
    status = status if isinstance(status, int) else None
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, ex.Timeout) or status == REQUEST_TIMEOUT:
        return ModelCallError("LlmTimeout", text, retryable=True, status=status)
    if isinstance(error, ex.RateLimitError) or status == TOO_MANY_REQUESTS:
        return ModelCallError("LlmRateLimited", text, retryable=True, status=status)
    if isinstance(error, ex.AuthenticationError | ex.PermissionDeniedError) or status in {
        UNAUTHORIZED,
        FORBIDDEN,
    }:
        return ModelCallError("LlmAuthError", text, retryable=False, status=status)
    if isinstance(error, ex.APIConnectionError):
        return ModelCallError("LlmConnectionError", text, retryable=True, status=status)
    if status is not None and status >= SERVER_ERROR:
        return ModelCallError("LlmProviderError", text, retryable=True, status=status)
    if isinstance(error, ex.BadRequestError | ex.NotFoundError | ex.UnprocessableEntityError) or (
        status is not None and status < SERVER_ERROR
    ):
        return ModelCallError("LlmBadRequest", text, retryable=False, status=status)
    return ModelCallError("LlmError", text, retryable=True, status=status)
