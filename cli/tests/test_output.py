"""Rows for pipes keep every character; a terminal table never shrinks an id column."""

from __future__ import annotations

import pytest
from rich.console import Console

from tideflow.cli._output import Cell, Column, plain_rows, print_table, rich_table

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


RUN_COLUMNS = [Column("run", key=True), Column("workflow", key=True), Column("version"),
               Column("status"), Column("started"), Column("ended"),
               Column("parent", key=True)]  # fmt: skip
STARTED = "2026-11-26T10:47:27.016661Z"


@pytest.mark.parametrize("width", [80, 100])
def test_a_table_too_wide_for_the_terminal_becomes_plain_rows(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tide run list` in an 80-column terminal: the ids alone fill the screen, so a table
    would squeeze the other columns to nothing (the status vanished); rows keep it all."""
    monkeypatch.setattr("tideflow.cli._output.is_terminal", lambda *, stderr=False: True)
    monkeypatch.setenv("COLUMNS", str(width))
    rows: list[list[str | Cell]] = [
        [RUN_ID, "order-approval", "1", Cell("waiting", "blue"), STARTED, "", RUN_ID]
    ]
    print_table(RUN_COLUMNS, rows)
    out = capsys.readouterr().out
    assert out.splitlines() == plain_rows(RUN_COLUMNS, rows)


def test_a_table_that_fits_stays_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("tideflow.cli._output.is_terminal", lambda *, stderr=False: True)
    monkeypatch.setenv("COLUMNS", "160")
    rows: list[list[str | Cell]] = [
        [RUN_ID, "order-approval", "1", Cell("waiting", "blue"), STARTED, "", ""]
    ]
    print_table(RUN_COLUMNS, rows)
    out = capsys.readouterr().out
    assert "waiting" in out
    assert STARTED in out
    assert "┃" in out or "│" in out
