"""README.md and docs/*.md point only at things that exist.

Every relative link (and its `#anchor`) must resolve, and every repository path written
in backticks (`deploy/helm/`, `examples/hello.yaml`, ...) must exist, unless the line
says the thing is planned. Paths git ignores (built or created at run time, like
`.venv/bin/tide`) are not checked. Docs describe what exists; this keeps them honest.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
TOP_LEVEL = ("libs/", "services/", "cli/", "docs/", "examples/", "deploy/", "bench/", "tests/",
             "scripts/", "proto/", "web/", ".github/", ".ci/")  # fmt: skip
ROOT_FILES = ("README.md", "docker-compose.yml", "pyproject.toml", "uv.lock", "conftest.py")
PLACEHOLDER = re.compile(r"[<>{}*$…]|\.\.\.|\s")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks (commands in them are examples, not claims)."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        match = HEADING.match(line)
        if match:
            base = slug(match[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def ignored(path: str) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    return done.returncode == 0


def is_repo_path(token: str) -> bool:
    if PLACEHOLDER.search(token) or token.startswith(("http://", "https://", "/")):
        return False
    return token.startswith(TOP_LEVEL) or token in ROOT_FILES


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT)}:{number}: [{target}]"
            if not resolved.exists():
                problems.append(f"{where} -> no {resolved.relative_to(ROOT)}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.append(f"{where} -> no heading #{anchor} in {resolved.name}")
    return problems


def missing_paths(path: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(path):
        if "planned" in line.lower():
            continue
        for token in CODE.findall(line):
            candidate = token.split("#")[0].split(":")[0].rstrip(".,;")
            if not is_repo_path(candidate) or ignored(candidate):
                continue
            if not (ROOT / candidate).exists():
                problems.append(f"{path.relative_to(ROOT)}:{number}: `{token}` does not exist")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_anchors_resolve(doc: Path) -> None:
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_exist_or_are_marked_planned(doc: Path) -> None:
    assert missing_paths(doc) == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "__probe__.md"
    doc.write_text(
        "# Probe\n\n[ok](../README.md) [gone](nothing.md) [anchor](#probe) [bad](#nope)\n"
        "`deploy/nowhere/` is here.\n`deploy/helm/` (planned), `.venv/bin/tide`\n"
    )
    try:
        links = broken_links(doc)
        paths = missing_paths(doc)
    finally:
        doc.unlink()
    assert [p.split(": ", 1)[1] for p in links] == [
        "[nothing.md] -> no docs/nothing.md",
        "[#nope] -> no heading #nope in __probe__.md",
    ]
    assert len(paths) == 1
    assert "`deploy/nowhere/`" in paths[0]
