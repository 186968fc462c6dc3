"""The web app's own checks, run by the suite: the generated API client matches the
gateway's OpenAPI document, the TypeScript compiles, and the vitest component tests pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit]

WEB = Path(__file__).resolve().parents[2] / "web"


def _npm(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None or not (WEB / "node_modules").is_dir():
        pytest.fail("Node.js dependencies are missing: run `bash scripts/install.sh`")
    return subprocess.run(
        [npx, *args], cwd=WEB, capture_output=True, text=True, timeout=timeout, check=False,
        env={"PATH": f"{Path(npx).parent}:/usr/bin:/bin", "TIDEFLOW_PYTHON": sys.executable,
             "CI": "true", "NO_COLOR": "1"},
    )  # fmt: skip


def test_the_generated_api_client_is_current():
    result = _npm("node", "scripts/gen-api.mjs", "--check")
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_typescript_compiles():
    result = _npm("tsc", "--noEmit")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_vitest_component_tests_pass():
    result = _npm("vitest", "run", "--reporter=dot")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
