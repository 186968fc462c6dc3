"""One model turn of an `agent` (node type `agent`) against the scripted local server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tideflow.nodes import AgentTurnHandler, EgressPolicy, StepFailure, StepSuccess, TaskSpec
from tideflow.nodes.testing import FakeLlmServer, FakeReply

pytestmark = pytest.mark.unit

TOOLS = [{"type": "function", "function": {"name": "look", "description": "d",
                                           "parameters": {"type": "object"}}}]  # fmt: skip


def turn(url: str, **extra: Any) -> TaskSpec:
    config = {"model": "openai/fake-model", "apiBase": url, "tools": TOOLS,
              "messages": [{"role": "user", "content": "hi"}], **extra}  # fmt: skip
    return TaskSpec("r", "a.turn[1]", 1, "agent", config, timeout=timedelta(seconds=10))


async def test_tool_calls_come_back_with_parsed_arguments_and_the_message_to_resend() -> None:
    reply = FakeReply(content="", tool_calls=[{"id": "c1", "name": "look", "arguments": {"q": 1}}])
    with FakeLlmServer([reply]) as llm:
        handler = AgentTurnHandler(policy=EgressPolicy(allow_loopback=True))
        outcome = await handler.run(turn(llm.url, maxTokens=50))
    assert isinstance(outcome, StepSuccess)
    output = outcome.output
    assert output["toolCalls"] == [{"id": "c1", "name": "look", "arguments": {"q": 1}}]
    assert output["message"]["tool_calls"][0]["function"]["name"] == "look"
    assert output["usage"] == {"promptTokens": 11, "completionTokens": 7, "totalTokens": 18}
    [sent] = llm.requests
    assert sent["json"]["tools"] == TOOLS
    assert sent["json"]["max_tokens"] == 50


async def test_arguments_that_are_not_json_are_reported_not_raised() -> None:
    with FakeLlmServer([FakeReply(content="", tool_calls=[{"id": "c", "name": "look"}])]) as llm:
        handler = AgentTurnHandler(policy=EgressPolicy(allow_loopback=True))
        outcome = await handler.run(turn(llm.url))
    assert isinstance(outcome, StepSuccess)
    assert outcome.output["toolCalls"][0]["arguments"] == {}
    from tideflow.nodes._agent import turn_output
    from tideflow.nodes._llm_call import ModelReply, ToolCall, Usage

    broken = ModelReply(text="", tool_calls=(ToolCall("c", "look", "{oops"),), usage=Usage(),
                        model="m", cost_usd=0.0, finish_reason=None, message={})  # fmt: skip
    call = turn_output(broken)["toolCalls"][0]
    assert call["arguments"] is None
    assert "{oops" in call["argumentsError"]


@pytest.mark.parametrize(("status", "error_type", "retryable"),
                         [(429, "LlmRateLimited", True), (401, "LlmAuthError", False)])  # fmt: skip
async def test_provider_errors_keep_their_class(
    status: int, error_type: str, retryable: bool
) -> None:
    with FakeLlmServer([FakeReply(status=status)]) as llm:
        outcome = await AgentTurnHandler(policy=EgressPolicy(allow_loopback=True)).run(
            turn(llm.url)
        )
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (error_type, retryable)


async def test_the_egress_policy_applies_to_api_base() -> None:
    outcome = await AgentTurnHandler(policy=EgressPolicy()).run(turn("http://127.0.0.1:9/v1"))
    assert isinstance(outcome, StepFailure)
    assert outcome.error_type == "EgressDenied"


async def test_a_provider_answering_endlessly_fails_the_turn_for_good() -> None:
    """The agent's model calls go through the guarded, capped transport as the llm node's."""
    with FakeLlmServer([FakeReply(endless=True)]) as llm:
        handler = AgentTurnHandler(policy=EgressPolicy(allow_loopback=True), response_bytes=1 << 18)
        try:
            outcome = await handler.run(turn(llm.url))
        finally:
            await handler.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "LlmResponseTooLarge"
    assert not outcome.retryable
