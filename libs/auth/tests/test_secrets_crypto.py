"""Envelope encryption, the local key file and AWS KMS (against a moto server), re-wrapping."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import aioboto3
import pytest
from moto.server import ThreadedMotoServer

from tideflow.auth import (
    AwsKms,
    DecryptionFailed,
    Envelope,
    KeyProviderError,
    LocalKeyFile,
    Secrets,
)
from tideflow.store import InMemoryIdentities, NotFound

pytestmark = pytest.mark.unit


async def test_seal_and_open_bind_the_tenant_and_the_name(key_file: LocalKeyFile) -> None:
    envelope = Envelope(key_file)
    sealed = await envelope.seal("acme", "API_KEY", "hunter2")
    assert b"hunter2" not in sealed.ciphertext + sealed.wrapped_key
    assert await envelope.open("acme", "API_KEY", sealed) == "hunter2"
    for tenant, name in [("other", "API_KEY"), ("acme", "OTHER")]:
        with pytest.raises(DecryptionFailed):
            await envelope.open(tenant, name, sealed)
    tampered = type(sealed)(sealed.ciphertext[:-1] + b"\x00", sealed.wrapped_key, sealed.kek_id)
    with pytest.raises(DecryptionFailed):
        await envelope.open("acme", "API_KEY", tampered)


def test_the_key_file_is_private_and_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    first = LocalKeyFile(path)
    assert not path.exists()  # nothing is written until a key is needed
    assert first.current_kek_id
    assert path.stat().st_mode & 0o777 == 0o600
    again = LocalKeyFile(path)
    assert again.current_kek_id == first.current_kek_id
    path.write_text("{not json")
    with pytest.raises(KeyProviderError):
        _ = LocalKeyFile(path).current_kek_id


async def test_rotation_rewraps_every_secret_while_reads_keep_working(
    key_file: LocalKeyFile,
) -> None:
    store = InMemoryIdentities()
    secrets = Secrets(store, Envelope(key_file))
    for i in range(20):
        await secrets.put("acme" if i % 2 else "beta", f"S{i}", f"value-{i}", by="test")
    old_kek = key_file.current_kek_id
    new_kek = key_file.rotate()
    assert new_kek != old_kek

    async def reader() -> None:
        for _ in range(5):
            assert await secrets.resolve("acme", ["S1", "S3"]) == {"S1": "value-1", "S3": "value-3"}
            await asyncio.sleep(0)

    report, *_ = await asyncio.gather(secrets.rewrap_all(), reader(), reader())
    assert report.rewrapped == 20
    assert {s.kek_id for s in await store.all_secrets()} == {new_kek}
    assert await secrets.resolve("beta", ["S0"]) == {"S0": "value-0"}
    assert (await secrets.rewrap_all()).rewrapped == 0


async def test_a_put_during_rewrap_wins(key_file: LocalKeyFile) -> None:
    store = InMemoryIdentities()
    secrets = Secrets(store, Envelope(key_file))
    await secrets.put("acme", "A", "one", by="t")
    stale = await store.get_secret("A", tenant_id="acme")
    key_file.rotate()
    await secrets.put("acme", "A", "two", by="t")
    assert not await store.rewrap_secret(
        "A", tenant_id="acme", version=stale.version, wrapped_key=b"x", kek_id="y"
    )
    assert await secrets.resolve("acme", ["A"]) == {"A": "two"}


async def test_secrets_are_per_tenant_and_env_is_a_fallback_for_default_only(
    key_file: LocalKeyFile,
) -> None:
    store = InMemoryIdentities()
    secrets = Secrets(store, Envelope(key_file), env_fallback={"TOKEN": "from-env"})
    await secrets.put("acme", "DB", "acme-db", by="t")
    assert await secrets.resolve("other", ["DB", "TOKEN"]) == {}
    assert await secrets.resolve("default", ["TOKEN"]) == {"TOKEN": "from-env"}
    await secrets.put("default", "TOKEN", "stored", by="t")
    assert await secrets.resolve("default", ["TOKEN"]) == {"TOKEN": "stored"}
    await secrets.delete("acme", "DB")
    with pytest.raises(NotFound):
        await secrets.delete("acme", "DB")
    assert secrets.fallback_names("default") == ["TOKEN"]
    assert secrets.fallback_names("acme") == []


# -- AWS KMS through aioboto3, against a real moto server --------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


async def _kms_key(url: str) -> str:
    async with aioboto3.Session().client("kms", region_name="us-east-1", endpoint_url=url) as kms:
        created = await kms.create_key(Description="tideflow test KEK")
        return str(created["KeyMetadata"]["Arn"])


async def test_kms_wraps_data_keys_and_rotation_to_a_new_key_rewraps(moto_url: str) -> None:
    first_key = await _kms_key(moto_url)
    kms = AwsKms(first_key, endpoint_url=moto_url)
    store = InMemoryIdentities()
    secrets = Secrets(store, Envelope(kms))
    await secrets.put("acme", "ERP_DB", "postgres://erp", by="t")
    record = await store.get_secret("ERP_DB", tenant_id="acme")
    assert record.kek_id == first_key
    assert b"postgres://erp" not in record.ciphertext
    assert await secrets.resolve("acme", ["ERP_DB"]) == {"ERP_DB": "postgres://erp"}

    second_key = await _kms_key(moto_url)
    kms.use_key(second_key)
    assert await secrets.resolve("acme", ["ERP_DB"]) == {"ERP_DB": "postgres://erp"}
    assert (await secrets.rewrap_all()).rewrapped == 1
    assert (await store.get_secret("ERP_DB", tenant_id="acme")).kek_id == second_key
    assert await secrets.resolve("acme", ["ERP_DB"]) == {"ERP_DB": "postgres://erp"}


async def test_kms_refuses_a_data_key_moved_to_another_tenant(moto_url: str) -> None:
    kms = AwsKms(await _kms_key(moto_url), endpoint_url=moto_url)
    envelope = Envelope(kms)
    sealed = await envelope.seal("acme", "A", "v")
    with pytest.raises((DecryptionFailed, KeyProviderError)):
        await envelope.open("evil", "A", sealed)


async def test_kms_unreachable_is_a_provider_error() -> None:
    kms = AwsKms("alias/none", endpoint_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(KeyProviderError):
        await kms.wrap(b"0" * 32, {"tenant": "a"})


async def test_a_rotation_by_another_process_is_followed(tmp_path: Path) -> None:
    serving = LocalKeyFile(tmp_path / "kek.json")
    envelope = Envelope(serving)
    before = await envelope.seal("acme", "A", "one")
    rotated_elsewhere = LocalKeyFile(tmp_path / "kek.json").rotate()
    after = await envelope.seal("acme", "B", "two")
    assert after.kek_id == rotated_elsewhere != before.kek_id
    assert await envelope.open("acme", "A", before) == "one"
