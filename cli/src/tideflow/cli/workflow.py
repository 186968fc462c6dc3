"""`tide workflow`: validate offline, apply drafts, publish and roll back versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from tideflow.core import NodeTypes, Problem

app = typer.Typer(help="Workflow definitions: validate, apply, publish, roll back.")

FileOption = Annotated[
    Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help="YAML or JSON file.")
]


def load_document(path: Path) -> dict[str, Any]:
    """A definition file as a mapping (YAML is a superset of JSON, so one parser reads both)."""
    import yaml

    from tideflow.cli._yaml import load_yaml

    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        typer.secho(f"error INVALID_YAML: {path}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from e
    except RecursionError:
        typer.secho(f"error INVALID_YAML: {path} nests too deep to be read", err=True,
                    fg=typer.colors.RED)  # fmt: skip
        raise typer.Exit(code=2) from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        typer.secho(f"error INVALID_YAML: cannot read {path}: {reason}", err=True, fg="red")
        raise typer.Exit(code=2) from e
    if not isinstance(document, dict):
        typer.secho(f"error INVALID_DEFINITION: {path} is not a mapping", err=True, fg="red")
        raise typer.Exit(code=2)
    return document


@app.command()
def validate(file: FileOption, output: OutputOption = "table") -> None:
    """Check a definition offline: every problem is listed; exit 1 when there is one.

    The checks are the server's: the definition's own, its references to other nodes
    (`UNKNOWN_NODE_REFERENCE`, `NODE_NOT_UPSTREAM`), then the publish policy of the
    operator's settings in this environment (`TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS`,
    `TIDEFLOW_KAFKA_TOPIC_PREFIX`), with the node types installed here.
    """
    from tideflow.core import policy_applies, reference_problems, validate_definition
    from tideflow.plugins import load_registry

    document = load_document(file)
    types = load_registry().types  # built-ins and plugins, as a server would check them
    problems = validate_definition(document, types) + reference_problems(document, types)
    if policy_applies(document, types):  # the settings are read only when they matter
        problems += _policy_problems(document, types)
    if output == "json":
        print_json([
            {"code": str(p.code), "path": p.path, "message": p.message}
            | ({"node": p.node} if p.node else {})
            for p in problems
        ])  # fmt: skip
    elif problems:
        print_table(
            [Column("code", key=True), Column("path", key=True), Column("problem")],
            [[str(p.code), p.path, p.message] for p in problems],
            title=f"{file}: {len(problems)} problem(s)",
            stderr=True,
        )
    else:
        typer.secho(f"{file}: valid", fg=typer.colors.GREEN)
    if problems:
        raise typer.Exit(code=1)


def _policy_problems(document: dict[str, Any], types: NodeTypes) -> list[Problem]:
    """The publish policy's problems under this environment's operator settings."""
    from tideflow.core import PublishPolicy, policy_problems
    from tideflow.settings import EgressSettings, KafkaSettings

    egress = EgressSettings()
    policy = PublishPolicy(
        tuple(egress.aws_endpoint_hosts),
        egress.aws_endpoint_allowed,
        topic_prefix=KafkaSettings().topic_prefix,
    )
    return policy_problems(document, policy, types)


@app.command()
def apply(
    file: FileOption,
    publish: Annotated[bool, typer.Option("--publish", help="Publish after saving.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Create the workflow, or replace its draft when it exists; optionally publish."""
    document = load_document(file)
    name = str(document.get("metadata", {}).get("name", ""))
    with api_errors(), connect(url, token) as client:
        applied = client.workflows.apply(document, publish=publish)
    action = applied.action
    result: dict[str, Any] = {"workflow": applied.workflow.to_json(), "action": action}
    if applied.published is not None:
        result["published"] = applied.published.to_json()
    if output == "json":
        print_json(result)
        return
    typer.echo(f"workflow {name} {action}")
    if publish:
        typer.echo(_published_line(name, result["published"]))


def _published_line(name: str, published: dict[str, Any]) -> str:
    if published.get("created", True):
        return f"published {name} version {published['version']}"
    return f"{name} is unchanged since version {published['version']}: nothing published"


@app.command("list")
def list_(url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table") -> None:
    """Every workflow of the tenant with its newest version."""
    with api_errors(), connect(url, token) as client:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:  # every page: a tenant may have more workflows than one page holds
            listed = client.workflows.list(limit=500, cursor=cursor).to_json()
            items.extend(listed.get("items", []))
            cursor = listed.get("nextCursor")
            if not cursor:
                break
    if output == "json":
        print_json({"items": items, "nextCursor": None})
        return
    print_table(
        [Column("id", key=True), Column("latest version"), Column("updated")],
        [
            [item["id"], str(item.get("latestVersion") or "-"), item.get("updatedAt", "")]
            for item in items
        ],
    )


@app.command()
def get(
    workflow: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """One workflow: its published versions and its draft (as written, in YAML)."""
    with api_errors(), connect(url, token) as client:
        found = client.workflows.get(workflow).to_json()
        found["versions"] = [v.to_json() for v in client.workflows.versions(workflow)]
    if output == "json":
        print_json(found)
        return
    import yaml

    latest = found.get("latestVersion")
    typer.echo(f"workflow {found['id']}  latest version {latest or '-'}  "
               f"draft revision {found.get('revision')}"
               + ("  archived" if found.get("archived") else ""))  # fmt: skip
    typer.echo("")
    _print_versions(found["versions"])
    typer.echo("\ndraft:")
    typer.echo(yaml.safe_dump(found.get("definition"), sort_keys=False, allow_unicode=True))


def _print_versions(items: list[dict[str, Any]]) -> None:
    print_table(
        [Column("version"), Column("published"), Column("by"), Column("rollback of")],
        [
            [
                str(item["version"]),
                item.get("publishedAt", ""),
                item.get("publishedBy") or "",
                str(item.get("rollbackOf") or ""),
            ]
            for item in items
        ],
    )


@app.command("publish")
def publish_(
    workflow: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """Freeze the current draft as a new immutable version."""
    with api_errors(), connect(url, token) as client:
        result = client.workflows.publish(workflow).to_json()
    if output == "json":
        print_json(result)
    else:
        typer.echo(_published_line(workflow, result))


@app.command()
def versions(
    workflow: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """The published versions, newest first."""
    with api_errors(), connect(url, token) as client:
        result = {"items": [v.to_json() for v in client.workflows.versions(workflow)]}
    if output == "json":
        print_json(result)
        return
    _print_versions(result.get("items", []))


@app.command()
def rollback(
    workflow: str,
    version: int,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Publish an older version again as the newest; the draft becomes that version too."""
    with api_errors(), connect(url, token) as client:
        result = client.workflows.rollback(workflow, version).to_json()
    if output == "json":
        print_json(result)
    else:
        typer.echo(
            f"{workflow}: version {version} republished as {result['version']} "
            "(the draft is now that version too)"
        )
