"""`agent`: a language model that calls tools until it answers, one durable step per call.

The decider (`_decider/_agent.py`) runs the loop: a model-call step (dispatched to a
worker as node type `agent`), then one step per tool call (a `function` task, a child run
of a workflow, or a plugin/connector operation), then the next model call with the
results, until the model answers without tool calls. Every call is its own step with its
own events, so a crash resumes after the last finished call and time travel shows each
turn. This module holds the config and the node specs of those sub-steps: pure data.
"""

from datetime import timedelta
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from tideflow.core._definition import NodeSpec, RetryPolicy
from tideflow.core._durations import Duration
from tideflow.core._json_schema import schema_problem
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType
from tideflow.core.nodes._llm import check_model_provider

SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"  # noqa: S105 - the pattern of names
TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ITERATIONS = 50
TURN_NODE_TYPE = "agent"
"""The node type of a model-call step: what executors register the turn handler under."""
TOOL_RETRY = RetryPolicy(max_attempts=3)


def _check_schema(value: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    problem = None if value is None else schema_problem(value)
    if problem is not None:
        msg = f"{what} is not a valid JSON Schema: {problem}"
        raise ValueError(msg)
    return value


class AgentTool(NodeConfig):
    """A tool the model may call: exactly one of `workflow`, `task`, `operation`."""

    name: str = Field(pattern=TOOL_NAME)
    description: str = Field(min_length=1, max_length=4000)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    workflow: str | None = Field(default=None, min_length=1)
    task: str | None = Field(default=None, min_length=1)
    operation: str | None = Field(default=None, min_length=1)

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_schema(value, "inputSchema") or {}

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if sum(x is not None for x in (self.workflow, self.task, self.operation)) != 1:
            msg = f"tool {self.name!r}: set exactly one of workflow, task and operation"
            raise ValueError(msg)
        return self


class AgentConfig(NodeConfig):
    """The model, the conversation's start, the tools, and the budgets."""

    model: str = Field(min_length=1, description="litellm model name, e.g. openai/gpt-4o-mini")
    api_base: str | None = Field(default=None, description="OpenAI-compatible base URL")
    api_key_secret: str | None = Field(default=None, pattern=SECRET_NAME)
    system: str | None = None
    prompt: str = Field(min_length=1)
    tools: list[AgentTool] = Field(default_factory=list, max_length=128)
    max_iterations: int = Field(default=10, ge=1, le=MAX_ITERATIONS)
    token_budget: int | None = Field(default=None, ge=1, description="total tokens, all calls")
    time_budget: Duration | None = Field(default=None, description="wall time of the agent")
    output_schema: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, description="per model answer")

    @field_validator("model")
    @classmethod
    def _capped_provider(cls, value: str) -> str:
        return check_model_provider(value)

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_schema(value, "outputSchema")

    @field_validator("time_budget")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            msg = "timeBudget must be positive (0s ended the agent before its first call)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _unique_tools(self) -> Self:
        names = [t.name for t in self.tools]
        if len(names) != len(set(names)):
            msg = "tool names must be unique"
            raise ValueError(msg)
        return self


def turn_spec(agent: NodeSpec) -> NodeSpec:
    """The spec of the agent's model-call steps: the node's retry, timeout and queue."""
    return NodeSpec(
        id=agent.id, type=TURN_NODE_TYPE, config={}, retry=agent.retry, timeout=agent.timeout,
        queue=agent.queue,
    )  # fmt: skip


def tool_spec(agent: NodeSpec, tool: dict[str, Any], argument_names: list[str]) -> NodeSpec:
    """The spec of a step calling `tool` (its arguments are the step's `item`).

    A task gets the arguments as its input, a workflow as its run input; an operation
    (a plugin or connector node type) gets them as its config, one field per argument.
    """
    if tool.get("task"):
        node_type, config = "function", {"name": tool["task"], "input": "{{ item }}"}
    elif tool.get("workflow"):
        node_type, config = "subworkflow", {"workflow": tool["workflow"], "input": "{{ item }}"}
    else:
        node_type = str(tool.get("operation"))
        config = {name: f"{{{{ item[{_cel_string(name)}] }}}}" for name in argument_names}
    return NodeSpec(id=agent.id, type=node_type, config=config, retry=TOOL_RETRY,
                    queue=agent.queue)  # fmt: skip


def _cel_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


NODE_TYPE = NodeType(
    name="agent",
    execution=Execution.AGENT,
    config_model=AgentConfig,
    description="A language model that calls tools (tasks, workflows, operations) until it "
    "answers; every model and tool call is a durable step.",
)
