"""Fixtures the node tests share: a local Textract, and the worker's own AWS credentials.

The Textract stand-in is started once per session; each test gets it with its requests
forgotten and answering normally.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tideflow.nodes.testing import FakeTextract, invoice_blocks

WORKER_KEY = "AKIAWORKERKEY0000001"
"""The access key id of the worker's own credentials (`aws_worker`)."""


@pytest.fixture(scope="session")
def textract_server() -> Iterator[FakeTextract]:
    with FakeTextract(blocks=invoice_blocks(vendor="ACME GmbH", amount="1,250.00")) as fake:
        yield fake


@pytest.fixture
def textract(textract_server: FakeTextract) -> Iterator[FakeTextract]:
    """The local Textract, with no request received yet."""
    textract_server.reset()
    yield textract_server
    textract_server.reset()


@pytest.fixture
def aws_worker(monkeypatch: pytest.MonkeyPatch) -> str:
    """The worker's own AWS credentials, where the default chain finds them; their key id."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", WORKER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return WORKER_KEY
