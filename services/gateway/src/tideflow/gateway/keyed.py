"""Idempotency keys of run commands (cancel, fail, signals): one key, one command.

The scheduler applies a command id once, so a retried command with the same id is
harmless; but a retry carrying *other* content under the same key (another reason,
other signal data) would be answered 202 and its content dropped without a word. A keyed
command therefore claims its key in `command_keys`, with a digest of what it asks for,
before it is sent, and a repeat is judged against that first claim as a run start's key
is: the same content is the same command (the same answer; sent again only if it never
reached the bus; answered even after the run ended, since the command may have ended
it), other content is 409 IDEMPOTENCY_CONFLICT.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.starting import canonical_json

if TYPE_CHECKING:
    from tideflow.store import CommandKey, CommandKeys, RunRecord


@dataclass(frozen=True, slots=True)
class KeyedCommand:
    """A run command and what its idempotency key (if it has one) stands for."""

    command_id: str
    run: RunRecord
    digest: str | None
    """Of the command's content; None when the request has no key (a new command each time)."""
    conflict: ApiError
    """What a repeat of the key with other content is refused with."""

    @classmethod
    def of(
        cls, run: RunRecord, command_id: str, key: str | None, content: Any, conflict: ApiError
    ) -> KeyedCommand:
        """`content` is compared as JSON, key order aside."""
        digest = hashlib.sha256(canonical_json(content)).hexdigest() if key is not None else None
        return cls(command_id, run, digest, conflict)

    async def was_sent(self, store: CommandKeys) -> bool:
        """Whether this key's command already reached the bus (answer it alike, whatever
        the run's status now); 409 when the key was first used for other content."""
        if self.digest is None:
            return False
        earlier = await store.find_command_key(self.command_id, tenant_id=self.run.tenant_id)
        if earlier is None:
            return False
        self._judge(earlier)
        return earlier.sent

    async def claim(self, store: CommandKeys) -> bool:
        """Claim the key for this content: True when the command must be sent (the first
        use, or a repeat of one whose send failed); 409 for other content."""
        if self.digest is None:
            return True
        claim = await store.claim_command_key(
            self.command_id, self.run.run_id, self.digest, tenant_id=self.run.tenant_id
        )
        self._judge(claim)
        return claim.created or not claim.sent

    async def mark_sent(self, store: CommandKeys) -> None:
        """Record that the command is on the bus, so a repeat is not sent again."""
        if self.digest is not None:
            await store.mark_command_sent(self.command_id, tenant_id=self.run.tenant_id)

    def _judge(self, claim: CommandKey) -> None:
        if claim.digest != self.digest:
            raise self.conflict


def key_conflict(message: str, details: dict[str, Any]) -> ApiError:
    """409 IDEMPOTENCY_CONFLICT for a key reused with other content."""
    return ApiError(409, ErrorCode.IDEMPOTENCY_CONFLICT, message, details)
