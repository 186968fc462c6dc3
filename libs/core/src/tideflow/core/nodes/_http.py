"""`http`: an HTTP request made by a worker.

Output `{status, headers, body}` (body parsed when JSON; `headers` holds only the ones
`responseHeaders` names). Workers report 5xx, 429 and connection errors as retryable and
other 4xx as not; the core only applies the policy.
"""

from typing import Any, Literal

from pydantic import Field

from tideflow.core._durations import Duration
from tideflow.core.nodes._base import Execution, NodeConfig, NodeType


class HttpConfig(NodeConfig):
    """A request; every string may hold templates, including `{{ secrets.x }}`."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, Any] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    timeout: Duration | None = None
    response_headers: list[str] = Field(default_factory=list)
    """Response headers kept in the output (`["*"]`: all); none by default."""


NODE_TYPE = NodeType(
    name="http",
    execution=Execution.DISPATCH,
    config_model=HttpConfig,
    description="Call an HTTP endpoint from a worker.",
)
