"""Outbound run-event webhooks: the dispatcher (docs/webhooks.md).

Two loops share one task: **fan-out** follows the event log and turns each event some
subscription wants into a delivery row, in the transaction that advances its follower
(`WebhookStore.fan_out_webhooks`), so nothing is lost across restarts and nothing is
queued twice; **delivery** leases due deliveries, POSTs each one signed like our inbound
webhooks (`X-Tideflow-Timestamp`, `X-Tideflow-Signature: sha256=HMAC(secret,
"{timestamp}.{body}")`) with its delivery id (`X-Tideflow-Delivery`), records the attempt
and either finishes it (2xx), schedules the next attempt with exponential backoff, or —
past `retry_for` (a day) or on a permanent refusal (the egress policy) — gives it up and
flags the subscription. Every request passes the egress policy.

A dispatcher killed mid-request leaves its lease to expire; the delivery is then sent
again with the same delivery id (receivers dedupe on it). A delivery recorded as
succeeded is never sent again. The trigger service runs the dispatcher (`tide serve
trigger`, and `tide dev`); several replicas share the work through the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from tideflow.auth import Envelope, Sealed, key_provider
from tideflow.nodes import EgressDenied, EgressPolicy, GuardedTransport, ResponseTooLarge
from tideflow.store import AttemptOutcome, ClaimedDelivery, WebhookStore
from tideflow.trigger import metrics
from tideflow.trigger.signatures import tideflow_headers

if TYPE_CHECKING:
    from collections.abc import Callable

    from tideflow.settings import KeySettings
    from tideflow.trigger.settings import TriggerSettings

log = logging.getLogger(__name__)

RESPONSE_CHARS = 2048
SUCCESS_MIN, SUCCESS_MAX = 200, 300


def secret_name(subscription_id: str) -> str:
    """The name a subscription's signing secret is sealed under (bound into the AAD)."""
    return f"subscription:{subscription_id}"


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How often to look, how many at once, and how long to keep trying."""

    poll: timedelta = timedelta(seconds=1)
    batch: int = 100
    concurrency: int = 16
    lease: timedelta = timedelta(seconds=60)
    timeout: timedelta = timedelta(seconds=10)
    initial_backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(hours=1)
    retry_for: timedelta = timedelta(days=1)

    def backoff(self, attempt: int) -> timedelta:
        """Before attempt `attempt + 1`: initial x 2^(attempt-1), at most `max_backoff`."""
        seconds = self.initial_backoff.total_seconds() * 2 ** min(attempt - 1, 40)
        return timedelta(seconds=min(seconds, self.max_backoff.total_seconds()))


class Dispatcher:
    """Fans events out into deliveries and sends them; one per trigger process."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        envelope: Envelope,
        http: httpx.AsyncClient,
        policy: DispatchPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._envelope = envelope
        self._http = http
        self.policy = policy or DispatchPolicy()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._slots = asyncio.Semaphore(self.policy.concurrency)

    async def fan_out(self) -> int:
        """Queue the deliveries of the next events; how many events were read."""
        read = await self._store.fan_out_webhooks(
            limit=self.policy.batch * 5, retry_for_s=self.policy.retry_for.total_seconds()
        )
        metrics.WEBHOOK_QUEUED.inc(read or 0)
        return read or 0

    async def deliver_due(self) -> int:
        """Send every due delivery (up to a batch); how many were attempted."""
        claimed = await self._store.claim_deliveries(
            now=self._clock(), limit=self.policy.batch,
            lease_s=self.policy.lease.total_seconds(),
        )  # fmt: skip
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: fan out and deliver, again at once while there is work."""
        while not stop.is_set():
            busy = False
            try:
                busy = await self.fan_out() > 0
                busy = await self.deliver_due() > 0 or busy
            except Exception:
                log.exception("webhook dispatch failed; retrying")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.policy.poll.total_seconds())

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        async with self._slots:
            outcome = await self._attempt(delivery)
        metrics.WEBHOOK_SECONDS.observe(outcome.duration_ms / 1000)
        metrics.WEBHOOK_ATTEMPTS.labels(
            "succeeded" if outcome.succeeded
            else "retry" if outcome.next_attempt_at is not None
            else "given_up"
        ).inc()  # fmt: skip
        if not outcome.succeeded and outcome.next_attempt_at is None:
            log.warning(
                "webhook delivery %s to %s given up after %d attempt(s): %s",
                delivery.delivery_id, delivery.url, delivery.attempt, outcome.error,
            )  # fmt: skip
        try:
            await self._store.record_attempt(delivery, outcome)
        except Exception:  # the lease expires and the delivery is sent again
            log.exception("recording delivery %s failed", delivery.delivery_id)

    async def _attempt(self, delivery: ClaimedDelivery) -> AttemptOutcome:
        started = self._clock()
        began = time.perf_counter()
        status: int | None = None
        text: str | None = None
        error: str | None = None
        permanent = False
        try:
            secret = await self._envelope.open(
                delivery.tenant_id, secret_name(delivery.subscription_id),
                Sealed(delivery.secret.ciphertext, delivery.secret.wrapped_key,
                       delivery.secret.kek_id),
            )  # fmt: skip
            body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Tideflow-Webhooks/1",
                "X-Tideflow-Delivery": delivery.delivery_id,
                "X-Tideflow-Event": delivery.event_type,
                "X-Tideflow-Attempt": str(delivery.attempt),
                **tideflow_headers(secret, body, int(time.time())),
            }
            async with self._http.stream(
                "POST", delivery.url, content=body, headers=headers,
                timeout=self.policy.timeout.total_seconds(),
            ) as response:  # fmt: skip
                status = response.status_code
                text = await response_head(response)
            if not SUCCESS_MIN <= status < SUCCESS_MAX:
                error = f"answered {status}"
        except EgressDenied as e:
            error, permanent = f"EgressDenied: {e}", True
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:  # the same URL fails again
            error, permanent = f"{type(e).__name__}: {e}"[:500], True
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"[:500] or type(e).__name__
        except Exception as e:  # noqa: BLE001 - a bad secret or URL fails this attempt only
            error = f"{type(e).__name__}: {e}"[:500]
        succeeded = error is None
        next_at = None
        now = self._clock()
        if not succeeded and not permanent and now < delivery.give_up_at:
            # a last attempt at the deadline, then the delivery is given up
            next_at = min(now + self.policy.backoff(delivery.attempt), delivery.give_up_at)
        return AttemptOutcome(
            started_at=started, duration_ms=int((time.perf_counter() - began) * 1000),
            status_code=status, response_body=text, error=error, succeeded=succeeded,
            next_attempt_at=next_at,
        )  # fmt: skip


def policy_of(settings: TriggerSettings) -> DispatchPolicy:
    return DispatchPolicy(
        poll=settings.delivery_poll, concurrency=settings.delivery_concurrency,
        lease=settings.delivery_lease, timeout=settings.delivery_timeout,
        initial_backoff=settings.delivery_initial_backoff,
        max_backoff=settings.delivery_max_backoff, retry_for=settings.delivery_retry_for,
    )  # fmt: skip


def guarded_client(settings: TriggerSettings, *, listeners: list[str]) -> httpx.AsyncClient:
    """An HTTP client whose every connection (and redirect) passes the egress policy."""
    policy = EgressPolicy.from_settings(
        settings.egress, listeners=[*listeners, f"{settings.host}:{settings.port}"]
    )
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, response_bytes=int(settings.egress.response_bytes)),
        follow_redirects=False, trust_env=False,
    )  # fmt: skip


def envelope_of(keys: KeySettings) -> Envelope:
    """Opens subscription secrets with the key provider the gateway sealed them with."""
    return Envelope(
        key_provider(
            key_file=keys.key_file, kms_key_id=keys.kms_key_id, kms_region=keys.kms_region,
            kms_endpoint=keys.kms_endpoint,
        )
    )  # fmt: skip


async def response_head(response: httpx.Response, chars: int = RESPONSE_CHARS) -> str:
    """The first `chars` characters of a streamed answer, reading no more than that: a
    receiver answering gigabytes must not make this process hold them."""
    limit = chars * 4  # UTF-8: at most four bytes a character
    head = bytearray()
    # delivered: an answer over the transport's cap ends the read, not the delivery
    with contextlib.suppress(ResponseTooLarge):
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= limit:
                break
    try:
        return head[:limit].decode(response.charset_encoding or "utf-8", errors="replace")[:chars]
    except LookupError:  # a charset Python does not know
        return head[:limit].decode("utf-8", errors="replace")[:chars]
