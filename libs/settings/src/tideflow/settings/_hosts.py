"""Host patterns an operator writes (`api.example.com`, `*.corp.example`, `host:port`).

Pure string matching, shared by the worker (which checks the URL a step is about to call)
and the gateway and collab (whose publish policy checks the URL a definition names), so
all of them read an operator's list the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable

_DEFAULT_PORTS = {"": 443, "https": 443, "http": 80}
"""The port a URL means when it names none (a bare host: HTTPS, as AWS clients use)."""


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether `host` is one of `patterns` (exact, or `*.suffix` for its subdomains)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower().rstrip(".")
        if host == p or (p.startswith("*.") and host.endswith(p[1:])):
            return True
    return False


def host_allowed(url: str, entries: Iterable[str]) -> bool:
    """Whether `url`'s host (and port) is one of `entries`: host names or patterns
    (`*.example.com`), each optionally with `:port` (then only that port matches)."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        return False
    if not host:
        return False
    for entry in entries:
        name, _, number = entry.rpartition(":")
        if not number.isdigit() or not name or name.endswith(":"):
            name, number = entry, ""
        if host_matches(host, [name.strip("[]")]) and (not number or int(number) == port):
            return True
    return False
