"""What an edit changed, in words a reviewer reads: the unit of attribution.

Every update a person sends is recorded with the changes it made to the definition (a
node added, a config field changed, an edge removed, ...). A publish folds the changes
since the last version into "who changed what", for the version and the audit log.
Pure functions of two definitions; no IO.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Change = dict[str, Any]
"""`{"target": "node ocr" | "edge a->b" | "spec.input" | "metadata", "action":
"added" | "changed" | "removed", "fields": [...]}` (fields only for a changed node)."""

MAX_CHANGES = 200
"""Changes kept per update (a pasted graph of 1,000 nodes is summarised, not listed)."""


def _nodes(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec = definition.get("spec")
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if not isinstance(nodes, list):
        return {}
    return {str(n.get("id")): n for n in nodes if isinstance(n, dict)}


def _edges(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    spec = definition.get("spec")
    edges = spec.get("edges") if isinstance(spec, dict) else None
    if not isinstance(edges, list):
        return {}
    return {f"{e.get('from')}->{e.get('to')}": e for e in edges if isinstance(e, dict)}


def _node_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The fields that differ; config and ui by key (`config.url`), positions as `ui`."""
    fields: set[str] = set()
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "config" and isinstance(old, dict) and isinstance(new, dict):
            fields |= {f"config.{k}" for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        else:
            fields.add(key)
    return sorted(fields)


def _keyed(
    kind: str, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> list[Change]:
    removed = [
        {"target": f"{kind} {k}", "action": "removed"} for k in sorted(old.keys() - new.keys())
    ]
    added = [{"target": f"{kind} {k}", "action": "added"} for k in sorted(new.keys() - old.keys())]
    changed: list[Change] = []
    for key in sorted(old.keys() & new.keys()):
        if old[key] == new[key]:
            continue
        change: Change = {"target": f"{kind} {key}", "action": "changed"}
        if kind == "node":
            change["fields"] = _node_fields(old[key], new[key])
        changed.append(change)
    return removed + added + changed


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """The changes that turn `before` into `after`, nodes first, then edges, then the rest."""
    changes = _keyed("node", _nodes(before), _nodes(after))
    changes += _keyed("edge", _edges(before), _edges(after))
    changes += _rest(before, after)
    return changes[:MAX_CHANGES]


def _spec(definition: Mapping[str, Any]) -> dict[str, Any]:
    spec = definition.get("spec")
    return spec if isinstance(spec, dict) else {}


def _rest(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """Top-level keys and spec keys other than nodes and edges."""
    changes = [
        {"target": key, "action": _action(key, before, after)}
        for key in sorted((before.keys() | after.keys()) - {"spec"})
        if before.get(key) != after.get(key)
    ]
    old_spec, new_spec = _spec(before), _spec(after)
    changes += [
        {"target": f"spec.{key}", "action": _action(key, old_spec, new_spec)}
        for key in sorted((old_spec.keys() | new_spec.keys()) - {"nodes", "edges"})
        if old_spec.get(key) != new_spec.get(key)
    ]
    return changes


def _action(key: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    if key not in before:
        return "added"
    if key not in after:
        return "removed"
    return "changed"


def attribute(entries: Iterable[tuple[str, list[Change]]]) -> dict[str, list[Change]]:
    """Fold `(author, changes)` in log order into each author's changes, one per target.

    A target changed twice by one author is listed once: `added` then `changed` stays
    `added`, `added` then `removed` disappears, fields accumulate.
    """
    by_author: dict[str, dict[str, Change]] = {}
    for author, changes in entries:
        mine = by_author.setdefault(author, {})
        for change in changes:
            target = str(change["target"])
            seen = mine.get(target)
            if seen is None:
                mine[target] = dict(change)
            elif seen["action"] == "added" and change["action"] == "removed":
                del mine[target]
            elif seen["action"] == "added":
                continue
            elif change["action"] == "changed" and seen["action"] == "changed":
                fields = set(seen.get("fields", [])) | set(change.get("fields", []))
                if fields:
                    seen["fields"] = sorted(fields)
            else:
                mine[target] = dict(change)
    return {author: list(targets.values()) for author, targets in by_author.items() if targets}
