"""A span exporter that appends finished spans to a file as JSON lines.

For looking at traces without a collector (`OTEL_TRACES_EXPORTER=jsonl`,
`TIDEFLOW_TRACES_FILE=spans.jsonl`), and how the tests gather the spans of several
processes into one place. Each line is one span in the SDK's own JSON form, written with
one `write` call under a lock, so processes appending to the same file do not interleave.
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan


class JsonLinesSpanExporter(SpanExporter):
    """Appends each exported span as one line of JSON to `path`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = os.fspath(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(
            json.dumps(json.loads(span.to_json(indent=None)), separators=(",", ":")) + "\n"
            for span in spans
        )
        data = lines.encode()
        try:
            with self._lock:
                # O_APPEND: each write lands at the end, whole, even with other writers
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:  # noqa: ARG002 - the API's
        return True
