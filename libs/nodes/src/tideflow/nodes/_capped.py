"""Response bodies read through the egress-guarded transport, counted and capped.

`GuardedTransport` wraps every response's body in a `CappedStream`, so no caller can read
more than the cap, whether it streams (the http node, connectors), reads a head and stops
(notify, webhook deliveries, error pages: they catch the error and keep what they read,
since a chunk may cross the cap before they stop), or reads everything
at once (a plugin's `ctx.http.get(...)`, the OpenAI SDK under litellm). The read fails
when the bytes read cross the cap, not on a declared `Content-Length`: a caller that
reads only the head of a large answer (a notify receiver's reply, an error page) must
not fail, and a caller that wants to refuse early checks the header itself (the http
node does). Compressed bodies are counted as they will be decoded too (a shadow inflate
with bounded output steps), so a small gzip bomb cannot expand past the cap in the
caller's decoder.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DEFAULT_RESPONSE_BYTES = 4 * 1024 * 1024
"""The cap when a transport is built without one (`TIDEFLOW_EGRESS_RESPONSE_BYTES`'s default)."""

_STEP = 64 * 1024
"""Most output one shadow-inflate call produces: memory stays bounded whatever the ratio."""

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class ResponseTooLarge(httpx.HTTPError):
    """A response body over the cap. Deterministic for the same request: not retried.

    An `httpx.HTTPError`, so plugin code that handles httpx errors handles it too."""

    error_type = "HttpResponseTooLarge"


class _Inflater:
    """Counts the decoded size of a body as httpx will decode it (the encodings in reverse
    order), producing at most _STEP bytes per call and stopping once over the limit."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self._encodings = list(reversed(encodings))
        self._stages = [zlib.decompressobj(_WBITS[e]) for e in self._encodings]
        self._limit = limit
        self._fresh = True
        self.total = 0
        self.broken = False
        """A body that does not inflate: httpx reports it when it decodes; count raw only."""

    def feed(self, data: bytes) -> None:
        try:
            self._feed(0, data)
        except zlib.error:
            if not (self._fresh and "deflate" in self._encodings):
                self.broken = True
                return
            # `deflate` without its zlib header, as httpx accepts it too: start over raw
            self._stages = [zlib.decompressobj(-zlib.MAX_WBITS if e == "deflate" else _WBITS[e])
                            for e in self._encodings]  # fmt: skip
            self.total = 0
            self._fresh = False
            self.feed(data)
        self._fresh = False

    def _feed(self, stage: int, data: bytes) -> None:
        if stage == len(self._stages):
            self.total += len(data)
            return
        inflate = self._stages[stage]
        while self.total <= self._limit:
            out = inflate.decompress(data, _STEP)
            data = inflate.unconsumed_tail
            self._feed(stage + 1, out)
            if not data and len(out) < _STEP:
                return


def _inflater(content_encoding: str, limit: int) -> _Inflater | None:
    encodings = [e.strip().lower() for e in content_encoding.split(",")]
    encodings = [e for e in encodings if e and e != "identity"]
    if not encodings or any(e not in _WBITS for e in encodings):
        return None  # plain, or an encoding httpx does not decode either: raw bytes count
    return _Inflater(encodings, limit)


class CappedStream(httpx.AsyncByteStream):
    """The body of one response; raises ResponseTooLarge past `limit` bytes (raw or decoded)."""

    def __init__(self, stream: httpx.AsyncByteStream, *, limit: int, response: httpx.Response,
                 request: httpx.Request) -> None:  # fmt: skip
        self._stream = stream
        self._limit = limit
        self._request = request
        self._host = request.url.host
        self._inflater = _inflater(response.headers.get("content-encoding", ""), limit)

    def _too_large(self, what: str) -> ResponseTooLarge:
        error = ResponseTooLarge(
            f"the answer of {self._host} {what} the {self._limit:,}-byte cap "
            "(TIDEFLOW_EGRESS_RESPONSE_BYTES)"
        )
        error.request = self._request  # code reporting httpx errors reads it
        return error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = 0
        async for chunk in self._stream:
            read += len(chunk)
            if read > self._limit:
                raise self._too_large("is over")
            inflater = self._inflater
            if inflater is not None and not inflater.broken:
                inflater.feed(chunk)
                if inflater.total > self._limit:
                    raise self._too_large("decompresses to over")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()
