"""Tables for people at a terminal, plain full-width rows for pipes and files.

A terminal gets a rich table whose id columns never shrink (an id cut to `0647324f-f…`
cannot be copied); anything else gets one line per row with columns separated by two
spaces and nothing cut, so `grep`, `awk` and `cut` see every character. `-o json` is
the format for programs; these rows are for people reading a log or a pager. A terminal
too narrow for the table (ids alone fill 80 columns) gets the rows too: a table would
squeeze the other columns to nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import RenderableType


@dataclass(frozen=True, slots=True)
class Cell:
    """A value and the colour a terminal shows it in (pipes get the bare value)."""

    text: str
    style: str = ""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    key: bool = False
    """An id people copy: never shortened, never wrapped."""


def is_terminal(*, stderr: bool = False) -> bool:
    stream = sys.stderr if stderr else sys.stdout
    return stream.isatty()


def _text(value: str | Cell) -> str:
    return value.text if isinstance(value, Cell) else value


def plain_rows(columns: Sequence[Column], rows: Sequence[Sequence[str | Cell]]) -> list[str]:
    """Space-aligned lines, header first; the last column is never padded."""
    table = [[c.name.upper() for c in columns], *([_text(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = []
    for line in table:
        cells = [value.ljust(widths[i]) for i, value in enumerate(line[:-1])]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    return lines


# The narrowest a wrapped column may get and still be read (a status, a folded time).
READABLE = 10


def fits(columns: Sequence[Column], rows: Sequence[Sequence[str | Cell]], width: int) -> bool:
    """Whether the table shows every column readably in `width` characters: key columns
    at their widest value, the others at `READABLE` (or their widest value if less)."""
    needed = 1  # the left border; each column adds its padding and a separator
    for index, column in enumerate(columns):
        widest = max([len(column.name), *(len(_text(row[index])) for row in rows)])
        needed += (widest if column.key else min(widest, READABLE)) + 3
    return needed <= width


def rich_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str | Cell]], *, title: str | None = None
) -> RenderableType:
    """A terminal table whose key columns are as wide as their longest value."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for index, column in enumerate(columns):
        if column.key:
            widest = max([len(column.name), *(len(_text(row[index])) for row in rows)])
            table.add_column(column.name, no_wrap=True, min_width=widest)
        else:
            table.add_column(column.name, overflow="fold")
    for row in rows:
        table.add_row(*(Text(v.text, v.style) if isinstance(v, Cell) else Text(v) for v in row))
    return table


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Cell]],
    *,
    title: str | None = None,
    stderr: bool = False,
) -> None:
    """A table at a terminal, plain rows elsewhere (`title` becomes a first line)."""
    if is_terminal(stderr=stderr):
        from rich.console import Console

        console = Console(stderr=stderr)
        if fits(columns, rows, console.width):
            console.print(rich_table(columns, rows, title=title))
            return
    if title:
        typer.echo(title, err=stderr)
    for line in plain_rows(columns, rows):
        typer.echo(line, err=stderr)
