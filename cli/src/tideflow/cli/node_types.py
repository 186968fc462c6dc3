"""`tide node-types list`: the node types a server knows (built-ins, plugins, connectors).

By default it asks the gateway (`GET /node-types`): what matters is what the services
have installed. `--local` lists what this environment's `tideflow.node_types` entry
points declare, without a server (for plugin authors checking that their package loads).
Plugins that failed to load are listed after the types, one line each.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tideflow.cli._client import (
    OutputOption,
    TokenOption,
    UrlOption,
    api_errors,
    connect,
    print_json,
)
from tideflow.cli._output import Column, print_table

app = typer.Typer(help="Node types: what the palette offers and definitions may use.")

COLUMNS = (
    Column("type", key=True),
    Column("runs"),
    Column("category"),
    Column("source"),
    Column("description"),
)


def _local() -> dict[str, Any]:
    from tideflow.core import Execution
    from tideflow.plugins import load_registry

    registry = load_registry()
    items = [
        {
            "type": name,
            "runs": "inline" if t.execution is Execution.INLINE else (
                "worker" if t.execution is Execution.DISPATCH else "scheduler"
            ),
            "category": t.category or "core",
            "source": t.source,
            "description": t.description,
            "configSchema": t.json_schema(),
        }
        for name, t in registry.types.items()
    ]  # fmt: skip
    failures = [
        {"entryPoint": f.entry_point, "source": f.source, "nodeType": f.node_type, "error": f.error}
        for f in registry.failures
    ]
    return {"items": items, "failures": failures}


@app.command("list")
def list_(
    source: Annotated[
        str | None, typer.Option("--source", help="Only types from this source (e.g. builtin).")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="What this environment's plugins declare (no server).")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Every node type with where it runs and where it comes from; failed plugins last."""
    if local:
        listing = _local()
    else:
        with api_errors(), connect(url, token) as client:
            listing = client.request("GET", "/node-types")
    items = [i for i in listing.get("items", []) if source is None or i.get("source") == source]
    failures = listing.get("failures", [])
    if output == "json":
        print_json({"items": items, "failures": failures})
        return
    print_table(
        COLUMNS,
        [[i["type"], i.get("runs", ""), i.get("category", ""), i.get("source", ""),
          i.get("description", "")] for i in items],
    )  # fmt: skip
    for failure in failures:
        what = f" (type {failure['nodeType']!r})" if failure.get("nodeType") else ""
        typer.secho(
            f"plugin failed: {failure['entryPoint']} from {failure['source']}{what}: "
            f"{failure['error']}",
            err=True, fg=typer.colors.YELLOW,
        )  # fmt: skip
