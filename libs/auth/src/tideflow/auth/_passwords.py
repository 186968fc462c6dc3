"""Password hashing for human users: argon2id with the library's tuned defaults.

Hashing is deliberately slow (tens of milliseconds), so it runs in a worker thread and
never blocks the event loop that serves every other request.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8


class PasswordHasher:
    """argon2id hashes; `needs_rehash` lets a login upgrade old parameters."""

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        defaults = _Argon2()
        self._hasher = _Argon2(
            time_cost=time_cost or defaults.time_cost,
            memory_cost=memory_cost or defaults.memory_cost,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash still costs one verification."""
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        if stored_hash is None:
            # An unknown user still costs one verification, so that a wrong username takes
            # as long as a wrong password (no user enumeration by timing).
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_hex(16))
            stored_hash = self._dummy
            password = ""
        try:
            return self._hasher.verify(stored_hash, password) and bool(password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
