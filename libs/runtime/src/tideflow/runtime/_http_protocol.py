"""The HTTP/1.1 protocol every Tideflow server speaks: uvicorn's httptools one, except that
a request the parser refuses still gets the API's error document.

The C parser rejects a request head it cannot parse (a control character such as DEL in a
header value, a bare CR) before the app sees it, and uvicorn then answers a plain-text
400. A client must be able to rely on `{"error": {"code", "message", "details"}}` with a
stable code on every answer, and a bad `Authorization` header is a credentials problem:
401 `UNAUTHENTICATED`, like a non-ASCII one that does reach the app.
"""

from __future__ import annotations

import json
import re

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tideflow.contract import ErrorCode
from tideflow.runtime._api import error_body

_HEAD_KEPT = 16 * 1024
"""The tail of the request head kept to tell which header the parser refused (it stops
at the refused byte, so that header is at the tail)."""

_BAD_AUTHORIZATION = re.compile(
    rb"(?:^|\n)(?:proxy-)?authorization[ \t]*:[^\r\n]*"
    rb"(?:[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n))",
    re.IGNORECASE,
)
"""An Authorization header whose value holds a control character (tab aside) or a bare CR."""


def refusal(head: bytes) -> tuple[int, bytes]:
    """The status and error document for a request head the parser refused."""
    if _BAD_AUTHORIZATION.search(head):
        status, code = 401, ErrorCode.UNAUTHENTICATED
        message = "the Authorization header holds a control character"
    else:
        status, code = 400, ErrorCode.BAD_REQUEST
        message = "malformed HTTP request (the request line or a header could not be parsed)"
    return status, json.dumps(error_body(code, message)).encode()


class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request head it cannot parse gets a JSON error."""

    _head = b""
    _reading_head = True

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head = (self._head + data)[-_HEAD_KEPT:]
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head = b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - the document says why
        status, body = refusal(self._head)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
