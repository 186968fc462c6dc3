"""Webhook signing secrets by name, resolved at request time.

Values come from `TIDEFLOW_SECRET_<NAME>` environment variables (as the executor's
`secrets.<name>`) until the tenant secret store is wired in behind `SecretSource`.
"""

from __future__ import annotations

import os
from typing import Protocol

PREFIX = "TIDEFLOW_SECRET_"


class SecretSource(Protocol):
    def get(self, tenant_id: str, name: str) -> str | None:
        """The secret's value, or None when it does not exist."""
        ...


class EnvironmentSecrets:
    """`TIDEFLOW_SECRET_UPLOAD_HOOK=...` is the secret `UPLOAD_HOOK` (any case)."""

    def get(self, tenant_id: str, name: str) -> str | None:  # noqa: ARG002 - one tenant here
        return os.environ.get(PREFIX + name) or os.environ.get(PREFIX + name.upper())
