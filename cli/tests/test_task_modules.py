"""`-m my_tasks` finds `./my_tasks.py` as `python -m` would; a missing one is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TIDE = str(Path(sys.executable).with_name("tide"))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOWHERE = {"TIDEFLOW_DATABASE_URL": "postgresql://tideflow@127.0.0.1:9/tideflow",
           "TIDEFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:9"}  # fmt: skip
TASKS = "from tideflow.sdk import task\n\n@task('mine')\ndef mine(value):\n    return value\n"


def tide(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TIDE, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, **NOWHERE})  # fmt: skip


@pytest.mark.parametrize("command", [["dev", "--examples", "none"], ["serve", "executor"]])
def test_a_module_in_the_current_directory_is_found(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "my_tasks.py").write_text(TASKS)
    done = tide(tmp_path, *command, "-m", "my_tasks")
    # the module loaded, so the command went on to connect: the (absent) infra is what fails
    assert "MODULE_NOT_FOUND" not in done.stderr
    assert "Traceback" not in done.stderr
    assert "start it (`tide infra up`)" in done.stderr


@pytest.mark.parametrize("command", [["dev", "--examples", "none"], ["serve", "executor"]])
def test_a_missing_module_is_one_line(tmp_path: Path, command: list[str]) -> None:
    done = tide(tmp_path, *command, "-m", "my_taks")
    assert done.returncode == 2
    where = f"not in {tmp_path} nor among the installed packages"
    line = f"error MODULE_NOT_FOUND: no task module 'my_taks': {where}"
    assert done.stderr.splitlines() == [line]
    assert not (tmp_path / ".tideflow").exists()  # nothing was started before the check


def test_the_example_tasks_given_again_with_m_are_loaded_once(tmp_path: Path) -> None:
    """`tide dev` loads examples/example_tasks.py itself; `-m example_tasks` names it again."""
    done = tide(EXAMPLES, "dev", "--examples", ".", "--data-dir", str(tmp_path / "data"),
                "-m", "example_tasks")  # fmt: skip
    assert "Traceback" not in done.stderr
    assert "start it (`tide infra up`)" in done.stderr


@pytest.mark.parametrize("command", [["dev", "--examples", "none"], ["serve", "executor"]])
def test_two_functions_under_one_name_is_one_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "my_tasks.py").write_text(TASKS)
    (tmp_path / "their_tasks.py").write_text(TASKS.replace("return value", "return 2"))
    done = tide(tmp_path, *command, "-m", "my_tasks", "-m", "their_tasks")
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("error DUPLICATE_TASK: task 'mine' is registered twice: by my_tasks.")
    assert "their_tasks.mine" in line


@pytest.mark.parametrize("command", [["dev", "--examples", "none"], ["serve", "executor"]])
@pytest.mark.parametrize(
    ("source", "where", "last"),
    [
        (
            "import json\n\nraise RuntimeError('boom')\n",
            "line 3, in <module>",
            "RuntimeError: boom",
        ),
        ("def f(:\n    pass\n", "line 1", "SyntaxError: invalid syntax"),
    ],
    ids=["raises", "syntax"],
)
def test_a_module_that_fails_to_import_shows_only_its_own_trace(
    tmp_path: Path, command: list[str], source: str, where: str, last: str
) -> None:
    """A bug in the user's module was a 50-line traceback through typer and importlib."""
    (tmp_path / "my_tasks.py").write_text(source)
    done = tide(tmp_path, *command, "-m", "my_tasks")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == "error MODULE_FAILED: task module 'my_tasks' failed to import:"
    assert lines[1] == f'  File "{tmp_path / "my_tasks.py"}", {where}'
    assert lines[-1] == last
    assert "Traceback" not in done.stderr
    assert "importlib" not in done.stderr
    assert "typer" not in done.stderr
    assert not (tmp_path / ".tideflow").exists()
