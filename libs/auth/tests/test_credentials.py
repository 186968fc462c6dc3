"""API tokens, passwords and the authenticator: every credential, right and wrong."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from tideflow.auth import (
    Authenticator,
    InvalidCredentials,
    PasswordHasher,
    PrincipalKind,
    Role,
    issue,
    parse,
)
from tideflow.auth._tokens import matches
from tideflow.store import ApiTokenRecord, InMemoryIdentities, UserRecord

pytestmark = pytest.mark.unit

FAST = PasswordHasher(time_cost=1, memory_cost=1024)


def test_tokens_round_trip_and_only_the_right_secret_matches() -> None:
    token = issue()
    presented = parse(token.token)
    assert presented is not None
    assert presented.id == token.id
    assert matches(presented, token.secret_hash)
    assert token.secret_hash not in token.token
    other = issue()
    assert not matches(presented, other.secret_hash)


@pytest.mark.parametrize(
    "garbage",
    ["", "tfk", "tfk_", "tfk__x", "tfk_abc", "tfr_abc_def", "Bearer tfk_a_b", "tfk_a-b_c"],
)
def test_malformed_tokens_do_not_parse(garbage: str) -> None:
    assert parse(garbage) is None


async def test_passwords_verify_only_the_right_one() -> None:
    hashed = await FAST.hash("correct horse")
    assert "correct horse" not in hashed
    assert hashed.startswith("$argon2id$")
    assert await FAST.verify(hashed, "correct horse")
    assert not await FAST.verify(hashed, "wrong horse")
    assert not await FAST.verify(None, "correct horse")
    assert not await FAST.verify("not a hash", "x")


async def _world() -> tuple[Authenticator, InMemoryIdentities, str, str]:
    identities = InMemoryIdentities()
    token = issue()
    await identities.create_api_token(
        ApiTokenRecord(
            token.id, "acme", "ci", "editor", token.secret_hash, "admin", datetime.now(UTC)
        )
    )
    await identities.create_user(
        UserRecord("u1", "acme", "ann", await FAST.hash("s3cret-pass"), "viewer", datetime.now(UTC))
    )
    auth = Authenticator(admin_token="root-token", identities=identities, passwords=FAST)
    return auth, identities, token.token, token.id


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


async def test_every_credential_kind_resolves_to_its_principal() -> None:
    auth, _, token, token_id = await _world()
    admin = await auth.authenticate("Bearer root-token")
    assert admin.platform_admin
    assert (admin.tenant_id, admin.role) == ("default", Role.ADMIN)
    machine = await auth.authenticate(f"Bearer {token}")
    assert (machine.tenant_id, machine.role, machine.kind) == (
        "acme",
        Role.EDITOR,
        PrincipalKind.TOKEN,
    )
    assert machine.credential_id == token_id
    via_basic = await auth.authenticate(_basic("ci", token))
    assert via_basic == machine
    user = await auth.authenticate(_basic("ann", "s3cret-pass"))
    assert (user.subject, user.tenant_id, user.role) == ("ann", "acme", Role.VIEWER)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong",
        "Token root-token",
        "Bearer tfk_0000000000000000_nope",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        _basic("ann", "wrong"),
        _basic("nobody", "s3cret-pass"),
        "Bearer a.b.c",
    ],
)
async def test_wrong_credentials_are_refused(header: str | None) -> None:
    auth, *_ = await _world()
    with pytest.raises(InvalidCredentials):
        await auth.authenticate(header)


async def test_a_revoked_token_stops_working_at_once() -> None:
    auth, identities, token, token_id = await _world()
    assert (await auth.authenticate(f"Bearer {token}")).tenant_id == "acme"
    await identities.revoke_api_token(token_id, tenant_id="acme", at=datetime.now(UTC))
    with pytest.raises(InvalidCredentials, match="revoked"):
        await auth.authenticate(f"Bearer {token}")


async def test_a_token_secret_with_a_known_id_but_wrong_secret_is_refused() -> None:
    auth, _, token, token_id = await _world()
    forged = f"tfk_{token_id}_{'A' * 43}"
    assert forged != token
    with pytest.raises(InvalidCredentials):
        await auth.authenticate(f"Bearer {forged}")


def test_roles_are_ordered() -> None:
    assert [r.value for r in sorted(Role, key=lambda r: r.rank)] == [
        "viewer",
        "editor",
        "approver",
        "admin",
    ]
    assert Role.ADMIN.includes(Role.APPROVER)
    assert Role.APPROVER.includes(Role.EDITOR)
    assert not Role.EDITOR.includes(Role.APPROVER)
