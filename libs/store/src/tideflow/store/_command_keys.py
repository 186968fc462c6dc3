"""Idempotency keys of run commands (cancel, fail, signals): what a key was first used for.

The scheduler already applies a command id once, so a retried command with the same id is
harmless; but a retry that carries *other* data under the same key would be accepted and
its data dropped without a word. The gateway therefore claims the key (with a digest of
the data) before it sends the command, and judges a repeat against the first claim.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from tideflow.store._errors import NotFound
from tideflow.store._records import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class CommandKey:
    """The first claim of a command id: its data's digest and whether it was sent."""

    command_id: str
    run_id: str
    digest: str
    sent: bool
    created: bool
    """True when this call made the claim (the first use of the key)."""


class CommandKeys(Protocol):
    """Claims of keyed run commands, per tenant; rows go with their run."""

    async def claim_command_key(
        self, command_id: str, run_id: str, digest: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey:
        """Claim `command_id` for `digest`, or return the earlier claim unchanged."""
        ...

    async def mark_command_sent(self, command_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        """Record that the claimed command is on the bus (a repeat need not send it)."""
        ...

    async def find_command_key(
        self, command_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey | None:
        """The claim of `command_id` (`created` False), or None when it was never used."""
        ...


class InMemoryCommandKeys:
    """`CommandKeys` in a dictionary, mixed into `InMemoryEventStore`."""

    def __init__(self) -> None:
        self._command_keys: dict[str, tuple[str, CommandKey]] = {}

    async def claim_command_key(
        self, command_id: str, run_id: str, digest: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey:
        held = self._command_keys.get(command_id)
        if held is not None and held[0] == tenant_id:
            return held[1]
        if held is not None:  # another tenant's row is invisible, its id still taken
            raise NotFound(f"command {command_id} belongs to another tenant")
        key = CommandKey(command_id, run_id, digest, sent=False, created=True)
        self._command_keys[command_id] = (tenant_id, replace(key, created=False))
        return key

    async def mark_command_sent(self, command_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        held = self._command_keys.get(command_id)
        if held is not None and held[0] == tenant_id:
            self._command_keys[command_id] = (tenant_id, replace(held[1], sent=True))

    async def find_command_key(
        self, command_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey | None:
        held = self._command_keys.get(command_id)
        return held[1] if held is not None and held[0] == tenant_id else None

    def _forget_command_keys(self, run_ids: set[str]) -> None:
        """Drop the keys of purged runs, as the foreign key's cascade does in Postgres."""
        for command_id, (_, key) in list(self._command_keys.items()):
            if key.run_id in run_ids:
                del self._command_keys[command_id]
