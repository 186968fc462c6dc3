"""Credentials over HTTP: API tokens, users, login, refresh rotation, JWKS, HTTP Basic,
secrets (sealed at rest, never returned), the audit log and per-tenant rate limits."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import jwt
import pytest

from tideflow.auth import LocalKeyFile

from .security_stack import ADMIN, Stack, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(store, tmp_path_factory) -> AsyncIterator[Stack]:
    built, close = await start_stack(store, tmp_path_factory.mktemp("keys"))
    yield built
    await close()


async def test_an_api_token_is_shown_once_stored_hashed_and_revoked_at_once(
    stack: Stack, dsn: str
) -> None:
    token_id, token = await stack.new_token("acme", "viewer")
    assert (await stack.call("GET", "/runs", token)).status_code == 200
    listed = (await stack.call("GET", "/auth/tokens", stack.tenants["acme"].tokens["admin"])).json()
    assert token not in str(listed)
    owner = await asyncpg.connect(dsn)
    try:
        stored = await owner.fetchval(
            "SELECT secret_hash FROM api_tokens WHERE token_id = $1", token_id
        )
    finally:
        await owner.close()
    assert stored
    assert stored not in token
    assert token.split("_", 2)[2] not in stored
    revoked = await stack.call("DELETE", f"/auth/tokens/{token_id}", ADMIN)
    assert revoked.status_code == 204
    refused = await stack.call("GET", "/runs", token)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert refused.headers["www-authenticate"].startswith("Bearer")


async def _user(stack: Stack, username: str, role: str = "editor") -> None:
    body = {"username": username, "password": "correct-horse-9", "tenant": "acme", "role": role}
    created = await stack.call("POST", "/users", ADMIN, json=body)
    assert created.status_code == 201, created.text
    assert "correct-horse-9" not in created.text


async def test_login_gives_a_jwt_that_the_jwks_verifies(stack: Stack) -> None:
    await _user(stack, "ann")
    login = await stack.client.post(
        "/auth/login", json={"username": "ann", "password": "correct-horse-9"}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["expiresIn"] == 900
    access = tokens["accessToken"]
    jwks = (await stack.client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(access)["kid"]]
    claims = jwt.decode(access, key.key, algorithms=["ES256"], issuer="tideflow")
    assert (claims["tenant"], claims["role"], claims["name"]) == ("acme", "editor", "ann")
    assert claims["exp"] - claims["iat"] == 900
    runs = await stack.call("GET", "/runs", access)
    assert runs.status_code == 200
    assert stack.tenants["beta"].run_id not in runs.text
    for wrong in ({"username": "ann", "password": "nope"}, {"username": "nobody", "password": "x"}):
        refused = await stack.client.post("/auth/login", json=wrong)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"


async def _login(stack: Stack, username: str) -> dict[str, str]:
    await _user(stack, username)
    login = await stack.client.post(
        "/auth/login", json={"username": username, "password": "correct-horse-9"}
    )
    assert login.status_code == 200, login.text
    return dict(login.json())


async def _refresh(stack: Stack, token: str) -> httpx.Response:
    return await stack.client.post("/auth/refresh", json={"refreshToken": token})


async def _family(dsn: str, refresh_token: str) -> list[asyncpg.Record]:
    owner = await asyncpg.connect(dsn)
    try:
        return list(
            await owner.fetch(
                "SELECT token_id, used_at, revoked_at, successor_sealed FROM refresh_tokens "
                "WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_id = $1) "
                "ORDER BY issued_at, token_id",
                refresh_token.split("_")[1],
            )
        )
    finally:
        await owner.close()


async def _backdate_use(dsn: str, refresh_token: str, by: timedelta) -> None:
    """As if the token had been used `by` earlier: the grace window is behind it."""
    owner = await asyncpg.connect(dsn)
    try:
        await owner.execute(
            "UPDATE refresh_tokens SET used_at = used_at - $2::interval WHERE token_id = $1",
            refresh_token.split("_")[1],
            by,
        )
    finally:
        await owner.close()


async def test_a_reload_during_a_refresh_keeps_the_user_signed_in(stack: Stack, dsn: str) -> None:
    first = await _login(stack, "bob")
    # the refresh reaches the server, but the page reloads before the answer arrives
    lost = await _refresh(stack, first["refreshToken"])
    assert lost.status_code == 200
    assert lost.json()["refreshToken"] != first["refreshToken"]
    # the reloaded page still holds the old token and presents it again, within the window
    again = await _refresh(stack, first["refreshToken"])
    assert again.status_code == 200, again.text
    assert again.json()["refreshToken"] == lost.json()["refreshToken"]  # one successor
    assert (await stack.call("GET", "/runs", again.json()["accessToken"])).status_code == 200
    assert not any(row["revoked_at"] for row in await _family(dsn, first["refreshToken"]))
    # and the session goes on from there
    onward = await _refresh(stack, again.json()["refreshToken"])
    assert onward.status_code == 200, onward.text
    assert len(await _family(dsn, first["refreshToken"])) == 3  # a chain, never a branch


async def test_a_used_token_presented_after_the_grace_revokes_the_family(
    stack: Stack, dsn: str
) -> None:
    first = await _login(stack, "dan")
    rotated = (await _refresh(stack, first["refreshToken"])).json()
    assert (await stack.call("GET", "/runs", rotated["accessToken"])).status_code == 200
    await _backdate_use(dsn, first["refreshToken"], timedelta(minutes=1))
    reused = await _refresh(stack, first["refreshToken"])
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "UNAUTHENTICATED"
    assert "already used" in reused.json()["error"]["message"]
    family = await _family(dsn, first["refreshToken"])
    assert len(family) == 2
    assert all(row["revoked_at"] and row["successor_sealed"] is None for row in family)
    family_gone = await _refresh(stack, rotated["refreshToken"])
    assert family_gone.status_code == 401
    audit = await stack.call("GET", "/audit", stack.tenants["acme"].tokens["admin"])
    reuses = [e for e in audit.json()["items"] if e["action"] == "refresh.reused"]
    assert [(e["actor"], e["resource"]) for e in reuses] == [("dan", "user/dan")]
    # a forged secret for a known id changes nothing (the id alone is not a credential)
    other = await _login(stack, "eve")
    token_id = other["refreshToken"].split("_")[1]
    assert (await _refresh(stack, f"tfr_{token_id}_{'x' * 43}")).status_code == 401
    assert (await _refresh(stack, other["refreshToken"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_share_one_successor(
    stack: Stack, dsn: str
) -> None:
    pair = await _login(stack, "cat")
    answers = await asyncio.gather(*(_refresh(stack, pair["refreshToken"]) for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    successors = {a.json()["refreshToken"] for a in answers}
    assert len(successors) == 1  # two tabs racing end up holding the same session
    assert len(await _family(dsn, pair["refreshToken"])) == 2
    assert (await _refresh(stack, successors.pop())).status_code == 200


async def test_http_basic_for_service_accounts(stack: Stack) -> None:
    _, token = await stack.new_token("acme", "viewer")
    await _user(stack, "svc", role="viewer")
    for user, secret in (("ci", token), ("svc", "correct-horse-9")):
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        response = await stack.client.get("/runs", headers={"Authorization": f"Basic {basic}"})
        assert response.status_code == 200, response.text
    bad = base64.b64encode(b"svc:wrong-password").decode()
    assert (
        await stack.client.get("/runs", headers={"Authorization": f"Basic {bad}"})
    ).status_code == 401
    # a wrong Basic password is audited like a failed login, in the user's tenant
    admin = stack.tenants["acme"].tokens["admin"]
    audit = (await stack.call("GET", "/audit", admin, params={"limit": 500})).json()["items"]
    failed = [i for i in audit if i["action"] == "login.failed" and i["resource"] == "user/svc"]
    assert len(failed) == 1
    assert (failed[0]["actor"], failed[0]["source"]) == ("svc", "127.0.0.1")


async def test_secrets_are_sealed_at_rest_and_never_returned(stack: Stack, dsn: str) -> None:
    admin = stack.tenants["acme"].tokens["admin"]
    put = await stack.call("PUT", "/secrets/API_KEY", admin, json={"value": "sk-live-12345"})
    assert put.status_code == 200
    assert "sk-live-12345" not in put.text
    assert put.json()["algorithm"] == "AES-256-GCM"
    again = await stack.call("PUT", "/secrets/API_KEY", admin, json={"value": "sk-live-67890"})
    assert again.json()["version"] == 2
    listed = await stack.call("GET", "/secrets", admin)
    assert "sk-live" not in listed.text
    assert "API_KEY" in {s["name"] for s in listed.json()["items"]}
    owner = await asyncpg.connect(dsn)
    try:
        row = await owner.fetchrow(
            "SELECT ciphertext, wrapped_key FROM secrets WHERE tenant_id = 'acme' "
            "AND name = 'API_KEY'"
        )
    finally:
        await owner.close()
    assert row is not None
    assert b"sk-live" not in row["ciphertext"] + row["wrapped_key"]
    bad_name = await stack.call("PUT", "/secrets/not-valid!", admin, json={"value": "x"})
    assert bad_name.status_code == 422
    assert (await stack.call("DELETE", "/secrets/API_KEY", admin)).status_code == 204
    assert (await stack.call("DELETE", "/secrets/API_KEY", admin)).status_code == 404


async def test_the_audit_log_records_who_did_what(stack: Stack) -> None:
    admin = stack.tenants["acme"].tokens["admin"]
    await stack.call("PUT", "/secrets/AUDITED", admin, json={"value": "v"})
    await stack.client.post("/auth/login", json={"username": "nobody-here", "password": "x"})
    items: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await stack.call("GET", "/audit", admin, params=params)).json()
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    ids = [i["id"] for i in items]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids)
    actions = {i["action"] for i in items}
    assert {"token.create", "workflow.publish", "run.start", "secret.put"} <= actions
    put = next(
        i for i in items if i["action"] == "secret.put" and i["resource"] == "secret/AUDITED"
    )
    assert put["actor"] == "token:admin"
    assert put["source"] == "127.0.0.1"
    assert "v" not in (put["after"], put["before"])
    publish = next(i for i in items if i["action"] == "workflow.publish")
    assert publish["after"]["metadata"]["name"]
    bad = await stack.call("GET", "/audit", admin, params={"cursor": "!!"})
    assert bad.status_code == 400
    failed = (await stack.call("GET", "/audit", ADMIN, params={"limit": 500})).json()["items"]
    assert any(i["action"] == "login.failed" for i in failed)


async def test_rate_limits_are_per_tenant_with_retry_after(stack: Stack) -> None:
    created = await stack.call("POST", "/tenants", ADMIN, json={"name": "limited"})
    assert created.status_code == 201
    _, token = await stack.new_token("limited", "editor")
    # a token per 20 s: at 0.5 a second, three requests spread over 2 s (a loaded
    # machine) would have found a refilled token and the third was not refused
    limits = {"apiRequestsPerSecond": 0.05, "runStartsPerSecond": 0.05}
    assert (
        await stack.call("PUT", "/tenants/limited/limits", ADMIN, json=limits)
    ).status_code == 200
    statuses = [(await stack.call("GET", "/runs", token)) for _ in range(3)]
    assert [r.status_code for r in statuses][:1] == [200]
    refused = statuses[-1]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    # another tenant is not throttled by it
    other = stack.tenants["beta"].tokens["viewer"]
    assert all([(await stack.call("GET", "/runs", other)).status_code == 200 for _ in range(5)])
    missing = await stack.call("PUT", "/tenants/nope/limits", ADMIN, json=limits)
    assert missing.status_code == 404


async def test_run_starts_have_their_own_limit(stack: Stack) -> None:
    assert (await stack.call("POST", "/tenants", ADMIN, json={"name": "starts"})).is_success
    _, editor = await stack.new_token("starts", "editor")
    from .security_stack import workflow

    assert (await stack.call("POST", "/workflows", editor, json=workflow("w", "m"))).is_success
    assert (await stack.call("POST", "/workflows/w/publish", editor)).is_success
    limits = {"runStartsPerSecond": 0.01}
    assert (await stack.call("PUT", "/tenants/starts/limits", ADMIN, json=limits)).is_success
    first = await stack.call("POST", "/workflows/w/runs", editor, json={})
    second = await stack.call("POST", "/workflows/w/runs", editor, json={})
    assert first.status_code == 201
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "RATE_LIMITED"
    assert int(second.headers["retry-after"]) >= 1
    # reads are not run starts
    assert (await stack.call("GET", "/runs", editor)).status_code == 200


def _tide_fails(*args: str, env: dict[str, str]) -> str:
    """The one line a failing command prints (exit 1, no traceback)."""
    from typer.testing import CliRunner

    from tideflow.cli.main import app

    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    return result.output.strip()


def _tide(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    from typer.testing import CliRunner

    from tideflow.cli.main import app

    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    assert result.exit_code == 0, result.output
    return result.output


async def test_the_cli_manages_tenants_tokens_secrets_and_reads_the_audit(
    stack: Stack, dsn: str
) -> None:
    import json

    base = ["--url", stack.url]

    def tide(*args: str, token: str = ADMIN, stdin: str | None = None) -> str:
        return _tide(*args, *base, "--token", token, stdin=stdin)

    await asyncio.to_thread(tide, "tenant", "create", "clitenant")
    assert "clitenant" in await asyncio.to_thread(tide, "tenant", "list")
    minted = json.loads(
        await asyncio.to_thread(
            tide, "token", "create", "ops", "--role", "admin", "--tenant", "clitenant", "-o", "json"
        )
    )
    admin = minted["token"]
    stored = await asyncio.to_thread(tide, "secret", "put", "PASSWORD", token=admin, stdin="pw\n")
    assert "version 1" in stored
    listed = json.loads(await asyncio.to_thread(tide, "secret", "list", "-o", "json", token=admin))
    assert [s["name"] for s in listed["items"]] == ["PASSWORD"]
    assert "pw" not in json.dumps(listed)
    audit = json.loads(await asyncio.to_thread(tide, "audit", "-o", "json", token=admin))
    assert audit["items"][0]["action"] == "secret.put"
    # users: created, re-roled, disabled and deleted by username
    await asyncio.to_thread(
        tide, "user", "create", "cliuser", "--role", "editor", "--password", "correct-horse-9",
        token=admin,
    )  # fmt: skip
    login = await stack.client.post(
        "/auth/login", json={"username": "cliuser", "password": "correct-horse-9"}
    )
    access = login.json()["accessToken"]
    listed_users = json.loads(
        await asyncio.to_thread(tide, "user", "list", "-o", "json", token=admin)
    )
    assert [(u["username"], u["disabled"]) for u in listed_users["items"]] == [("cliuser", False)]
    await asyncio.to_thread(tide, "user", "update", "cliuser", "--role", "viewer", token=admin)
    await asyncio.to_thread(tide, "user", "update", "cliuser", "--disable", token=admin)
    assert (await stack.call("GET", "/runs", access)).status_code == 401
    await asyncio.to_thread(tide, "user", "update", "cliuser", "--enable", token=admin)
    assert (await stack.call("GET", "/runs", access)).status_code == 200
    assert "deleted user cliuser" in await asyncio.to_thread(
        tide, "user", "delete", "cliuser", token=admin
    )
    assert (await stack.call("GET", "/runs", access)).status_code == 401
    await asyncio.to_thread(tide, "token", "revoke", minted["id"])
    assert (await stack.call("GET", "/secrets", admin)).status_code == 401
    # the key rotation re-wraps every secret while the gateway keeps serving them
    env = {
        "TIDEFLOW_SECURITY_KEY_FILE": str(stack.key_file),
        "TIDEFLOW_DATABASE_URL": dsn,
    }
    # pointed at a key file the services do not use: one line, not a traceback, and
    # no key file made up where there was none
    missing = stack.key_file.parent / "elsewhere" / "kek.json"
    elsewhere = {**env, "TIDEFLOW_SECURITY_KEY_FILE": str(missing)}
    refused = await asyncio.to_thread(_tide_fails, "secret", "rewrap", env=elsewhere)
    assert refused.startswith(f"error KEY_FILE_NOT_FOUND: no key file at {missing};")
    assert not missing.exists()
    other = stack.key_file.parent / "other-kek.json"
    LocalKeyFile(other).rotate()
    wrong = {**env, "TIDEFLOW_SECURITY_KEY_FILE": str(other)}
    refused = await asyncio.to_thread(_tide_fails, "secret", "rewrap", env=wrong)
    assert refused.startswith("error KEY_UNAVAILABLE: unknown key-encryption key ")
    assert f"{other} does not hold it" in refused
    rewrapped = await asyncio.to_thread(_tide, "secret", "rewrap", "--rotate", env=env)
    assert "re-wrapped" in rewrapped
    owner = await asyncpg.connect(dsn)
    try:
        keks = {r["kek_id"] for r in await owner.fetch("SELECT kek_id FROM secrets")}
    finally:
        await owner.close()
    assert len(keks) == 1
    assert rewrapped.split()[2].rstrip(":") in keks


async def test_password_guessing_is_slowed_per_username(stack: Stack) -> None:
    await _user(stack, "guessed")
    codes: list[int] = []
    refused = None
    # the bucket holds 10 attempts and refills one every 5 s; an attempt costs far less
    # (one argon2 verification), so a refusal comes within a bounded number of tries
    for i in range(40):
        answer = await stack.client.post(
            "/auth/login", json={"username": "guessed", "password": f"x{i}"}
        )
        codes.append(answer.status_code)
        if answer.status_code == 429:
            refused = answer
            break
    assert refused is not None, codes
    assert codes[:10] == [401] * 10
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    # another user is not slowed down by it
    other = await stack.client.post("/auth/login", json={"username": "ann", "password": "nope"})
    assert other.status_code == 401


async def test_password_guessing_through_basic_is_slowed_with_the_logins(stack: Stack) -> None:
    """HTTP Basic checks the same password as `POST /auth/login`, on any route: it guessed
    without limit (15 wrong passwords, 15 times 401, then the right one worked)."""
    await _user(stack, "basil")

    def basic(password: str) -> dict[str, str]:
        encoded = base64.b64encode(f"basil:{password}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}

    codes: list[int] = []
    refused = None
    for i in range(40):  # a guess costs far less than the 5 s refill: bounded
        answer = await stack.client.get("/runs", headers=basic(f"x{i}"))
        codes.append(answer.status_code)
        if answer.status_code == 429:
            refused = answer
            break
    assert refused is not None, codes
    assert codes[:10] == [401] * 10
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    # the right password waits too, and so does the login form: one bucket per username
    assert (await stack.client.get("/runs", headers=basic("correct-horse-9"))).status_code == 429
    login = await stack.client.post(
        "/auth/login", json={"username": "basil", "password": "correct-horse-9"}
    )
    assert login.status_code == 429
    # other users are not slowed, and a right password is no guess: a service account
    # sending its password with every request keeps going past the burst
    await _user(stack, "rosemary")
    other = base64.b64encode(b"rosemary:correct-horse-9").decode()
    for _ in range(15):
        answer = await stack.client.get("/runs", headers={"Authorization": f"Basic {other}"})
        assert answer.status_code == 200, answer.text
