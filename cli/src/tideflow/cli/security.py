"""`tide tenant|token|user|secret|audit`: tenants, credentials, secrets and the audit log.

Thin over the REST API (docs/api.md): what the caller may do is decided by the gateway
from its token's role. `tide secret put` reads the value from `--value`, `--from-file` or
standard input, so it need not appear in the shell history.
"""

from __future__ import annotations

import sys
from pathlib import Path  # noqa: TC003 - typer reads the annotation
from typing import Annotated, Any
from urllib.parse import quote

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

tenant_app = typer.Typer(
    help="Tenants and their rate limits (platform admin).", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for machines.", no_args_is_help=True)
user_app = typer.Typer(help="Users (people) who log in.", no_args_is_help=True)
secret_app = typer.Typer(
    help="Secrets of the tenant (values are never shown).", no_args_is_help=True
)

RoleOption = Annotated[str, typer.Option("--role", help="viewer, editor, approver or admin.")]
TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="Default: the caller's tenant.", show_default=False),
]


def _show(output: str, body: Any, columns: list[Column], rows: list[list[str]]) -> None:
    if output == "json":
        print_json(body)
    else:
        print_table(columns, rows)


def _s(value: Any) -> str:
    return "-" if value is None else str(value)


# -- tenants --------------------------------------------------------------------------------


def _tenant_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [t["name"], _s(t.get("runStartsPerSecond")), _s(t.get("apiRequestsPerSecond"))]
        for t in items
    ]


TENANT_COLUMNS = [Column("name", key=True), Column("run starts/s"), Column("API requests/s")]


@tenant_app.command("create")
def tenant_create(
    name: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """Create a tenant."""
    with api_errors():
        body = connect(url, token).request("POST", "/tenants", json={"name": name})
    _show(output, body, TENANT_COLUMNS, _tenant_rows([body]))


@tenant_app.command("list")
def tenant_list(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """Every tenant with its limits (platform admin)."""
    with api_errors():
        body = connect(url, token).request("GET", "/tenants")
    _show(output, body, TENANT_COLUMNS, _tenant_rows(body["items"]))


@tenant_app.command("show")
def tenant_show(
    name: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """One tenant with its limits (a tenant admin may read its own; nothing is changed)."""
    with api_errors():
        body = connect(url, token).request("GET", f"/tenants/{quote(name, safe='')}/limits")
    _show(output, body, TENANT_COLUMNS, _tenant_rows([body]))


@tenant_app.command("limits")
def tenant_limits(
    name: str,
    run_starts: Annotated[
        float | None, typer.Option("--run-starts", help="Run starts per second.")
    ] = None,
    api_requests: Annotated[
        float | None, typer.Option("--api-requests", help="API requests per second.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Set a tenant's rate limits (an omitted one is removed: the default applies)."""
    body = {"runStartsPerSecond": run_starts, "apiRequestsPerSecond": api_requests}
    with api_errors():
        answer = connect(url, token).request("PUT", f"/tenants/{name}/limits", json=body)
    _show(output, answer, TENANT_COLUMNS, _tenant_rows([answer]))


# -- tokens ---------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    name: str,
    role: RoleOption,
    tenant: TenantOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Mint an API token; it is printed once and cannot be shown again."""
    body = {"name": name, "role": role} | ({"tenant": tenant} if tenant else {})
    with api_errors():
        answer = connect(url, token).request("POST", "/auth/tokens", json=body)
    if output == "json":
        print_json(answer)
        return
    typer.echo(f"token {answer['id']} ({answer['role']} in {answer['tenant']}); keep it now:")
    typer.echo(answer["token"])


@token_app.command("list")
def token_list(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """The tenant's tokens (never their secrets)."""
    with api_errors():
        body = connect(url, token).request("GET", "/auth/tokens")
    rows = [
        [t["id"], t["name"], t["tenant"], t["role"], t["createdAt"], _s(t.get("revokedAt"))]
        for t in body["items"]
    ]
    columns = [Column("id", key=True), Column("name"), Column("tenant"), Column("role"),
               Column("created"), Column("revoked")]  # fmt: skip
    _show(output, body, columns, rows)


@token_app.command("revoke")
def token_revoke(token_id: str, url: UrlOption = None, token: TokenOption = None) -> None:
    """Revoke a token at once."""
    with api_errors():
        connect(url, token).request("DELETE", f"/auth/tokens/{token_id}")
    typer.echo(f"revoked token {token_id}")


# -- users ----------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    username: str,
    role: RoleOption,
    password: Annotated[
        str | None,
        typer.Option(
            help="At least 8 characters. Without it: prompted for at a terminal, else the "
            "first line of stdin.",
            show_default=False,
        ),
    ] = None,
    tenant: TenantOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Create a user (the password is prompted for, or read from stdin, unless given)."""
    if password is None:
        password = _read_password()
    body = {"username": username, "password": password, "role": role}
    body |= {"tenant": tenant} if tenant else {}
    with api_errors():
        answer = connect(url, token).request("POST", "/users", json=body)
    columns = [Column("username", key=True), Column("tenant"), Column("role")]
    _show(output, answer, columns, [[answer["username"], answer["tenant"], answer["role"]]])


def _read_password() -> str:
    """Prompt twice at a terminal; from a pipe (`echo "$PW" | tide user create ...`) take the
    first line, as `tide secret put` takes stdin (a prompt there asked for a confirmation
    the pipe never sends, and aborted)."""
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        typer.secho("error PASSWORD_REQUIRED: give --password, or the password as the first "
                    "line of stdin", err=True, fg=typer.colors.RED)  # fmt: skip
        raise typer.Exit(code=2)
    return line


@user_app.command("list")
def user_list(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """The tenant's users."""
    with api_errors():
        body = connect(url, token).request("GET", "/users")
    columns = [Column("id", key=True), Column("username", key=True), Column("tenant"),
               Column("role"), Column("disabled"), Column("created")]  # fmt: skip
    rows = [
        [u["id"], u["username"], u["tenant"], u["role"], "yes" if u.get("disabled") else "no",
         u["createdAt"]]
        for u in body["items"]
    ]  # fmt: skip
    _show(output, body, columns, rows)


UserArgument = Annotated[str, typer.Argument(metavar="USER", help="A user's id or username.")]


def _user_id(client: Any, user: str) -> str:
    """The id of the tenant's user named `user` (an id or a username)."""
    for found in client.request("GET", "/users")["items"]:
        if user in {found["id"], found["username"]}:
            return str(found["id"])
    typer.secho(f"error USER_NOT_FOUND: no user {user!r} in this tenant", err=True, fg="red")
    raise typer.Exit(code=1)


@user_app.command("update")
def user_update(
    user: UserArgument,
    role: Annotated[str | None, typer.Option("--role", help="The new role.")] = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Disable (or enable again) the user."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Change a user's role or disable it; its next request on any service sees it."""
    body: dict[str, Any] = {"role": role} if role else {}
    body |= {} if disabled is None else {"disabled": disabled}
    if not body:
        typer.secho("error: give --role, --disable or --enable", err=True, fg="red")
        raise typer.Exit(code=2)
    with api_errors():
        client = connect(url, token)
        answer = client.request("PATCH", f"/users/{_user_id(client, user)}", json=body)
    columns = [Column("username", key=True), Column("role"), Column("disabled")]
    rows = [[answer["username"], answer["role"], "yes" if answer["disabled"] else "no"]]
    _show(output, answer, columns, rows)


@user_app.command("delete")
def user_delete(user: UserArgument, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete a user: its sessions end at its next request, on every service."""
    with api_errors():
        client = connect(url, token)
        user_id = _user_id(client, user)
        client.request("DELETE", f"/users/{user_id}")
    typer.echo(f"deleted user {user} ({user_id})")


# -- secrets --------------------------------------------------------------------------------


@secret_app.command("put")
def secret_put(
    name: str,
    value: Annotated[str | None, typer.Option(help="The value (prefer stdin or a file).")] = None,
    from_file: Annotated[Path | None, typer.Option("--from-file", exists=True)] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Store a secret, sealed with envelope encryption (reads stdin without --value)."""
    if value is None:
        value = from_file.read_text() if from_file else sys.stdin.read()
        value = value.removesuffix("\n")
    with api_errors():
        answer = connect(url, token).request("PUT", f"/secrets/{name}", json={"value": value})
    typer.echo(f"stored secret {answer['name']} (version {answer['version']})")


@secret_app.command("list")
def secret_list(
    url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """Names and metadata of the tenant's secrets."""
    with api_errors():
        body = connect(url, token).request("GET", "/secrets")
    columns = [Column("name", key=True), Column("version"), Column("source"), Column("updated"),
               Column("by")]  # fmt: skip
    rows = [
        [
            s["name"],
            _s(s.get("version")),
            s["source"],
            _s(s.get("updatedAt")),
            _s(s.get("updatedBy")),
        ]
        for s in body["items"]
    ]
    _show(output, body, columns, rows)


@secret_app.command("delete")
def secret_delete(name: str, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete a secret."""
    with api_errors():
        connect(url, token).request("DELETE", f"/secrets/{name}")
    typer.echo(f"deleted secret {name}")


# -- audit ----------------------------------------------------------------------------------


def audit(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="nextCursor of a previous page.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """The tenant's audit log, newest first."""
    with api_errors():
        body = connect(url, token).request(
            "GET", "/audit", params={"limit": limit, "cursor": cursor}
        )
    columns = [Column("at"), Column("actor"), Column("action"), Column("resource", key=True),
               Column("from")]  # fmt: skip
    rows = [
        [a["at"], a["actor"], a["action"], a["resource"], _s(a.get("source"))]
        for a in body["items"]
    ]
    _show(output, body, columns, rows)
    if output != "json" and body.get("nextCursor"):
        typer.echo(f"more: --cursor {body['nextCursor']}", err=True)


@secret_app.command("rewrap")
def secret_rewrap(
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate", help="First add a new key to the local key file and make it current."
        ),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="libpq URL. [env: TIDEFLOW_DATABASE_URL]"),
    ] = None,
) -> None:
    """Re-wrap every secret's data key under the current key-encryption key.

    Run after rotating the KEK (`--rotate` for the local key file; for KMS, point
    TIDEFLOW_SECURITY_KMS_KEY_ID at the new key). Old KEKs keep opening secrets meanwhile,
    so services keep running; ciphertexts are untouched, only wrapped data keys change.
    Talks to the database directly, as `tide db` does.
    """
    import asyncio

    from tideflow.auth import KeyProviderError, LocalKeyFile
    from tideflow.gateway.security import stored_secrets
    from tideflow.gateway.settings import SecuritySettings
    from tideflow.settings import DatabaseSettings
    from tideflow.store import APP_ROLE, PostgresEventStore, StoreError

    settings = SecuritySettings()
    url = database_url or DatabaseSettings().url
    if not settings.kms_key_id and not settings.key_file.is_file():
        # the services' keys are elsewhere: a new file here could open none of the secrets
        typer.secho(f"error KEY_FILE_NOT_FOUND: no key file at {settings.key_file}; set "
                    "TIDEFLOW_SECURITY_KEY_FILE to the one the services use "
                    "(tide dev: <data-dir>/keys/kek.json)", err=True, fg="red")  # fmt: skip
        raise typer.Exit(code=1)

    async def rewrap() -> tuple[str, int, int]:
        store = await PostgresEventStore.connect(url, max_size=2, role=APP_ROLE)
        try:
            secrets = stored_secrets(settings, store)
            provider = secrets.provider
            if rotate:
                if not isinstance(provider, LocalKeyFile):
                    raise typer.BadParameter("--rotate rotates the local key file only")
                provider.rotate()
            report = await secrets.rewrap_all()
            return provider.current_kek_id, report.rewrapped, report.skipped
        finally:
            await store.close()

    try:
        kek, rewrapped, skipped = asyncio.run(rewrap())
    except StoreError as e:
        typer.secho(f"error {type(e).__name__}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    except KeyProviderError as e:
        typer.secho(f"error KEY_UNAVAILABLE: {e}: {_key_hint(settings)}", err=True, fg="red")
        raise typer.Exit(code=1) from e
    typer.echo(f"current key {kek}: re-wrapped {rewrapped} secret(s), {skipped} changed meanwhile")


def _key_hint(settings: Any) -> str:
    """Where the key that failed should have come from."""
    if settings.kms_key_id:
        return f"the KMS key {settings.kms_key_id} cannot open it (TIDEFLOW_SECURITY_KMS_*)"
    return (
        f"{settings.key_file} does not hold it; set TIDEFLOW_SECURITY_KEY_FILE to the key "
        "file the services use (tide dev: <data-dir>/keys/kek.json)"
    )
