"""Webhook signatures: ours, GitHub's and Stripe's, checked in constant time.

- `tideflow`: `X-Tideflow-Timestamp: <unix seconds>` and
  `X-Tideflow-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>`;
  the timestamp must be within the tolerance (5 minutes) of now, either way, so a
  captured request cannot be replayed later.
- `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (GitHub signs
  no time; its `X-GitHub-Delivery` id dedupes redeliveries).
- `stripe`: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`
  (several `v1` entries while a secret rolls), with the same tolerance.

Every failure is the same `BadSignatureError` to the caller (401); the reason is only logged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.core import WebhookScheme

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime, timedelta


class BadSignatureError(Exception):
    """The request is not signed with the trigger's secret (or is too old)."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a valid signature tells about the delivery."""

    delivery_id: str | None


def sign(secret: str, message: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `message` with `secret`."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def tideflow_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers a sender of our scheme adds (what `tide` tests and clients use)."""
    signature = sign(secret, f"{timestamp}.".encode() + body)
    return {"X-Tideflow-Timestamp": str(timestamp), "X-Tideflow-Signature": f"sha256={signature}"}


def _equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


_MAX_STAMP_DIGITS = 12
"""Unix seconds fit in 11 digits until the year 5138; anything longer is not a time."""


def _fresh(timestamp: str, now: datetime, tolerance: timedelta) -> int:
    """The timestamp as an int when it is ASCII unix seconds within the tolerance of now.

    Compared as integers: a value too large for a float is refused, never an OverflowError.
    """
    digits = timestamp.strip().removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_STAMP_DIGITS:
        raise BadSignatureError("timestamp is not unix seconds")
    value = int(timestamp)
    if abs(now.timestamp() - value) > tolerance.total_seconds():
        raise BadSignatureError("timestamp outside the tolerance")
    return value


def verify(
    scheme: WebhookScheme,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta,
) -> Verified:
    """Check the request's signature; BadSignatureError when it does not hold."""
    lower = {k.lower(): v for k, v in headers.items()}
    if scheme is WebhookScheme.GITHUB:
        given = lower.get("x-hub-signature-256", "")
        if not given.startswith("sha256=") or not _equal(sign(secret, body), given[7:]):
            raise BadSignatureError("X-Hub-Signature-256 does not match")
        return Verified(delivery_id=lower.get("x-github-delivery"))
    if scheme is WebhookScheme.STRIPE:
        parts = [p.split("=", 1) for p in lower.get("stripe-signature", "").split(",") if "=" in p]
        timestamp = next((v for k, v in parts if k.strip() == "t"), "")
        candidates = [v for k, v in parts if k.strip() == "v1"]
        _fresh(timestamp, now, tolerance)
        expected = sign(secret, f"{timestamp}.".encode() + body)
        if not any(_equal(expected, c) for c in candidates):
            raise BadSignatureError("Stripe-Signature does not match")
        return Verified(delivery_id=None)
    timestamp = lower.get("x-tideflow-timestamp", "")
    given = lower.get("x-tideflow-signature", "")
    _fresh(timestamp, now, tolerance)
    expected = sign(secret, f"{timestamp}.".encode() + body)
    if not given.startswith("sha256=") or not _equal(expected, given[7:]):
        raise BadSignatureError("X-Tideflow-Signature does not match")
    return Verified(delivery_id=lower.get("x-tideflow-delivery"))
