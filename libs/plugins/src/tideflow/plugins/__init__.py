"""Node types from plugins (the `tideflow.node_types` entry point group).

See docs/plugins.md. Plugin authors use `NodeTypeSpec`, `Runs`, `NodeContext` and
`NodeError`; services call `load_registry()` once at start and pass the registry on.
"""

from tideflow.plugins._registry import (
    ENTRY_POINT_GROUP,
    LoadFailure,
    NodeTypeRegistry,
    core_type,
    load_registry,
)
from tideflow.plugins._spec import (
    TASK_LOGGER,
    InlineHandler,
    NodeContext,
    NodeError,
    NodeTypeSpec,
    NotDeclared,
    Runs,
    WorkerHandler,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "TASK_LOGGER",
    "InlineHandler",
    "LoadFailure",
    "NodeContext",
    "NodeError",
    "NodeTypeRegistry",
    "NodeTypeSpec",
    "NotDeclared",
    "Runs",
    "WorkerHandler",
    "core_type",
    "load_registry",
]
