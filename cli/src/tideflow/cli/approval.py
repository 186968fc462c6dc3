"""`tide approval`: the approval inbox: list, show, approve, reject.

The approval API is served by the approval service (`tide serve approval`), or by the one
`tide dev` process; `--url` / `TIDEFLOW_APPROVAL_URL` point at it, else `TIDEFLOW_URL`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from tideflow.cli._client import (
    CursorOption,
    OutputOption,
    TokenOption,
    api_errors,
    connect,
    more_hint,
    print_json,
)
from tideflow.cli._output import Cell, Column, print_table

if TYPE_CHECKING:
    from tideflow.client import Client

app = typer.Typer(help="Human approvals: list the inbox, show one, approve or reject.")

ApprovalUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Approval API address. [env: TIDEFLOW_APPROVAL_URL, else TIDEFLOW_URL]",
        show_default=False,
    ),
]
CommentOption = Annotated[str | None, typer.Option("--comment", "-c", help="Why.")]
STATUS_STYLE = {"pending": "blue", "decided": "green", "expired": "yellow", "cancelled": "dim"}


def _api(url: str | None, token: str | None) -> Client:
    """`--url` is the approval API's address here (else TIDEFLOW_APPROVAL_URL, TIDEFLOW_URL)."""
    return connect(None, token, approvals_url=url)


def _who(approval: dict[str, Any]) -> str:
    parts = []
    if approval.get("assignees"):
        parts.append(", ".join(approval["assignees"]))
    if approval.get("role"):
        parts.append(f"role {approval['role']}")
    quorum = approval.get("quorum", 1)
    if quorum > 1:
        parts.append(f"{quorum} needed")
    return "; ".join(parts) or "approvers"


def _outcome(approval: dict[str, Any]) -> Cell:
    status = approval.get("status", "")
    text = status if not approval.get("decision") else f"{status}: {approval['decision']}"
    return Cell(text, STATUS_STYLE.get(status, ""))


LIST_COLUMNS = (
    Column("approval", key=True),
    Column("workflow"),
    Column("run", key=True),
    Column("node"),
    Column("title"),
    Column("who"),
    Column("votes"),
    Column("status"),
)
VOTE_COLUMNS = (Column("by"), Column("decision"), Column("comment"), Column("at"))


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="pending, decided, expired, cancelled.")
    ] = "pending",
    workflow: Annotated[str | None, typer.Option("--workflow", "-w")] = None,
    run: Annotated[str | None, typer.Option("--run", "-r")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    all_statuses: Annotated[bool, typer.Option("--all", help="Every status.")] = False,
    cursor: CursorOption = None,
    url: ApprovalUrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Approvals, newest first (pending ones unless told otherwise)."""
    with api_errors(), _api(url, token) as client:
        page = client.approvals.list(
            status=None if all_statuses else status,
            workflow_id=workflow,
            run_id=run,
            limit=limit,
            cursor=cursor,
        ).to_json()
    if output == "json":
        print_json(page)
        return
    rows = [
        [
            item["id"],
            item["workflowId"],
            item["runId"],
            item["nodeId"],
            item.get("title") or "",
            _who(item),
            f"{len(item.get('decisions', []))}/{item.get('quorum', 1)}",
            _outcome(item),
        ]
        for item in page.get("items", [])
    ]
    print_table(LIST_COLUMNS, rows)
    more_hint(page)


@app.command()
def show(
    approval_id: str,
    url: ApprovalUrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """One approval with every vote cast."""
    with api_errors(), _api(url, token) as client:
        approval = client.approvals.get(approval_id).to_json()
    if output == "json":
        print_json(approval)
        return
    typer.echo(f"approval {approval['id']}  {_outcome(approval).text}")
    for label, key in (("title", "title"), ("description", "description"),
                       ("workflow", "workflowId"), ("run", "runId"), ("node", "nodeId"),
                       ("requested", "requestedAt"), ("expires", "expiresAt"),
                       ("decided by", "decidedBy"), ("comment", "comment")):  # fmt: skip
        if approval.get(key):
            typer.echo(f"{label:>12}: {approval[key]}")
    typer.echo(f"{'who':>12}: {_who(approval)}")
    votes = [
        [v["by"], v["decision"], v.get("comment") or "", v["decidedAt"]]
        for v in approval.get("decisions", [])
    ]
    if votes:
        print_table(VOTE_COLUMNS, votes)


def _decide(
    approval_id: str, decision: Literal["approve", "reject"], comment: str | None,
    url: str | None, token: str | None, output: str,
) -> None:  # fmt: skip
    with api_errors(), _api(url, token) as client:
        approval = client.approvals.decide(approval_id, decision, comment=comment).to_json()
    if output == "json":
        print_json(approval)
        return
    typer.echo(f"{approval['id']}: {approval['status']}"
               + (f" ({approval['decision']})" if approval.get("decision") else
                  f" ({len(approval['decisions'])} of {approval['quorum']} votes)"))  # fmt: skip


@app.command()
def approve(
    approval_id: str,
    comment: CommentOption = None,
    url: ApprovalUrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Approve (counts towards the quorum)."""
    _decide(approval_id, "approve", comment, url, token, output)


@app.command()
def reject(
    approval_id: str,
    comment: CommentOption = None,
    url: ApprovalUrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Reject (one rejection rejects)."""
    _decide(approval_id, "reject", comment, url, token, output)
