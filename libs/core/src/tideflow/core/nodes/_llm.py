"""`llm`: one model call (litellm) made by a worker, optionally schema-validated.

Output `{text, json, usage: {promptTokens, completionTokens, totalTokens}, model,
costUsd}`. With `outputSchema` the answer must be JSON that validates; the worker asks
again with the errors up to `repairAttempts` times, then fails with `LLM_OUTPUT_INVALID`.
"""

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from tideflow.core._durations import Duration
from tideflow.core._json_schema import schema_problem
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType

SECRET_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"  # noqa: S105 - the pattern of names
MAX_REPAIR_ATTEMPTS = 10
UNCAPPED_PROVIDERS = frozenset({
    "vertex_ai", "vertex_ai_beta", "cohere", "cohere_chat", "replicate", "watsonx",
    "sagemaker", "sagemaker_chat", "deepinfra", "cerebras", "nvidia_nim", "sambanova",
    "baseten", "codestral",
})  # fmt: skip
"""Providers the workers refuse (`LlmProviderNotSupported`): litellm would read their
answers with a client of its own, past the egress policy and the response cap
(docs/nodes/llm.md). A model naming one as its prefix is refused when the definition is
validated; a model whose provider litellm infers (`command-r`) is refused at run time."""


def check_model_provider(model: str) -> str:
    """`model`, unless its `provider/` prefix is one the workers refuse."""
    provider, slash, _ = model.partition("/")
    if slash and provider in UNCAPPED_PROVIDERS and "{{" not in provider:
        msg = (
            f"provider {provider!r} is not supported: litellm would read its answers with a "
            "client of its own, past the egress policy and the response cap "
            "(see docs/nodes/llm.md for the supported providers)"
        )
        raise ValueError(msg)
    return model


class LlmMessage(NodeConfig):
    """One chat message; `content` may hold templates."""

    role: Literal["system", "user", "assistant"]
    content: str


class LlmConfig(NodeConfig):
    """Either `prompt` (one user message) or `messages`; `system` goes first."""

    model: str = Field(min_length=1, description="litellm model name, e.g. openai/gpt-4o-mini")
    api_base: str | None = Field(default=None, description="OpenAI-compatible base URL")
    api_key_secret: str | None = Field(
        default=None, pattern=SECRET_NAME, description="name of the secret holding the API key"
    )
    system: str | None = None
    prompt: str | None = None
    messages: list[LlmMessage] | None = Field(default=None, min_length=1)
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the answer must satisfy (parsed as JSON)"
    )
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    repair_attempts: int = Field(default=2, ge=0, le=MAX_REPAIR_ATTEMPTS)
    timeout: Duration | None = None

    @field_validator("model")
    @classmethod
    def _capped_provider(cls, value: str) -> str:
        return check_model_provider(value)

    @field_validator("output_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if value is None else schema_problem(value)
        if problem is not None:
            msg = f"outputSchema is not a valid JSON Schema: {problem}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.prompt is None) == (self.messages is None):
            msg = "set exactly one of prompt and messages"
            raise ValueError(msg)
        return self


NODE_TYPE = NodeType(
    name="llm",
    execution=Execution.DISPATCH,
    config_model=LlmConfig,
    description="Ask a language model (litellm); optionally validate its JSON answer.",
)
