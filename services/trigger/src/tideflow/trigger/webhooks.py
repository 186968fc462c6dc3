"""Receiving a webhook: find the trigger, check the signature, dedupe, start the run.

A request that is not signed with the trigger's secret (or is older than the tolerance)
starts nothing and gets 401, whatever it carries. The dedupe key is the
`idempotencyKey` template when the trigger has one, else the delivery id the sender put
in a header (`X-Tideflow-Delivery`, GitHub's `X-GitHub-Delivery`), else a Stripe event's
`id`, else a hash of the signed body: the same delivery always answers with the same run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tideflow.core import (
    DefinitionError,
    ExpressionError,
    LimitCode,
    Scope,
    WebhookScheme,
    WebhookTrigger,
    render,
    validate_input,
)
from tideflow.runtime import ApiError, has_nul
from tideflow.settings import LimitsSettings
from tideflow.store import NotFound, TriggerType
from tideflow.trigger import metrics
from tideflow.trigger.payloads import screen
from tideflow.trigger.signatures import BadSignatureError, verify
from tideflow.trigger.starting import (
    Definitions,
    idempotency_key,
    prepare,
    publish,
    take_start,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import RunRecord, TriggerStore
    from tideflow.trigger.secrets import SecretSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Hook:
    """One incoming request, as received."""

    tenant_id: str
    workflow_id: str
    trigger_id: str
    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Accepted:
    run: RunRecord
    created: bool


def _unauthorized() -> ApiError:
    return ApiError(401, "BAD_SIGNATURE", "the request is not signed with this trigger's secret")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _parse_body(body: bytes, headers: Mapping[str, str]) -> Any:
    """JSON bodies as JSON; anything else as text (bytes that are not UTF-8: 422).

    NaN and ±Infinity are not JSON and NUL characters cannot be stored (Postgres refuses
    both), so a body holding them is refused (422) rather than failing the start.
    """
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if not body:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "INVALID_BODY", "the body is neither JSON nor UTF-8 text") from None
    value: Any = text
    if "json" in content_type or text.lstrip()[:1] in {"{", "["}:
        try:
            value = json.loads(text, parse_constant=_not_json)
        except RecursionError:
            raise _too_deep() from None
        except ValueError:
            if "json" in content_type:
                raise ApiError(422, "INVALID_BODY", "the body is not valid JSON") from None
    if has_nul(value):
        raise ApiError(422, "INVALID_BODY", "the body contains a NUL character (\\u0000)")
    return value


def _too_deep() -> ApiError:
    return ApiError(422, "JSON_TOO_DEEP", "the body nests too deep to be read as JSON")


def _refuse_input(run_input: Any, limits: LimitsSettings) -> None:
    """413/422 when the run input cannot be stored (the log's limits, as the API's).

    Nothing in front of `tide serve trigger` checks a body's depth or numbers; `json`
    reads `1e400` as infinity."""
    violation = screen(run_input, limits, what="the input")
    if violation is None:
        return
    if violation.code is LimitCode.VALUE_TOO_LARGE:
        limit = int(limits.input_bytes)
        raise ApiError(413, "INPUT_TOO_LARGE", violation.message, {"limit": limit})
    if violation.code is LimitCode.VALUE_TOO_DEEP:
        raise ApiError(422, "JSON_TOO_DEEP", violation.message, {"limit": limits.json_depth})
    raise ApiError(422, "INVALID_BODY", violation.message)


class Webhooks:
    """The webhook use case; one per process."""

    def __init__(
        self,
        *,
        store: TriggerStore,
        bus: Bus,
        definitions: Definitions,
        secrets: SecretSource,
        tolerance: timedelta,
        outbox_claim: timedelta,
        quotas: TenantQuotas | None = None,
        limits: LimitsSettings | None = None,
    ) -> None:
        self._quotas = quotas
        self._limits = limits or LimitsSettings()
        self._store = store
        self._bus = bus
        self.definitions = definitions
        self._secrets = secrets
        self._tolerance = tolerance
        self._outbox_claim = outbox_claim

    async def receive(self, hook: Hook, *, now: datetime | None = None) -> Accepted:
        """Start (or find) the run this delivery asks for; ApiError 401/404/422 otherwise."""
        now = now or datetime.now(UTC)
        try:
            record = await self._store.get_trigger(
                hook.workflow_id, hook.trigger_id, tenant_id=hook.tenant_id
            )
        except NotFound:
            raise ApiError(
                404, "TRIGGER_NOT_FOUND",
                f"workflow {hook.workflow_id!r} has no webhook {hook.trigger_id!r}",
            ) from None  # fmt: skip
        if record.type is not TriggerType.WEBHOOK or record.paused:
            reason = "is paused" if record.paused else "is not a webhook"
            raise ApiError(
                404 if not record.paused else 409,
                "TRIGGER_PAUSED" if record.paused else "TRIGGER_NOT_FOUND",
                f"trigger {hook.trigger_id!r} {reason}",
            )
        spec = WebhookTrigger.model_validate(record.spec)
        secret = await self._secrets.get(record.tenant_id, spec.secret)
        if secret is None:
            metrics.REJECTED.labels("no-secret").inc()
            log.warning("webhook %s/%s: secret %s is not set", hook.workflow_id,
                        hook.trigger_id, spec.secret)  # fmt: skip
            raise _unauthorized()
        try:
            verified = verify(
                spec.scheme, secret, hook.headers, hook.body, now=now, tolerance=self._tolerance
            )
        except BadSignatureError as e:
            metrics.REJECTED.labels("signature").inc()
            log.info("webhook %s/%s refused: %s", hook.workflow_id, hook.trigger_id, e)
            raise _unauthorized() from None
        body = _parse_body(hook.body, hook.headers)
        context = {
            "body": body,
            "headers": {k.lower(): v for k, v in hook.headers.items()},
            "query": dict(hook.query),
            "trigger": {"id": record.trigger_id, "workflow": record.workflow_id},
        }
        try:
            run_input = (
                body if spec.input is None else render(spec.input, context, Scope.WEBHOOK).value
            )
            key = (
                str(render(spec.idempotency_key, context, Scope.WEBHOOK).value)
                if spec.idempotency_key
                else _delivery_key(spec, verified.delivery_id, body, hook)
            )
        except ExpressionError as e:
            raise ApiError(422, "EXPRESSION_FAILED", f"trigger {hook.trigger_id!r}: {e}") from e
        _refuse_input(run_input, self._limits)
        try:
            definition = await self.definitions.get(record)
        except DefinitionError as e:
            raise ApiError(
                409, "INVALID_DEFINITION", f"version {record.version} no longer validates"
            ) from e
        problems = validate_input(definition, run_input)
        if problems:
            raise ApiError(
                422, "INPUT_INVALID", "the input does not match the workflow's input schema",
                {"problems": [{"code": str(p.code), "path": p.path, "message": p.message}
                              for p in problems]},
            )  # fmt: skip
        refused = await take_start(self._quotas, record)
        if refused is not None:
            # A delivery that already started its run answers with it, limit or not
            known = await self._store.find_started(
                record.workflow_id, idempotency_key(record, f"webhook:{key}"),
                tenant_id=record.tenant_id,
            )  # fmt: skip
            if known is not None:
                metrics.DUPLICATES.labels("webhook").inc()
                return Accepted(run=known, created=False)
            # Nothing is started or recorded: the sender retries after `Retry-After` (every
            # webhook sender retries a 429), and the retry is deduplicated as usual.
            metrics.THROTTLED.labels("webhook").inc()
            wait = refused.retry_after_seconds
            raise ApiError(
                429, "RATE_LIMITED",
                f"the tenant's run-start limit is exhausted; retry after {wait} s",
                {"retryAfter": wait},
            )  # fmt: skip
        triggered = prepare(
            record, definition, run_input=run_input, key=f"webhook:{key}",
            topic=self._bus.topics.runs, now=now,
        )  # fmt: skip
        outcomes = await self._store.start_runs([triggered], outbox_claimed_for=self._outbox_claim)
        await publish(self._store, self._bus, [triggered], outcomes)
        outcome = outcomes[0]
        (metrics.STARTS if outcome.created else metrics.DUPLICATES).labels("webhook").inc()
        return Accepted(run=outcome.run, created=outcome.created)


def _delivery_key(spec: WebhookTrigger, delivery_id: str | None, body: Any, hook: Hook) -> str:
    if delivery_id:
        return delivery_id
    if spec.scheme is WebhookScheme.STRIPE and isinstance(body, dict) and body.get("id"):
        return str(body["id"])
    # No id from the sender: the same signed request (timestamp and body) is one delivery.
    stamp = next((v for k, v in hook.headers.items() if k.lower() == "x-tideflow-timestamp"), "")
    return "sha256:" + hashlib.sha256(stamp.encode() + b"." + hook.body).hexdigest()
