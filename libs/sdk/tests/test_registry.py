"""Tasks are found by name and called the same way whether sync or async."""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from tideflow.sdk import (
    DEFAULT_REGISTRY,
    DuplicateTaskError,
    NonRetryableError,
    TaskContext,
    TaskError,
    TaskModuleNotFoundError,
    TaskRegistry,
    UnknownTaskError,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.unit

CTX = TaskContext(run_id="r1", node_id="n1", attempt=2)


async def test_async_and_sync_tasks_are_called_alike() -> None:
    registry = TaskRegistry()
    threads: list[str] = []

    @registry.task("async-add")
    async def async_add(value: int) -> int:
        return value + 1

    @registry.task("sync-add")
    def sync_add(value: int) -> int:
        threads.append(threading.current_thread().name)
        return value + 2

    assert await registry.call("async-add", 1, CTX) == 2
    assert await registry.call("sync-add", 1, CTX) == 3
    assert threads
    assert threads[0] != threading.main_thread().name  # sync code never blocks the loop


async def test_context_is_passed_to_tasks_that_ask_for_it() -> None:
    registry = TaskRegistry()

    @registry.task("who")
    def who(value: object, ctx: TaskContext) -> str:
        return f"{ctx.run_id}/{ctx.node_id}#{ctx.attempt}:{value}"

    assert await registry.call("who", "x", CTX) == "r1/n1#2:x"


async def test_unknown_task_names_the_known_ones() -> None:
    registry = TaskRegistry()
    registry.register("a", lambda v: v)
    with pytest.raises(UnknownTaskError, match=r"no task named 'b'.*known: a"):
        await registry.call("b", None, CTX)


def test_a_different_function_under_a_taken_name_is_one_clear_error() -> None:
    registry = TaskRegistry()
    registry.register("a", lambda v: v)
    with pytest.raises(DuplicateTaskError) as duplicate:
        registry.register("a", lambda v: v + 1)
    message = str(duplicate.value)
    assert "\n" not in message
    assert message.startswith("task 'a' is registered twice: by ")
    assert "test_registry.py:" in message
    assert message.endswith("give one of them another name")


def test_registering_the_same_function_again_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file imported under two module names (tide dev's examples, then -m)."""
    registry = TaskRegistry()

    def f(v: int) -> int:
        return v

    registry.register("f", f)
    registry.register("f", f)
    assert registry.names() == ["f"]

    source = tmp_path / "twice_mod.py"
    source.write_text("from tideflow.sdk import task\n@task('twice')\ndef f(v):\n    return v\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location("another_name_mod", source)
        assert spec is not None
        assert spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        TaskRegistry.load_modules(["twice_mod"])  # same functions, another module object
        assert "twice" in DEFAULT_REGISTRY.names()
    finally:
        sys.modules.pop("twice_mod", None)


def test_errors_carry_type_and_retry_decision() -> None:
    assert NonRetryableError("bad").retryable is False
    assert NonRetryableError("bad").error_type == "NonRetryableError"
    err = TaskError("flaky", error_type="Timeout")
    assert (err.error_type, err.retryable) == ("Timeout", True)


def test_modules_are_loaded_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user_tasks_mod.py").write_text(
        "from tideflow.sdk import task\n@task('from-module')\ndef f(v):\n    return v\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    TaskRegistry.load_modules(["user_tasks_mod"])
    assert "from-module" in DEFAULT_REGISTRY.names()
    sys.modules.pop("user_tasks_mod", None)


def test_modules_in_the_current_directory_are_found_as_python_m_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cwd_tasks_mod.py").write_text(
        "from tideflow.sdk import task\n@task('from-cwd')\ndef f(v):\n    return v\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "path_tasks_mod.py").write_text(
        "from tideflow.sdk import task\n@task('from-path')\ndef f(v):\n    return v\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in {"", "."}])
    try:
        TaskRegistry.load_modules(["cwd_tasks_mod", "sub/path_tasks_mod.py"])
        assert {"from-cwd", "from-path"} <= set(DEFAULT_REGISTRY.names())
    finally:
        sys.modules.pop("cwd_tasks_mod", None)
        sys.modules.pop("path_tasks_mod", None)


def test_a_missing_module_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_dep_mod.py").write_text("import surely_not_installed_dep\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(TaskModuleNotFoundError, match="no task module 'my_taks'") as missing:
        TaskRegistry.load_modules(["my_taks"])
    assert str(tmp_path) in str(missing.value)
    with pytest.raises(TaskModuleNotFoundError, match="imports 'surely_not_installed_dep'"):
        TaskRegistry.load_modules(["needs_dep_mod"])
    sys.modules.pop("needs_dep_mod", None)
