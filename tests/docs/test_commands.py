"""Every `tide ...` command the docs name exists.

A doc that tells a user to run `tide secret set` when the command is `tide secret put`
sends them to an error; this walks the real command tree for each one the docs mention.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tideflow.cli.main import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND = re.compile(r"`(?:\S*/)?tide ([a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*)?)")


def mentioned() -> list[tuple[str, str]]:
    found = {
        (str(path.relative_to(ROOT)), words)
        for path in DOCS
        for words in COMMAND.findall(path.read_text(encoding="utf-8"))
    }
    return sorted(found)


@cache
def root() -> Any:
    return typer.main.get_command(app)


def resolves(words: str) -> bool:
    """The first word must be a command; under a group, so must the second."""
    command = root()
    for word in words.split():
        commands = getattr(command, "commands", None)
        if commands is None:
            return True  # an argument of a leaf command
        sub = commands.get(word)
        if sub is None:
            return False
        command = sub
    return True


def test_the_docs_mention_commands() -> None:
    assert len(mentioned()) > 20


@pytest.mark.parametrize(("doc", "words"), mentioned())
def test_a_documented_command_exists(doc: str, words: str) -> None:
    assert resolves(words), f"{doc} names `tide {words}`, which the CLI does not have"
