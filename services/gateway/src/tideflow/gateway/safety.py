"""Input Postgres cannot store, refused before it reaches the store.

`jsonb` and `text` reject the NUL character; without this check such a body would fail
deep in the store and surface as an internal error instead of a clear 422.
"""

from __future__ import annotations

from typing import Any

from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.runtime import has_nul


def reject_nul(value: Any, path: str) -> None:
    if has_nul(value):
        raise ApiError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"{path} contains a NUL character (\\u0000), which cannot be stored",
            {"problems": [{"path": path, "message": "NUL characters are not allowed"}]},
        )
