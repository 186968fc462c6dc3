"""Writes the synchronous client (`_sync.py`) from the asyncio one (`_async.py`).

Each endpoint of `tideflow.client` is described once, in `_async.py` (its request in
`_calls.py`); the blocking twin is the same code without `async`/`await`, so it is derived,
the way httpcore derives its sync code (`unasync`), instead of being kept in step by hand.
Every rewrite below must apply at least once, so a rename in `_async.py` that a rule no
longer matches fails loudly instead of leaving an asyncio name in the sync client.

    python scripts/unasync_client.py          rewrite _sync.py
    python scripts/unasync_client.py --check  exit 1 when _sync.py is not what it derives

`libs/client/tests/test_sync_is_derived.py` runs the check in the test suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "libs/client/src/tideflow/client"
SOURCE = PACKAGE / "_async.py"
TARGET = PACKAGE / "_sync.py"

SYNC_DOCSTRING = (
    '"""The synchronous client: `Client(url, token=...)`, for scripts, notebooks and the CLI.\n'
    '''
Generated from `_async.py` by `scripts/unasync_client.py`: edit that file, then run the
script (a test fails while the two differ). Both execute the calls of `_calls.py`.
"""
'''
)

# (pattern, replacement) in order; each must match at least once.
REWRITES: list[tuple[str, str]] = [
    (r'\A""".*?"""\n', SYNC_DOCSTRING),
    (r"^import asyncio\n", ""),
    (r"\basyncio\.sleep\(", "time.sleep("),
    (r"\basync def ", "def "),
    (r"\bawait ", ""),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bhttpx\.AsyncBaseTransport\b", "httpx.BaseTransport"),
    (r"\bAsyncClient\b", "Client"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\.aclose\(\)", ".close()"),
    (r"  # noqa: ASYNC109[^\n]*", ""),
    (r"A typed asyncio client", "A typed client"),
    (r"as an async context manager, or await\n", "as a context manager, or call\n"),
]


def unasync(source: str) -> str:
    """The sync client's source for the asyncio client's `source`, before formatting."""
    text = source
    for pattern, replacement in REWRITES:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE | re.DOTALL)
        if not count:
            msg = f"unasync: {pattern!r} no longer matches _async.py; update REWRITES"
            raise ValueError(msg)
    return text


def formatted(text: str) -> str:
    """`text` as `ruff format` leaves it (unwrapped lines that now fit are joined)."""
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff) if ruff.exists() else "ruff", "format", "--stdin-filename"]
    done = subprocess.run(
        [*command, str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def render() -> str:
    return formatted(unasync(SOURCE.read_text()))


def main(argv: list[str]) -> int:
    wanted = render()
    if argv[1:] == ["--check"]:
        if TARGET.read_text() != wanted:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/unasync_client.py")
            return 1
        return 0
    TARGET.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
