"""Tideflow core: workflow definitions, expressions and the pure run state machine (no IO)."""

from tideflow.core._cel import (
    MAX_EXPRESSION_LENGTH,
    MAX_RESULT_BYTES,
    Scope,
    compile_expression,
    evaluate_expression,
)
from tideflow.core._definition import (
    API_VERSION,
    EdgeSpec,
    Join,
    Metadata,
    NodeSpec,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowSpec,
)
from tideflow.core._durations import Duration, format_duration, parse_duration
from tideflow.core._errors import (
    CoreError,
    DefinitionError,
    DurationError,
    ExpressionError,
    Problem,
    ProblemCode,
)
from tideflow.core._graph import Graph
from tideflow.core._templates import Rendered, render, resolve_secrets
from tideflow.core._validation import parse_definition, validate_definition, validate_input

__all__ = [
    "API_VERSION",
    "MAX_EXPRESSION_LENGTH",
    "MAX_RESULT_BYTES",
    "CoreError",
    "DefinitionError",
    "Duration",
    "DurationError",
    "EdgeSpec",
    "ExpressionError",
    "Graph",
    "Join",
    "Metadata",
    "NodeSpec",
    "Problem",
    "ProblemCode",
    "Rendered",
    "RetryPolicy",
    "Scope",
    "WorkflowDefinition",
    "WorkflowSpec",
    "compile_expression",
    "evaluate_expression",
    "format_duration",
    "parse_definition",
    "parse_duration",
    "render",
    "resolve_secrets",
    "validate_definition",
    "validate_input",
]
