"""`tide k8s`: the Kubernetes manifests generated from the code (CRDs, operator RBAC)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Kubernetes: generate the CRDs and the operator's RBAC.")


@app.command()
def generate(
    out: Annotated[
        Path, typer.Option("--out", help="The deploy folder the files are written under.")
    ] = Path("deploy"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when a file is stale.")
    ] = False,
) -> None:
    """Write deploy/crds/*.yaml and deploy/rbac/operator-clusterrole.yaml from the models."""
    from tideflow.operator.crds import manifests, render

    stale: list[str] = []
    for relative, document in manifests().items():
        path = out / relative
        text = render(document)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(str(path))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        typer.secho(
            f"stale: {', '.join(stale)} (run `tide k8s generate`)", err=True, fg=typer.colors.RED
        )
        raise typer.Exit(code=1)
    typer.echo(f"{'wrote' if stale else 'up to date'}: {', '.join(stale) or str(out)}")
