"""The chart's copies of the CRDs, dashboards and alert rules match their sources.

A chart can only read files inside its folder, so scripts/sync_chart.py copies them from
deploy/crds, deploy/grafana/dashboards and deploy/prometheus; this fails when a source
changed without a sync (or a copy was edited by hand).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from .chart import CHART, NAMESPACE, RELEASE, REQUIRED, render
from .chart import helm as run_helm

pytestmark = pytest.mark.unit

FOLDERS = ("crds", "dashboards", "rules")


def load_script(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart", root / "scripts" / "sync_chart.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chart_copies_match_their_sources(root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/sync_chart.py", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_sync_repairs_every_kind_of_drift(root: Path, tmp_path: Path) -> None:
    script = load_script(root)
    chart = tmp_path / "chart"
    for folder in FOLDERS:
        shutil.copytree(root / "deploy" / "helm" / "tideflow" / folder, chart / folder)
    assert script.differences(chart) == []
    (chart / "crds" / "leftover.yaml").write_text("kind: CustomResourceDefinition\n")
    expected = script.expected()
    for folder, files in expected.items():
        for name in list(files)[:1]:
            (chart / folder / name).write_bytes(b"edited by hand")
    problems = script.differences(chart)
    assert "stale crds/leftover.yaml (no source)" in problems
    edited = sum(1 for files in expected.values() if files)
    assert sum(p.startswith("outdated ") for p in problems) == edited
    script.sync(chart)
    assert script.differences(chart) == []
    assert not (chart / "crds" / "leftover.yaml").exists()


def test_the_packaged_chart_carries_its_files(root: Path, tmp_path: Path) -> None:
    """`helm package` keeps the synced files (and drops the .gitkeep placeholders), and the
    package renders the same as the folder."""

    result = run_helm(tmp_path, "package", str(CHART), "--destination", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (package,) = tmp_path.glob("tideflow-*.tgz")
    with tarfile.open(package) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames()}
    for folder in FOLDERS:
        for path in (CHART / folder).iterdir():
            if path.name == ".gitkeep":
                assert f"{folder}/.gitkeep" not in names
            else:
                assert f"{folder}/{path.name}" in names
    assert "values.schema.json" in names
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from_folder = render(tmp_path / "a", REQUIRED)
    packaged = run_helm(
        tmp_path / "b",
        "template",
        RELEASE,
        str(package),
        "--namespace",
        NAMESPACE,
        "--include-crds",
        values=REQUIRED,
    )
    assert packaged.returncode == 0, packaged.stderr
    from_package = [doc for doc in yaml.safe_load_all(packaged.stdout) if doc]
    assert from_folder.documents
    assert {(d["kind"], d["metadata"]["name"]) for d in from_folder.documents} == {
        (d["kind"], d["metadata"]["name"]) for d in from_package
    }
