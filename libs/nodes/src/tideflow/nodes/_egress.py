"""The egress policy: which addresses a worker node may connect to.

The check sits in the connection layer (an httpcore network backend), not on the URL:
the host is resolved here, every resolved address is checked, and the connection goes
to an address that was checked. So a decimal or octal IP (`http://2130706433/`), a DNS
name pointing at a denied address (or at several, one of them denied), and every
redirect hop (each opens its own connection) meet the same rules; a URL check alone
would miss all of them. Every request made through `GuardedTransport` (the http, llm,
agent and notify nodes, plugins' `ctx.http` and connectors, webhook deliveries) gets the
policy, and its response body is capped (`_capped`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

from tideflow.nodes._capped import DEFAULT_RESPONSE_BYTES, CappedStream
from tideflow.settings import host_matches

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tideflow.settings import EgressSettings

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local: AWS, GCP, Azure, OpenStack metadata
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "168.63.129.16/32",  # Azure wire server
    )
)
NOT_A_DESTINATION = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8", "240.0.0.0/4", "255.255.255.255/32")
)
LOOPBACK = tuple(ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128"))
PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


class EgressDenied(Exception):  # noqa: N818 - the name is the error type steps report
    """The policy refuses this destination; retrying cannot help."""


def _address(value: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _in(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def endpoint_of(value: str) -> tuple[str, int] | None:
    """`host:port` or a URL (`postgresql://u@db:5432/x`) as (host, port), a URL without a port
    at its scheme's (`postgresql://u@db/x` is db:5432); None for a bare host."""
    parts = urlsplit(value if "://" in value else f"tcp://{value}")
    try:
        port = parts.port
    except ValueError:
        return None
    port = port or _LISTENER_PORTS.get(parts.scheme.lower())
    if parts.hostname is None or port is None:
        return None
    return parts.hostname, port


_LISTENER_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379,
                   "http": 80, "https": 443}  # fmt: skip
"""The port a listener's URL means when it names none (`postgresql://db/x` is db:5432)."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """The rules, in order: denied networks and hosts, the platform's own listeners, then
    allowed hosts and networks, then the defaults (metadata, not-a-destination, loopback,
    private)."""

    allow_networks: tuple[IPNetwork, ...] = ()
    deny_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    allow_loopback: bool = False
    allow_private: bool = True
    protected: frozenset[tuple[IPAddress, int]] = frozenset()
    protected_local_ports: frozenset[int] = frozenset()
    """Ports of listeners bound to loopback or every interface: refused on any local address."""

    @classmethod
    def from_settings(
        cls, settings: EgressSettings, *, listeners: Iterable[str] = ()
    ) -> EgressPolicy:
        """The policy of `settings`, protecting `listeners` (URLs or `host:port`) and the
        ones `settings.protected` names. Host names are resolved once, here."""
        protected: set[tuple[IPAddress, int]] = set()
        local_ports: set[int] = set()
        for item in [*listeners, *settings.protected]:
            endpoint = endpoint_of(item)
            if endpoint is None:
                continue
            host, port = endpoint
            for ip in _resolve_now(host):
                if ip.is_loopback or ip.is_unspecified:
                    local_ports.add(port)
                else:
                    protected.add((ip, port))
        return cls(
            allow_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.allow_cidrs
            ),
            deny_networks=tuple(ipaddress.ip_network(n, strict=False) for n in settings.deny_cidrs),
            allow_hosts=tuple(settings.allow_hosts),
            deny_hosts=tuple(settings.deny_hosts),
            allow_loopback=settings.allow_loopback,
            allow_private=settings.allow_private,
            protected=frozenset(protected),
            protected_local_ports=frozenset(local_ports),
        )

    def check_host(self, host: str) -> None:
        if host_matches(host, self.deny_hosts):
            raise EgressDenied(f"{host} is in TIDEFLOW_EGRESS_DENY_HOSTS")

    def check_address(self, host: str, ip: IPAddress, port: int) -> None:
        """Raise EgressDenied unless `host` (resolved to `ip`) may be reached on `port`."""
        where = f"{host} ({ip}:{port})" if str(ip) != host else f"{ip}:{port}"
        if _in(ip, self.deny_networks):
            raise EgressDenied(f"{where} is in TIDEFLOW_EGRESS_DENY_CIDRS")
        local = ip.is_loopback or ip.is_unspecified
        if (ip, port) in self.protected or (local and port in self.protected_local_ports):
            raise EgressDenied(f"{where} is a listener of this Tideflow deployment")
        if host_matches(host, self.allow_hosts) or _in(ip, self.allow_networks):
            return
        if _in(ip, METADATA):
            raise EgressDenied(f"{where} is a link-local or cloud metadata address")
        if _in(ip, NOT_A_DESTINATION):
            raise EgressDenied(f"{where} is not a destination address")
        if _in(ip, LOOPBACK) and not self.allow_loopback:
            raise EgressDenied(f"{where} is loopback (TIDEFLOW_EGRESS_ALLOW_LOOPBACK is off)")
        if _in(ip, PRIVATE) and not self.allow_private:
            raise EgressDenied(f"{where} is private (TIDEFLOW_EGRESS_ALLOW_PRIVATE is off)")


def _resolve_now(host: str) -> list[IPAddress]:
    literal = _address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        log.warning("egress: cannot resolve protected listener %s; it is not protected", host)
        return []
    return [ip for info in infos if (ip := _address(str(info[4][0]))) is not None]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked one."""

    def __init__(self, policy: EgressPolicy, backend: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._backend = backend

    async def connect_tcp(  # the port's signature
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self._policy.check_host(host)
        addresses = await _resolve(host, port, timeout)
        for ip in addresses:
            self._policy.check_address(host, ip, port)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as e:
                error = e
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002
        timeout: float | None = None,  # noqa: ARG002, ASYNC109
        socket_options: Iterable[Any] | None = None,  # noqa: ARG002
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


async def _resolve(host: str, port: int, seconds: float | None) -> list[IPAddress]:
    literal = _address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as e:
        raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from e
    found: list[IPAddress] = []
    for info in infos:
        ip = _address(str(info[4][0]))
        if ip is not None and ip not in found:
            found.append(ip)
    if not found:
        raise httpcore.ConnectError(f"{host} has no address")
    return found


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection is checked, and
    whose every response body is capped at `response_bytes` (see `_capped`)."""

    def __init__(
        self, policy: EgressPolicy, *, response_bytes: int = DEFAULT_RESPONSE_BYTES
    ) -> None:
        super().__init__(trust_env=False)
        self._response_bytes = response_bytes
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, httpcore.AnyIOBackend()),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        response.stream = CappedStream(
            cast("httpx.AsyncByteStream", response.stream), limit=self._response_bytes,
            response=response, request=request,
        )  # fmt: skip
        return response


_DEFAULT_PORTS = {"": 443, "https": 443, "http": 80, "postgresql": 5432, "postgres": 5432,
                  "smtp": 25, "smtps": 465}  # fmt: skip
"""The port a library connects to when the URL names none: checked against the policy."""


async def check_url(policy: EgressPolicy, url: str, *, timeout_s: float | None = 10.0) -> None:
    """Check a destination a library will connect to itself (an LLM provider's `apiBase`,
    an SMTP server): the host and every address it resolves to. Raises EgressDenied. A
    host that does not resolve passes: the library's own connection fails (retryably).
    The library resolves again when it connects, so this is weaker than the transport's
    check; use `GuardedTransport` wherever the library takes an httpx client."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # its text quotes a piece of the URL: a DSN's password, perhaps
        msg = "the address's host or port does not parse"
        raise EgressDenied(msg) from None
    if not host:
        msg = "the address has no host"  # not the URL itself: it may hold a password
        raise EgressDenied(msg)
    port = port or _DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    policy.check_host(host)
    try:
        addresses = await _resolve(host, port, timeout_s)
    except httpcore.ConnectError:
        return
    for ip in addresses:
        policy.check_address(host, ip, port)
