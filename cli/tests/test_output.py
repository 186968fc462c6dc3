"""Rows for pipes keep every character; a terminal table never shrinks an id column."""

from __future__ import annotations

import pytest
from rich.console import Console

from tideflow.cli._output import Cell, Column, plain_rows, rich_table

pytestmark = pytest.mark.unit

RUN_ID = "0647324f-f3b1-4c7e-9d52-3c1f1e9e2a10"
LONG = '{"data": "' + "x" * 300 + '"}'


def test_plain_rows_are_aligned_and_never_cut() -> None:
    lines = plain_rows(
        [Column("run", key=True), Column("status"), Column("data")],
        [[RUN_ID, Cell("succeeded", "green"), LONG], ["r-2", "failed", "{}"]],
    )
    assert lines[0].split() == ["RUN", "STATUS", "DATA"]
    assert lines[1] == f"{RUN_ID}  succeeded  {LONG}"
    assert lines[2].startswith("r-2" + " " * (len(RUN_ID) - 3) + "  failed")


def test_terminal_table_keeps_ids_whole_on_a_narrow_screen() -> None:
    console = Console(width=60, record=True, color_system=None)
    columns = [Column("run", key=True), Column("workflow"), Column("data")]
    console.print(rich_table(columns, [[RUN_ID, "invoice-intake", LONG]]))
    text = console.export_text()
    assert RUN_ID in text
    assert "…" not in text
    assert text.count("x") == 300  # long data is wrapped, not dropped
