"""The gateway's REST API as the operator uses it: workflows, publish, archive, last run.

Errors are split by what the operator should do about them: `GatewayUnavailable` (no
answer, 5xx, 429: retry later), `GatewayRejected` (a 4xx about the request: report it, do
not retry the same input). Both carry the API's stable error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from datetime import timedelta

_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


class GatewayError(Exception):
    """The gateway did not do what was asked."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class GatewayUnavailable(GatewayError):  # noqa: N818 - reads as a state, like kopf's errors
    """No answer, or one that says to come back later."""


class GatewayRejected(GatewayError):  # noqa: N818
    """The request itself is wrong (validation, auth, conflict): retrying it changes nothing."""


@dataclass(frozen=True, slots=True)
class Published:
    """The answer of a publish: the version, and whether it is new."""

    version: int
    created: bool


class GatewayClient:
    """One authenticated HTTP client for the operator's whole life."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: timedelta,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout.total_seconds(),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise GatewayUnavailable(0, "GATEWAY_UNREACHABLE", f"{method} {path}: {e}") from e
        if response.status_code < 400:  # noqa: PLR2004 - HTTP success
            return response
        try:
            error = response.json()["error"]
            code, message, details = error["code"], error["message"], error.get("details")
        except (ValueError, KeyError, TypeError):
            code, message, details = f"HTTP_{response.status_code}", response.text[:500], None
        kind = GatewayUnavailable if response.status_code in _RETRYABLE else GatewayRejected
        raise kind(response.status_code, code, message, details)

    async def get_workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """The workflow (draft, archived flag, latest version) or None when there is none."""
        try:
            response = await self._call("GET", f"/workflows/{workflow_id}")
        except GatewayRejected as e:
            if e.status == 404:  # noqa: PLR2004
                return None
            raise
        result: dict[str, Any] = response.json()
        return result

    async def create(self, document: dict[str, Any]) -> None:
        await self._call("POST", "/workflows", json=document)

    async def replace_draft(self, workflow_id: str, document: dict[str, Any]) -> None:
        await self._call("PUT", f"/workflows/{workflow_id}", json=document)

    async def restore(self, workflow_id: str) -> None:
        await self._call("POST", f"/workflows/{workflow_id}/restore")

    async def publish(self, workflow_id: str) -> Published:
        body = (await self._call("POST", f"/workflows/{workflow_id}/publish")).json()
        return Published(version=int(body["version"]), created=bool(body.get("created", True)))

    async def archive(self, workflow_id: str) -> bool:
        """Archive; False when there was nothing to archive."""
        try:
            await self._call("DELETE", f"/workflows/{workflow_id}")
        except GatewayRejected as e:
            if e.status == 404:  # noqa: PLR2004
                return False
            raise
        return True

    async def last_run(self, workflow_id: str) -> dict[str, Any] | None:
        """The newest run of the workflow, or None."""
        response = await self._call("GET", "/runs", params={"workflowId": workflow_id, "limit": 1})
        items = response.json().get("items", [])
        return dict(items[0]) if items else None
