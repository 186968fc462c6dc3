"""A typed client of the Tideflow REST API, synchronous (`Client`) and asyncio (`AsyncClient`).

```python
from tideflow.client import Client

with Client("http://127.0.0.1:8080", token="...") as tide:
    run = tide.runs.start("hello", {"name": "Ada"})
    done = tide.runs.wait(run.run_id, timeout=60)
    print(done.status, done.output)
```

Errors are `ApiError` subclasses by HTTP status (`NotFoundError`, `ConflictError`, ...)
whose `code` is the API's stable code (`ErrorCode.RUN_NOT_FOUND`, ...). Calls are retried
on connection failures when that is safe (see docs/sdk.md#the-client).
"""

from tideflow.client._async import AsyncClient
from tideflow.client._calls import UNSET, Call, Definition, SupportsDefinition
from tideflow.client._errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ConnectionFailedError,
    ErrorCode,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    UnauthenticatedError,
    UnavailableError,
    WaitTimeoutError,
)
from tideflow.client._http import DEFAULT_URL, NO_RETRIES, Retries
from tideflow.client._models import (
    TERMINAL_STATUSES,
    Accepted,
    ApiModel,
    Applied,
    Approval,
    Event,
    EventPage,
    Page,
    Problem,
    Published,
    Run,
    RunState,
    RunSummary,
    StepView,
    ValidationResult,
    VersionList,
    Vote,
    Workflow,
    WorkflowSummary,
    WorkflowVersion,
)
from tideflow.client._sync import Client

__all__ = [
    "DEFAULT_URL",
    "NO_RETRIES",
    "TERMINAL_STATUSES",
    "UNSET",
    "Accepted",
    "ApiError",
    "ApiModel",
    "Applied",
    "Approval",
    "AsyncClient",
    "BadRequestError",
    "Call",
    "Client",
    "ConflictError",
    "ConnectionFailedError",
    "Definition",
    "ErrorCode",
    "Event",
    "EventPage",
    "ForbiddenError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "Problem",
    "Published",
    "RateLimitedError",
    "Retries",
    "Run",
    "RunState",
    "RunSummary",
    "ServerError",
    "StepView",
    "SupportsDefinition",
    "UnauthenticatedError",
    "UnavailableError",
    "ValidationResult",
    "VersionList",
    "Vote",
    "WaitTimeoutError",
    "Workflow",
    "WorkflowSummary",
    "WorkflowVersion",
]
