"""Input Postgres cannot store, refused before it reaches the store.

`jsonb` and `text` reject the NUL character; without this check such a body would fail
deep in the store and surface as an internal error instead of a clear 422.
"""

from __future__ import annotations

from typing import Any

from tideflow.gateway.errors import ApiError, ErrorCode


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def reject_nul(value: Any, path: str) -> None:
    if _has_nul(value):
        raise ApiError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"{path} contains a NUL character (\\u0000), which cannot be stored",
            {"problems": [{"path": path, "message": "NUL characters are not allowed"}]},
        )
