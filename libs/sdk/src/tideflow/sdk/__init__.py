"""The worker SDK: register Python functions that `function` nodes call.

```python
from tideflow.sdk import task

@task("add-one")
async def add_one(value: int) -> int:
    return value + 1
```

`tide serve executor --module my.tasks` imports the module, which registers its tasks in
the default registry; the executor then calls them by name with the node's evaluated
`input`. Raise `NonRetryableError` for failures a retry cannot fix; any other exception is
retried according to the node's retry policy. `Workflow("name")...` builds definition
documents in Python. docs/sdk.md is the guide.
"""

from tideflow.sdk._builder import Retry, Tool, Workflow, WorkflowBuildError
from tideflow.sdk._context import TASK_LOGGER, Heartbeats, TaskContext
from tideflow.sdk._errors import (
    DuplicateTaskError,
    NonRetryableError,
    TaskCancelledError,
    TaskError,
)
from tideflow.sdk._registry import (
    DEFAULT_REGISTRY,
    TaskFunction,
    TaskModuleImportError,
    TaskModuleNotFoundError,
    TaskRegistry,
    UnknownTaskError,
    task,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "TASK_LOGGER",
    "DuplicateTaskError",
    "Heartbeats",
    "NonRetryableError",
    "Retry",
    "TaskCancelledError",
    "TaskContext",
    "TaskError",
    "TaskFunction",
    "TaskModuleImportError",
    "TaskModuleNotFoundError",
    "TaskRegistry",
    "Tool",
    "UnknownTaskError",
    "Workflow",
    "WorkflowBuildError",
    "task",
]
