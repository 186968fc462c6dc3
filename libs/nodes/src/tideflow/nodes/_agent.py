"""One model call of an `agent` step (node type `agent`): the turn the decider asked for.

The scheduler sends the whole request of the turn (messages so far, tools); this handler
makes the call (`call_model`, shared with the `llm` node) and returns the assistant's
message with its tool calls, their arguments parsed from the model's JSON text. Which
tool runs, with what, and what comes next is decided by the core (`_decider/_agent.py`),
so a crash between calls never repeats a finished one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from tideflow.nodes._egress import EgressDenied, EgressPolicy, GuardedTransport, check_url
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.nodes._llm import DEFAULT_TIMEOUT_S, NO_KEY
from tideflow.nodes._llm_call import ModelCallError, ModelReply, ModelRequest, call_model
from tideflow.settings import EgressSettings

if TYPE_CHECKING:
    from tideflow.nodes._llm import SecretLookup


class AgentTurnHandler:
    node_type = "agent"

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        secrets: SecretLookup | None = None,
        extra: dict[str, Any] | None = None,
        response_bytes: int | None = None,
    ) -> None:
        settings = EgressSettings()
        self._policy = policy or EgressPolicy.from_settings(settings)
        self._secrets = secrets
        self._extra = dict(extra or {})
        # as the llm node: connections checked, the provider's answer capped
        cap = response_bytes or int(settings.response_bytes)
        self._http = httpx.AsyncClient(
            transport=GuardedTransport(self._policy, response_bytes=cap), trust_env=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        api_base = config.get("apiBase") or None
        if api_base is not None:
            try:
                await check_url(self._policy, str(api_base))
            except EgressDenied as e:
                return StepFailure("EgressDenied", f"apiBase: {e}", retryable=False)
        api_key = None
        if name := config.get("apiKeySecret"):
            found = await self._secrets.secrets(task.tenant_id) if self._secrets else {}
            api_key = found.get(str(name))
            if api_key is None:
                message = f"apiKeySecret: there is no secret named {name!r}"
                return StepFailure("SecretNotFound", message, retryable=False)
        model = str(config["model"])
        if api_key is None and api_base:  # never the worker's key to a server the workflow names
            api_key = NO_KEY
        timeout = task.timeout.total_seconds() if task.timeout else DEFAULT_TIMEOUT_S
        request = ModelRequest(
            model=model, messages=list(config.get("messages") or []),
            api_base=str(api_base) if api_base else None, api_key=api_key,
            temperature=config.get("temperature"), max_tokens=config.get("maxTokens"),
            timeout_s=timeout, tools=config.get("tools") or None, extra=self._extra,
            http_client=self._http,
        )  # fmt: skip
        try:
            reply = await call_model(request)
        except ModelCallError as e:
            return StepFailure(
                e.error_type, str(e), retryable=e.retryable, details={"status": e.status}
            )
        return StepSuccess(turn_output(reply))


def turn_output(reply: ModelReply) -> dict[str, Any]:
    """The step output the decider reads: the message to send back, and the calls."""
    calls: list[dict[str, Any]] = []
    for call in reply.tool_calls:
        entry: dict[str, Any] = {"id": call.id, "name": call.name}
        try:
            entry["arguments"] = json.loads(call.arguments or "{}")
        except ValueError as e:
            entry["arguments"] = None
            entry["argumentsError"] = f"{e}: {call.arguments[:200]}"
        calls.append(entry)
    return {
        "text": reply.text,
        "message": reply.message,
        "toolCalls": calls,
        "usage": reply.usage.as_output(),
        "model": reply.model,
        "costUsd": round(reply.cost_usd, 8),
        "finishReason": reply.finish_reason,
    }
