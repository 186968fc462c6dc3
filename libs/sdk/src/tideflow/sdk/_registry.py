"""Task registration by name, and calling sync or async functions the same way."""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tideflow.sdk._errors import DuplicateTaskError

if TYPE_CHECKING:
    from tideflow.sdk._context import TaskContext

TaskFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Any])


class UnknownTaskError(LookupError):
    """A `function` node names a task no loaded module registered."""


class TaskModuleNotFoundError(ImportError):
    """A task module given with `--module` (or one it imports) cannot be found."""


class TaskModuleImportError(ImportError):
    """A task module was found but raised while being imported (a bug in it): the message
    is one line saying so, then the module's own part of the traceback."""


class TaskRegistry:
    """Name -> function. A name belongs to one function.

    Registering the same function again is a no-op, also when its module was imported a
    second time under another name (`tide dev` loads `examples/example_tasks.py` itself,
    and `-m example_tasks` imports the same file again): "the same" means defined at the
    same place in the same file. A different function under a taken name is a
    `DuplicateTaskError` naming both.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFunction] = {}

    def register(self, name: str, function: TaskFunction) -> None:
        existing = self._tasks.get(name)
        if existing is not None and _origin(existing) != _origin(function):
            raise DuplicateTaskError(
                f"task {name!r} is registered twice: by {_describe(existing)} and by "
                f"{_describe(function)}; give one of them another name"
            )
        self._tasks[name] = function

    def task(self, name: str) -> Callable[[F], F]:
        """Decorator form of `register`."""

        def decorate(function: F) -> F:
            self.register(name, function)
            return function

        return decorate

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def get(self, name: str) -> TaskFunction:
        try:
            return self._tasks[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownTaskError(
                f"no task named {name!r} is registered (known: {known})"
            ) from None

    @staticmethod
    def load_modules(modules: list[str]) -> None:
        """Import user modules so their `@task` decorators run.

        Like `python -m`, the current directory is searched first, so `-m my_tasks` finds
        `./my_tasks.py`; a path to a `.py` file works too. A module that cannot be found
        is a `TaskModuleNotFoundError` whose message is the one line to show.
        """
        for module in modules:
            _import_task_module(module)

    async def call(self, name: str, value: Any, context: TaskContext) -> Any:
        """Call a task with the node's input; sync functions run in a worker thread."""
        function = self.get(name)
        kwargs: dict[str, Any] = {}
        if _takes_ctx(function):
            kwargs["ctx"] = context
        if inspect.iscoroutinefunction(function):
            return await function(value, **kwargs)
        result = await asyncio.to_thread(function, value, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def _origin(function: TaskFunction) -> tuple[object, ...]:
    """Where a function was defined: equal for two imports of one file's function."""
    code = getattr(function, "__code__", None)
    if code is None:  # a callable object, a partial: only the object itself is the same
        return ("object", id(function))
    filename = str(Path(code.co_filename).resolve())
    return (filename, code.co_firstlineno, getattr(function, "__qualname__", ""))


def _describe(function: TaskFunction) -> str:
    code = getattr(function, "__code__", None)
    name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
    if code is None:
        return name
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


@functools.lru_cache(maxsize=4096)
def _takes_ctx(function: TaskFunction) -> bool:
    """Whether a task wants its context; `inspect.signature` costs ~0.3 ms per call."""
    return "ctx" in inspect.signature(function).parameters


def _import_task_module(module: str) -> None:
    """Import a module name or `.py` path, its folder (the current one by default) first."""
    folder, name = Path.cwd(), module
    if module.endswith(".py"):
        path = Path(module).resolve()
        folder, name = path.parent, path.stem
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing = e.name or name
        if name == missing or name.startswith(missing + "."):
            raise TaskModuleNotFoundError(
                f"no task module {module!r}: not in {folder} nor among the installed packages",
                name=module,
            ) from None
        raise TaskModuleNotFoundError(
            f"task module {module!r} imports {missing!r}, which is not installed", name=missing
        ) from e
    except DuplicateTaskError:
        raise  # the registry's own refusal: its message says it all
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything at import
        raise TaskModuleImportError(_import_failure(module, e), name=module) from None


def _import_failure(module: str, error: BaseException) -> str:
    """What went wrong in the user's module: its frames only, not importlib's or ours."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<")
        and frame.filename not in {__file__, importlib.__file__}
    ]
    lines = [*traceback.format_list(frames), *traceback.format_exception_only(error)]
    return f"task module {module!r} failed to import:\n" + "".join(lines).rstrip()


DEFAULT_REGISTRY = TaskRegistry()


def task(name: str) -> Callable[[F], F]:
    """Register a function in the default registry under `name`."""
    return DEFAULT_REGISTRY.task(name)
