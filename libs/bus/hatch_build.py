# ruff: noqa: INP001 - a build hook next to pyproject.toml, not part of a package
"""Generate the Python protobuf modules from /proto when the package is built.

The .proto files are the contract (other languages generate from the same files), so the
Python code is never edited or committed: every build, editable installs by `uv sync`
included, regenerates `src/tideflow/bus/_proto/` with grpc_tools' bundled protoc. protoc
names Python modules after the proto package (`tideflow.v1`), which would squat a public
name in the `tideflow` namespace, so the hook rewrites those imports to the private
`tideflow.bus._proto.v1` package; descriptor names stay `tideflow/v1/*.proto`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO_PACKAGE = "tideflow/v1"
TARGET_MODULE = "tideflow.bus._proto.v1"
IMPORT_RE = re.compile(r"^from tideflow\.v1 import ", re.MULTILINE)


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Runs protoc before hatchling collects the files of the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, _version: str, _build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        out = root / "src" / "tideflow" / "bus" / "_proto"
        generate(proto_root=_find_proto_root(root), out=out)


def _find_proto_root(package_root: Path) -> Path:
    """The repository's proto/ folder: two levels up in the workspace checkout."""
    for candidate in (package_root / "proto", package_root.parent.parent / "proto"):
        if (candidate / PROTO_PACKAGE).is_dir():
            return candidate
    raise FileNotFoundError(f"no {PROTO_PACKAGE} proto folder found from {package_root}")


def generate(*, proto_root: Path, out: Path) -> None:
    """Compile every proto under proto_root/tideflow/v1 into out/v1 (.py and .pyi)."""
    from grpc_tools import protoc  # noqa: PLC0415 - a build-only requirement

    sources = sorted((proto_root / PROTO_PACKAGE).glob("*.proto"))
    if not sources:
        raise FileNotFoundError(f"no .proto files in {proto_root / PROTO_PACKAGE}")
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"--proto_path={proto_root}",
            f"--proto_path={well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            *(str(source.relative_to(proto_root)) for source in sources),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed for {proto_root / PROTO_PACKAGE}")
        if out.exists():
            shutil.rmtree(out)
        (out / "v1").mkdir(parents=True)
        (out / "__init__.py").write_text('"""Generated from proto/ at build time."""\n')
        (out / "v1" / "__init__.py").write_text('"""Generated from proto/tideflow/v1."""\n')
        for generated in sorted((Path(tmp) / PROTO_PACKAGE).iterdir()):
            text = IMPORT_RE.sub(f"from {TARGET_MODULE} import ", generated.read_text())
            (out / "v1" / generated.name).write_text(text)
