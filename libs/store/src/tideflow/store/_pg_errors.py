"""Translation of asyncpg errors into the store's error types, at the adapter boundary."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import asyncpg

from tideflow.store._errors import AlreadyExists, Immutable, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

# SQLSTATE raised by the append-only / immutability triggers of the migrations.
IMMUTABLE_SQLSTATE = "TF001"

_TRANSIENT = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InsufficientResourcesError,
)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise driver errors raised inside the block as `StoreError` subclasses."""
    try:
        yield
    except StoreError:
        raise
    except asyncpg.UniqueViolationError as e:
        raise AlreadyExists(f"{action}: {e.detail or e}") from e
    except _TRANSIENT as e:
        raise StoreUnavailable(f"{action}: {e}") from e
    except asyncpg.PostgresError as e:
        if e.sqlstate == IMMUTABLE_SQLSTATE:
            raise Immutable(f"{action}: {e}") from e
        raise StoreError(f"{action}: {e}") from e
