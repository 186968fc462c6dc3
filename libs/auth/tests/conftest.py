"""Shared fixtures of the auth tests: a key file provider and a key ring over memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tideflow.auth import Envelope, KeyRing, LocalKeyFile
from tideflow.store import InMemoryIdentities


@pytest.fixture
def key_file(tmp_path: Path) -> LocalKeyFile:
    return LocalKeyFile(tmp_path / "keys" / "kek.json")


@pytest.fixture
def identities() -> InMemoryIdentities:
    return InMemoryIdentities()


@pytest.fixture
def ring(identities: InMemoryIdentities, key_file: LocalKeyFile) -> KeyRing:
    return KeyRing(identities, Envelope(key_file))
