"""`CommandKeys` on Postgres (migration 0024), mixed into `PostgresEventStore`."""

from __future__ import annotations

from tideflow.store._command_keys import CommandKey
from tideflow.store._errors import NotFound
from tideflow.store._pg_errors import translated
from tideflow.store._pg_workflows import ScopedQueries
from tideflow.store._records import DEFAULT_TENANT

# One statement: the new claim, or the earlier one. A claim a concurrent transaction was
# making when this one began is not in this statement's snapshot (the insert waited for it
# and then did nothing), so the caller asks once more.
CLAIM = """
WITH claimed AS (
    INSERT INTO command_keys (command_id, tenant_id, run_id, digest) VALUES ($1, $2, $3, $4)
    ON CONFLICT (command_id) DO NOTHING
    RETURNING run_id, digest, sent, true AS created
)
SELECT run_id, digest, sent, created FROM claimed
UNION ALL
SELECT run_id, digest, sent, false FROM command_keys WHERE command_id = $1
"""
FIND = "SELECT run_id, digest, sent FROM command_keys WHERE command_id = $1"
MARK_SENT = "UPDATE command_keys SET sent = true WHERE command_id = $1 AND NOT sent"


class PostgresCommandKeys(ScopedQueries):
    """Claims of keyed run commands, scoped to the caller's tenant."""

    async def claim_command_key(
        self, command_id: str, run_id: str, digest: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey:
        for _ in range(3):
            with translated(f"claim command {command_id}"):
                row = await self._fetchrow(tenant_id, CLAIM, command_id, tenant_id, run_id, digest)
            if row is not None:
                return CommandKey(
                    command_id, row["run_id"], row["digest"], row["sent"], row["created"]
                )
        # not even visible after the concurrent claim committed: another tenant's row
        raise NotFound(f"command {command_id} is not this tenant's")

    async def mark_command_sent(self, command_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        with translated(f"mark command {command_id} sent"):
            await self._execute(tenant_id, MARK_SENT, command_id)

    async def find_command_key(
        self, command_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CommandKey | None:
        with translated(f"find command {command_id}"):
            row = await self._fetchrow(tenant_id, FIND, command_id)
        if row is None:
            return None
        return CommandKey(command_id, row["run_id"], row["digest"], row["sent"], created=False)
