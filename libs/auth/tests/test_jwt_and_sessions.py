"""Access tokens with rotating keys, JWKS, and refresh-token rotation with reuse detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tideflow.auth import (
    REUSE_GRACE,
    Authenticator,
    InvalidCredentials,
    KeyRing,
    PasswordHasher,
    Principal,
    PrincipalKind,
    RefreshReused,
    Role,
    Sessions,
    _successor,
)
from tideflow.store import InMemoryIdentities, UserRecord

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ANN = Principal("ann", "acme", Role.EDITOR, PrincipalKind.USER, "u1")


async def test_a_token_verifies_to_its_principal_until_it_expires(ring: KeyRing) -> None:
    token = await ring.issue(ANN, T0)
    assert jwt.get_unverified_header(token)["kid"]
    assert await ring.verify(token, T0 + timedelta(minutes=14)) == ANN
    with pytest.raises(InvalidCredentials, match="expired"):
        await ring.verify(token, T0 + timedelta(minutes=15))


async def test_tampered_and_foreign_tokens_are_refused(ring: KeyRing) -> None:
    token = await ring.issue(ANN, T0)
    head, _, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["role"] = "admin"
    forged_body = jwt.encode(claims, "x", algorithm="HS256").split(".")[1]
    with pytest.raises(InvalidCredentials):
        await ring.verify(f"{head}.{forged_body}.{sig}", T0)
    none_alg = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(InvalidCredentials):
        await ring.verify(none_alg, T0)
    hs = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": claims["jti"]})
    with pytest.raises(InvalidCredentials):
        await ring.verify(hs, T0)


async def test_rotation_keeps_old_keys_verifying_until_their_tokens_expire(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    old_token = await ring.issue(ANN, T0)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kid = await ring.rotate(T0 + timedelta(minutes=1))
    assert new_kid != old_kid
    new_token = await ring.issue(ANN, T0 + timedelta(minutes=2))
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    published = {k["kid"] for k in ring.jwks(T0 + timedelta(minutes=2))["keys"]}
    assert published == {old_kid, new_kid}
    # the old key still verifies the token it signed before rotating
    assert (await ring.verify(old_token, T0 + timedelta(minutes=10))).subject == "ann"
    # once every token it could have signed has expired, it is gone from the JWKS
    later = T0 + timedelta(minutes=17)
    assert {k["kid"] for k in ring.jwks(later)["keys"]} == {new_kid}
    # another replica (a second ring over the same store) verifies the new token too
    other = KeyRing(identities, ring._envelope)
    assert (await other.verify(new_token, T0 + timedelta(minutes=3))).tenant_id == "acme"


async def test_jwks_keys_verify_tokens_with_a_generic_client(ring: KeyRing) -> None:
    token = await ring.issue(ANN, datetime.now(UTC))
    jwks = ring.jwks()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer="tideflow")
    assert (claims["tenant"], claims["role"], claims["name"]) == ("acme", "editor", "ann")


async def test_a_rotation_is_due_after_the_rotation_period(identities, key_file) -> None:
    from tideflow.auth import Envelope

    ring = KeyRing(identities, Envelope(key_file), rotate_every=timedelta(hours=1))
    await ring.ensure_current(T0)
    first = {k.kid for k in await identities.signing_keys()}
    await ring.ensure_current(T0 + timedelta(minutes=59))
    assert {k.kid for k in await identities.signing_keys()} == first
    await ring.ensure_current(T0 + timedelta(hours=1))
    assert len(await identities.signing_keys()) == 2


async def _sessions(ring: KeyRing, identities: InMemoryIdentities) -> Sessions:
    fast = PasswordHasher(time_cost=1, memory_cost=1024)
    await identities.create_user(
        UserRecord("u1", "acme", "ann", await fast.hash("pw-123456"), "editor", T0)
    )
    auth = Authenticator(admin_token="x", identities=identities, keys=ring, passwords=fast)
    return Sessions(identities=identities, authenticator=auth, keys=ring)


async def test_login_and_refresh_rotate_the_refresh_token(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    sessions = await _sessions(ring, identities)
    first = await sessions.login("ann", "pw-123456")
    assert first.expires_in == 900
    assert (await ring.verify(first.access_token)).subject == "ann"
    second = await sessions.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    third = await sessions.refresh(second.refresh_token)
    assert (await ring.verify(third.access_token)).role is Role.EDITOR
    with pytest.raises(InvalidCredentials):
        await sessions.login("ann", "wrong")


async def test_a_reused_refresh_token_revokes_its_whole_family(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    sessions = await _sessions(ring, identities)
    other_session = await sessions.login("ann", "pw-123456")
    first = await sessions.login("ann", "pw-123456")
    now = datetime.now(UTC)
    second = await sessions.refresh(first.refresh_token, now=now)
    with pytest.raises(RefreshReused):  # the stolen copy comes back after the grace window
        await sessions.refresh(first.refresh_token, now=now + REUSE_GRACE)
    with pytest.raises(InvalidCredentials):
        await sessions.refresh(second.refresh_token, now=now + REUSE_GRACE)  # the family is gone
    # another login (another family) is untouched
    assert (await sessions.refresh(other_session.refresh_token)).refresh_token


async def test_a_reload_within_the_grace_gets_the_same_successor_again(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    sessions = await _sessions(ring, identities)
    first = await sessions.login("ann", "pw-123456")
    now = datetime.now(UTC)
    lost = await sessions.refresh(first.refresh_token, now=now)  # the answer never arrives
    again = await sessions.refresh(first.refresh_token, now=now + timedelta(seconds=9))
    assert again.refresh_token == lost.refresh_token  # one successor: the family never branches
    assert (await ring.verify(again.access_token)).subject == "ann"
    # the session goes on from there, and the old token stays used up once the window ends
    later = now + timedelta(seconds=30)
    assert (await sessions.refresh(again.refresh_token, now=later)).refresh_token
    with pytest.raises(RefreshReused):
        await sessions.refresh(first.refresh_token, now=later)


async def test_the_stored_successor_opens_only_with_the_used_tokens_secret(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    sessions = await _sessions(ring, identities)
    first = await sessions.login("ann", "pw-123456")
    _, token_id, secret = first.refresh_token.split("_", 2)
    # knowing the id but not the secret neither uses the token up nor revokes anything
    with pytest.raises(InvalidCredentials, match="not valid"):
        await sessions.refresh(f"tfr_{token_id}_{'x' * 43}")
    second = await sessions.refresh(first.refresh_token)
    used = await identities.find_refresh_token(token_id)
    assert used is not None
    assert used.successor_id == second.refresh_token.split("_")[1]
    assert used.successor_sealed is not None
    assert second.refresh_token.encode() not in used.successor_sealed
    assert second.refresh_token.split("_", 2)[2].encode() not in used.successor_sealed
    assert _successor.open_sealed(secret, token_id, used.successor_id, used.successor_sealed) == (
        second.refresh_token
    )
    for wrong in (("y" * 43, token_id, used.successor_id), (secret, token_id, "other")):
        assert _successor.open_sealed(*wrong, used.successor_sealed) is None


async def test_expired_and_forged_refresh_tokens_are_refused(
    ring: KeyRing, identities: InMemoryIdentities
) -> None:
    sessions = await _sessions(ring, identities)
    pair = await sessions.login("ann", "pw-123456")
    with pytest.raises(InvalidCredentials):
        await sessions.refresh(pair.refresh_token, now=datetime.now(UTC) + timedelta(days=8))
    token_id = pair.refresh_token.split("_")[1]
    with pytest.raises(InvalidCredentials):
        await sessions.refresh(f"tfr_{token_id}_{'x' * 43}")
    with pytest.raises(InvalidCredentials):
        await sessions.refresh("garbage")
