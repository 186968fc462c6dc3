"""Secret values, redacted by value from everything the executor reports or logs.

The executor is the only process that holds secret values, so it is the one place that
can recognise them: in a step's output (a server echoing a token back), in its error
(the URL of a failed request, an exception message), in the lines a task logs, and in
this process's own log records (an httpx or traceback line). Each value is also matched
in the forms it takes on the way out: URL-encoded (a query string), JSON-escaped, and
mis-decoded as Latin-1 (a header value echoed back), and as a host name: matched without
regard to case (hosts are lowercased) and IDNA-encoded.

Values a handler derives from secrets at run time (a Basic header's base64, an OAuth2
token) are learned through `learn_derived` (`NodeContext.sensitive`); being renewed for
ever, only the most recently used DERIVED_KEPT of them are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, quote_plus

import orjson

MASK = "[redacted]"
DERIVED_KEPT = 10_000
"""Values derived at run time (tokens, encoded credentials) kept, most recently used
first: tokens are renewed hourly, so an executor running for months must forget expired
ones rather than grow its pattern without bound."""


def _forms(value: str) -> set[str]:
    """The value as it may come back: raw, URL-encoded, JSON-escaped, and as the Latin-1
    reading of its UTF-8 bytes (how HTTP header values are decoded)."""
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    ascii_escaped = json.dumps(value)[1:-1]
    latin1 = value.encode().decode("latin-1")
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        escaped,
        ascii_escaped,
        latin1,
    }
    # a non-ASCII host name is sent (and reported) as IDNA: "xn--bcher-key-q9a"
    with contextlib.suppress(UnicodeError):
        forms.add(value.lower().encode("idna").decode())
    return forms


class Redactor:
    """Knows every secret value this process has loaded; replaces them with MASK."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._learned: frozenset[str] = frozenset()  # the values, before their forms
        self._derived: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None

    def learn(self, values: Any) -> None:
        """Remember these secret values (strings; empty ones are ignored).

        Called before every step with all of the tenant's secrets: values already learned
        are recognised as such, without working out their forms again."""
        fresh = {v for v in values if isinstance(v, str) and v} - self._learned
        if not fresh:
            return
        found = {form for v in fresh for form in _forms(v) if form}
        with self._lock:
            self._learned |= fresh
            if not found <= self._secrets:
                self._secrets |= found
                self._compile()

    def learn_derived(self, values: Any) -> None:
        """Remember values derived from secrets at run time (`NodeContext.sensitive`):
        masked like secrets, but only the DERIVED_KEPT most recently used are kept."""
        with self._lock:
            changed = False
            for value in values:
                if not isinstance(value, str) or not value:
                    continue
                if value in self._derived:
                    self._derived.move_to_end(value)
                    continue
                self._derived[value] = frozenset(f for f in _forms(value) if f)
                changed = True
            while len(self._derived) > DERIVED_KEPT:
                self._derived.popitem(last=False)
                changed = True
            if changed:
                self._compile()

    def _compile(self) -> None:
        """The pattern of every known form; called with the lock held."""
        known = self._secrets.union(*self._derived.values())
        if not known:
            self._pattern = None
            return
        # one alternation, longest first, so a secret that contains another is masked
        # whole and a text is scanned once whatever the number of secrets
        ordered = sorted(known, key=len, reverse=True)
        # without case: a secret in a URL's host comes back lowercased in errors
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)

    @property
    def empty(self) -> bool:
        return self._pattern is None

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """`value` (JSON data) with every string, key included, redacted.

        The value is encoded once and searched; only one that holds a secret is walked
        (the escaped forms are among those learned, so the encoding finds them all).
        """
        if self._pattern is None or value is None or isinstance(value, bool | int | float):
            return value
        try:
            encoded = orjson.dumps(value).decode()
        except TypeError:
            encoded = None
        if encoded is not None and self._pattern.search(encoded) is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Replace a record's message (and traceback) by their redacted text."""
    if redactor.empty:
        return
    message = record.getMessage()
    redacted = redactor.text(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text, record.exc_info = redactor.text(text), None


# Log records are process-wide, so is this list: every executor running in the process
# (one in production, one per test or `tide dev`) adds its redactor once.
_redactors: list[Redactor] = []


def install_log_redaction(redactor: Redactor) -> None:
    """Redact every log record of this process as it is created, whichever handler
    (JSON logs, pytest's capture, a task's step log) formats it later. httpx's request
    lines, which carry whole URLs, are kept out of the logs as well."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not any(r is redactor for r in _redactors):
        _redactors.append(redactor)
    previous = logging.getLogRecordFactory()
    if getattr(previous, "tideflow_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for each in _redactors:
            redact_record(record, each)
        return record

    factory.tideflow_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def remove_log_redaction(redactor: Redactor) -> None:
    """Forget `redactor` when its executor stops (the factory stays, cheap when empty)."""
    _redactors[:] = [r for r in _redactors if r is not redactor]
