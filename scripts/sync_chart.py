"""Copy the files the Helm chart ships from where their owners keep them.

A chart can only read files inside its own folder, so deploy/helm/tideflow holds copies of
  deploy/crds/*.yaml                 -> crds/       (the CRDs, generated from the models)
  deploy/grafana/dashboards/*.json   -> dashboards/ (one ConfigMap each)
  deploy/prometheus/ rule files      -> rules/      (the PrometheusRule; files with `groups`)

    python scripts/sync_chart.py          make the copies identical (adds, updates, removes)
    python scripts/sync_chart.py --check  exit 1 and list the differences instead

tests/deploy/test_helm_sync.py runs `--check`, so a changed source without a sync fails CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "tideflow"


def _rule_files(folder: Path) -> list[Path]:
    """Prometheus rule files: YAML whose top level has `groups` (not prometheus.yml)."""
    found = []
    for path in sorted([*folder.glob("**/*.yml"), *folder.glob("**/*.yaml")]):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict) and "groups" in document:
            found.append(path)
    return found


def expected() -> dict[str, dict[str, bytes]]:
    """Chart subfolder -> {file name: content} as the sources say it should be."""
    sources = {
        "crds": sorted((ROOT / "deploy" / "crds").glob("*.yaml")),
        "dashboards": sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")),
        "rules": _rule_files(ROOT / "deploy" / "prometheus"),
    }
    result: dict[str, dict[str, bytes]] = {}
    for folder, paths in sources.items():
        # rule files keep a .yml suffix in the chart: the template globs rules/*.yml
        names = [path.stem + ".yml" if folder == "rules" else path.name for path in paths]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise SystemExit(f"sync_chart: two sources for {folder}/{sorted(duplicates)}")
        result[folder] = {name: path.read_bytes() for name, path in zip(names, paths, strict=True)}
    return result


def differences(chart: Path = CHART) -> list[str]:
    """What differs between the chart's copies and the sources, one line each."""
    problems: list[str] = []
    for folder, files in expected().items():
        present = {p.name: p.read_bytes() for p in (chart / folder).glob("*") if p.is_file()}
        present.pop(".gitkeep", None)
        problems += [f"missing {folder}/{name}" for name in sorted(files.keys() - present.keys())]
        problems += [
            f"stale {folder}/{name} (no source)" for name in sorted(present.keys() - files.keys())
        ]
        problems += [
            f"outdated {folder}/{name}"
            for name in sorted(files.keys() & present.keys())
            if files[name] != present[name]
        ]
    return problems


def sync(chart: Path = CHART) -> list[str]:
    """Make the chart's copies match the sources; returns what was changed."""
    changed = differences(chart)
    for folder, files in expected().items():
        target = chart / folder
        target.mkdir(parents=True, exist_ok=True)
        for path in target.glob("*"):
            if path.is_file() and path.name != ".gitkeep" and path.name not in files:
                path.unlink()
        for name, content in files.items():
            if not (target / name).is_file() or (target / name).read_bytes() != content:
                (target / name).write_bytes(content)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, change nothing")
    args = parser.parse_args()
    if args.check:
        problems = differences()
        for problem in problems:
            print(f"sync_chart: {problem}", file=sys.stderr)
        if problems:
            print("sync_chart: run `python scripts/sync_chart.py`", file=sys.stderr)
        return 1 if problems else 0
    for change in sync():
        print(change)
    return 0


if __name__ == "__main__":
    sys.exit(main())
