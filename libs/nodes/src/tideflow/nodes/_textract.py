"""Textract blocks -> the `ocr` node's output: text, lines, key-value pairs, tables.

Blocks reference each other by id (`Relationships`): a LINE or a CELL has WORD children,
a KEY has its VALUE, a TABLE its CELLs with row and column indexes.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]


def read_blocks(blocks: list[Block]) -> dict[str, Any]:
    """The output of an `ocr` step made of every block of a document (all pages)."""
    by_id = {b["Id"]: b for b in blocks if "Id" in b}
    lines = [
        {"text": b.get("Text", ""), "confidence": _confidence(b), "page": b.get("Page", 1)}
        for b in blocks
        if b.get("BlockType") == "LINE"
    ]
    pages = {b.get("Page", 1) for b in blocks if b.get("BlockType") == "PAGE"}
    pages |= {line["page"] for line in lines}
    return {
        "text": "\n".join(line["text"] for line in lines),
        "lines": lines,
        "keyValues": _key_values(blocks, by_id),
        "tables": _tables(blocks, by_id),
        "pages": max(pages, default=0),
    }


def _confidence(block: Block) -> float:
    return round(float(block.get("Confidence", 0.0)), 2)


def _related(block: Block, kind: str, by_id: dict[str, Block]) -> list[Block]:
    return [
        by_id[i]
        for rel in block.get("Relationships") or []
        if rel.get("Type") == kind
        for i in rel.get("Ids") or []
        if i in by_id
    ]


def _words(block: Block, by_id: dict[str, Block]) -> str:
    parts = []
    for child in _related(block, "CHILD", by_id):
        if child.get("BlockType") == "WORD":
            parts.append(child.get("Text", ""))
        elif child.get("BlockType") == "SELECTION_ELEMENT":
            parts.append("[X]" if child.get("SelectionStatus") == "SELECTED" else "[ ]")
    return " ".join(p for p in parts if p)


def _key_values(blocks: list[Block], by_id: dict[str, Block]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        if block.get("BlockType") != "KEY_VALUE_SET" or "KEY" not in block.get("EntityTypes", []):
            continue
        values = _related(block, "VALUE", by_id)
        out.append(
            {
                "key": _words(block, by_id),
                "value": " ".join(_words(v, by_id) for v in values).strip(),
                "confidence": _confidence(block),
                "page": block.get("Page", 1),
            }
        )
    return out


def _tables(blocks: list[Block], by_id: dict[str, Block]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        if block.get("BlockType") != "TABLE":
            continue
        cells = [c for c in _related(block, "CHILD", by_id) if c.get("BlockType") == "CELL"]
        rows = max((int(c.get("RowIndex", 1)) for c in cells), default=0)
        columns = max((int(c.get("ColumnIndex", 1)) for c in cells), default=0)
        grid = [["" for _ in range(columns)] for _ in range(rows)]
        for cell in cells:
            grid[int(cell.get("RowIndex", 1)) - 1][int(cell.get("ColumnIndex", 1)) - 1] = _words(
                cell, by_id
            )
        out.append({"page": block.get("Page", 1), "rows": grid})
    return out
