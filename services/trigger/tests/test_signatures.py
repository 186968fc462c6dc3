"""Webhook signatures: each scheme accepts exactly what its sender signs, nothing older."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.core import WebhookScheme
from tideflow.trigger.signatures import BadSignatureError, tideflow_headers, verify

pytestmark = pytest.mark.unit

SECRET = "s3cret"
BODY = b'{"order": 42}'
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOLERANCE = timedelta(minutes=5)


def check(scheme: WebhookScheme, headers: dict[str, str], body: bytes = BODY) -> str | None:
    return verify(scheme, SECRET, headers, body, now=NOW, tolerance=TOLERANCE).delivery_id


def test_tideflow_scheme_accepts_its_own_signature_within_five_minutes() -> None:
    for skew in (0, -299, 299):
        stamp = int(NOW.timestamp()) + skew
        headers = {**tideflow_headers(SECRET, BODY, stamp), "X-Tideflow-Delivery": "d-1"}
        assert check(WebhookScheme.TIDEFLOW, headers) == "d-1"
    # header names are case-insensitive, as HTTP says
    lower = {k.lower(): v for k, v in tideflow_headers(SECRET, BODY, int(NOW.timestamp())).items()}
    assert check(WebhookScheme.TIDEFLOW, lower) is None


@pytest.mark.parametrize(
    "tamper",
    ["stale", "future", "body", "secret", "missing-signature", "missing-timestamp", "garbage",
     "no-prefix", "not-a-number"],
)  # fmt: skip
def test_tideflow_scheme_refuses(tamper: str) -> None:
    stamp = int(NOW.timestamp())
    body = BODY
    headers = tideflow_headers(SECRET, BODY, stamp)
    if tamper == "stale":
        headers = tideflow_headers(SECRET, BODY, stamp - 301)
    elif tamper == "future":
        headers = tideflow_headers(SECRET, BODY, stamp + 301)
    elif tamper == "body":
        body = b'{"order": 43}'
    elif tamper == "secret":
        headers = tideflow_headers("other", BODY, stamp)
    elif tamper == "missing-signature":
        del headers["X-Tideflow-Signature"]
    elif tamper == "missing-timestamp":
        del headers["X-Tideflow-Timestamp"]
    elif tamper == "garbage":
        headers["X-Tideflow-Signature"] = "sha256=zz"
    elif tamper == "no-prefix":
        headers["X-Tideflow-Signature"] = headers["X-Tideflow-Signature"].removeprefix("sha256=")
    elif tamper == "not-a-number":
        headers["X-Tideflow-Timestamp"] = "yesterday"
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.TIDEFLOW, headers, body)


def test_github_scheme() -> None:
    good = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": good, "X-GitHub-Delivery": "gh-7"}
    assert check(WebhookScheme.GITHUB, headers) == "gh-7"
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.GITHUB, {"X-Hub-Signature-256": good}, b"{}")
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.GITHUB, {"X-Hub-Signature": "sha1=abc"})


def stripe_header(stamp: int, secret: str = SECRET, extra: str = "") -> str:
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={signature}{extra}"


def test_stripe_scheme_with_rolled_secrets_and_tolerance() -> None:
    stamp = int(NOW.timestamp())
    assert check(WebhookScheme.STRIPE, {"Stripe-Signature": stripe_header(stamp)}) is None
    # while a secret rolls, Stripe sends a v1 per secret: one match is enough
    rolled = stripe_header(stamp, "old") + "," + stripe_header(stamp).split(",")[1]
    assert check(WebhookScheme.STRIPE, {"Stripe-Signature": rolled}) is None
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.STRIPE, {"Stripe-Signature": stripe_header(stamp - 301)})
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.STRIPE, {"Stripe-Signature": stripe_header(stamp, "old")})
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.STRIPE, {})


@pytest.mark.parametrize("stamp", ["9" * 400, "-" + "9" * 400, "1" + "0" * 308, "٣"])
def test_an_out_of_range_timestamp_is_a_bad_signature_not_a_crash(stamp: str) -> None:
    """A timestamp too large for a float once answered 500 (OverflowError) before the
    signature was even checked: any caller could make the trigger service log incidents."""
    signed = {
        "X-Tideflow-Timestamp": stamp,
        "X-Tideflow-Signature": "sha256=" + hmac.new(
            SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest(),
    }  # fmt: skip
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.TIDEFLOW, signed)
    stripe = {"Stripe-Signature": f"t={stamp},v1=00"}
    with pytest.raises(BadSignatureError):
        check(WebhookScheme.STRIPE, stripe)
