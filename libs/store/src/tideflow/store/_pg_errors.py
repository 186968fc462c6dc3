"""Translation of asyncpg errors into the store's error types, at the adapter boundary."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import asyncpg

from tideflow.store._errors import (
    AlreadyExists,
    Immutable,
    InvalidData,
    StoreError,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

# SQLSTATE raised by the append-only / immutability triggers of the migrations.
IMMUTABLE_SQLSTATE = "TF001"
# SQLSTATE classes that say the data itself is unacceptable (22: data exception, including
# a value our JSON codec could not encode; 54: program limit exceeded, e.g. a jsonb too big).
_INVALID_DATA_CLASSES = ("22", "54")

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
        if isinstance(e, asyncpg.DataError) or str(e.sqlstate or "")[:2] in _INVALID_DATA_CLASSES:
            raise InvalidData(f"{action}: {e}") from e
        if e.sqlstate == IMMUTABLE_SQLSTATE:
            raise Immutable(f"{action}: {e}") from e
        raise StoreError(f"{action}: {e}") from e
