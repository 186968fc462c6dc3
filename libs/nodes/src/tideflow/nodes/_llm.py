"""`llm` nodes: a model call, and with `outputSchema` a validated JSON answer.

An answer that is not JSON, or does not satisfy the schema, is sent back to the model
with the errors, up to `repairAttempts` times; then the step fails with
`LLM_OUTPUT_INVALID` (not retryable: the repairs were the retries). Usage and cost add up
over every call of the step. The API key is read from the secret `apiKeySecret` names,
here in the worker only; `apiBase` must pass the egress policy.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from tideflow.nodes._egress import EgressDenied, EgressPolicy, GuardedTransport, check_url
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.nodes._json_answer import NotJson, parse_answer, schema_errors
from tideflow.nodes._llm_call import ModelCallError, ModelReply, ModelRequest, Usage, call_model
from tideflow.settings import EgressSettings, parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping

OUTPUT_INVALID = "LLM_OUTPUT_INVALID"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_REPAIRS = 2
NO_KEY = "none"


class SecretLookup(Protocol):
    """The executor's secret source (values of one tenant's secrets, by name)."""

    async def secrets(self, tenant_id: str) -> Mapping[str, str]: ...


class LlmHandler:
    node_type = "llm"

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
        # the provider's answer is read through the guarded transport, capped: a hostile
        # or broken endpoint answering gigabytes (or never ending) fails the step
        cap = response_bytes or int(settings.response_bytes)
        self._http = httpx.AsyncClient(
            transport=GuardedTransport(self._policy, response_bytes=cap), trust_env=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        try:
            request = await self._request(task)
        except _Invalid as e:
            return StepFailure(e.error_type, str(e), retryable=False)
        except EgressDenied as e:
            return StepFailure("EgressDenied", f"apiBase: {e}", retryable=False)
        schema = config.get("outputSchema")
        repairs = int(config.get("repairAttempts", DEFAULT_REPAIRS))
        usage = Usage()
        cost = 0.0
        messages = list(request.messages)
        errors: list[str] = []
        for _ in range(repairs + 1):
            try:
                reply = await call_model(_with_messages(request, messages))
            except ModelCallError as e:
                return StepFailure(
                    e.error_type, str(e), retryable=e.retryable, details={"status": e.status}
                )
            usage += reply.usage
            cost += reply.cost_usd
            value, errors = _check(reply.text, schema)
            if not errors:
                return StepSuccess(_output(reply, value, usage, cost))
            messages += [reply.message, {"role": "user", "content": _repair_prompt(errors)}]
        return StepFailure(
            OUTPUT_INVALID,
            f"the model's answer did not satisfy outputSchema after {repairs} repair "
            f"attempt(s): {'; '.join(errors)}",
            retryable=False,
            details={"errors": errors, "text": reply.text, "usage": usage.as_output(),
                     "costUsd": cost},
        )  # fmt: skip

    async def _request(self, task: TaskSpec) -> ModelRequest:
        config = task.config
        api_base = config.get("apiBase") or None
        if api_base is not None:
            await check_url(self._policy, str(api_base))
        api_key = None
        if name := config.get("apiKeySecret"):
            found = await self._secrets.secrets(task.tenant_id) if self._secrets else {}
            api_key = found.get(str(name))
            if api_key is None:
                msg = f"apiKeySecret: there is no secret named {name!r}"
                raise _Invalid("SecretNotFound", msg)
        model = str(config["model"])
        if api_key is None and api_base:
            # a placeholder, never the worker's own provider key (OPENAI_API_KEY, ...):
            # litellm would send that to whatever server the workflow names; local
            # OpenAI-compatible servers (vLLM, Ollama) need none, the client wants one
            api_key = NO_KEY
        timeout = _seconds(config.get("timeout"), DEFAULT_TIMEOUT_S)
        if task.timeout is not None:
            timeout = min(timeout, task.timeout.total_seconds())
        return ModelRequest(
            model=model,
            messages=_messages(config),
            api_base=str(api_base) if api_base else None,
            api_key=api_key,
            temperature=config.get("temperature"),
            max_tokens=config.get("maxTokens"),
            timeout_s=timeout,
            extra=self._extra,
            http_client=self._http,
        )


class _Invalid(Exception):  # noqa: N818 - carries a step error type
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _messages(config: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if config.get("system"):
        out.append({"role": "system", "content": str(config["system"])})
    if config.get("prompt") is not None:
        out.append({"role": "user", "content": str(config["prompt"])})
    else:
        out += [
            {"role": str(m["role"]), "content": str(m["content"])}
            for m in config.get("messages") or []
        ]
    if schema := config.get("outputSchema"):
        out.insert(
            len(out) - 1 if out and out[-1]["role"] == "user" else len(out),
            {"role": "system", "content": _schema_instruction(schema)},
        )
    return out


def _schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with a single JSON value and nothing else. It must validate against this "
        f"JSON Schema:\n{json.dumps(schema, indent=2, sort_keys=True)}"
    )


def _repair_prompt(errors: list[str]) -> str:
    listed = "\n".join(f"- {e}" for e in errors)
    return (
        "Your answer is not valid:\n"
        f"{listed}\n"
        "Reply again with only the corrected JSON value, satisfying the schema."
    )


def _check(text: str, schema: dict[str, Any] | None) -> tuple[Any, list[str]]:
    """The answer's JSON value and what is wrong with it (nothing without a schema)."""
    try:
        value = parse_answer(text)
    except NotJson as e:
        return None, ([str(e)] if schema is not None else [])
    return value, (schema_errors(value, schema) if schema is not None else [])


def _with_messages(request: ModelRequest, messages: list[dict[str, Any]]) -> ModelRequest:
    return replace(request, messages=messages)


def _output(reply: ModelReply, value: Any, usage: Usage, cost: float) -> dict[str, Any]:
    return {
        "text": reply.text,
        "json": value,
        "usage": usage.as_output(),
        "model": reply.model,
        "costUsd": round(cost, 8),
    }


def _seconds(value: Any, default: float) -> float:
    parsed = parse_duration(value) if value is not None else None
    return parsed.total_seconds() if isinstance(parsed, timedelta) else default
