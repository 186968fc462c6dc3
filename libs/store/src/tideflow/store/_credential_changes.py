"""Credentials that changed, for sessions that outlive a request (collaboration rooms).

A session proven once (a WebSocket) watches its credential's key: the event is set when
the API token is revoked or deleted, or the user is given another role, disabled or
deleted. The Postgres store learns of it at the commit, whichever process changed it,
from `NOTIFY tideflow_credential_changed` (triggers of migration 0022); the in-memory one
from its own writes. A store that may have missed changes (its listening connection was
lost) sets every watcher's event: the session checks its credential again, which is safe.
"""

from __future__ import annotations

CREDENTIAL_CHANGED_CHANNEL = "tideflow_credential_changed"


def credential_key(kind: str, credential_id: str) -> str:
    """`token:<token id>` or `user:<user id>`: what the triggers notify."""
    return f"{kind}:{credential_id}"
