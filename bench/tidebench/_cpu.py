"""CPU time per step of every process a workload uses: its budget beside each figure.

Throughput on a shared machine moves with everything else that runs on it; the CPU time
a process spends (user + system, from the kernel, via psutil) on the same work does not.
A `CpuMeter` snapshots the CPU time of named process groups before a workload's measured
repetitions and after them; the difference divided by the steps run is "CPU ms per step".

Groups: the service processes, the Postgres backends of the
stack's database (`pg_stat_activity`), Postgres' background processes (WAL writer,
checkpointer, I/O workers: shared with every database of that server), the Kafka broker
(a JVM shared with whatever else uses it) and the client (this process). Shared groups
are marked so: their figure includes other load on the same server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
import psutil

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

SHARED_GROUPS = ("postgres_aux", "kafka")


def _cpu_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return float(times.user + times.system)


def kafka_brokers() -> set[int]:
    """The JVMs running `kafka.Kafka` on this machine (the broker of `tide infra`)."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if "kafka.Kafka" in cmdline:
            found.add(process.pid)
    return found


async def postgres_pids(dsn: str) -> tuple[set[int], set[int]]:
    """(client backends of the DSN's database, the server's background processes)."""
    database = urlsplit(dsn).path.lstrip("/")
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid, datname, backend_type FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    backends = {r["pid"] for r in rows
                if r["backend_type"] == "client backend" and r["datname"] == database}  # fmt: skip
    aux = {r["pid"] for r in rows if r["backend_type"] != "client backend"}
    return backends, aux


@dataclass
class CpuMeter:
    """CPU seconds of process groups between `start()` and `stop()`.

    A PID seen only at the end (a new child or pooled connection) counts from zero; one
    that ended before `stop()` is lost (its last seconds cannot be read), which is why the
    stacks keep their connections pooled for the whole run.
    """

    sources: dict[str, Callable[[], Awaitable[set[int]]]]
    _before: dict[str, dict[int, float]] = field(default_factory=dict)

    async def _snapshot(self) -> dict[str, dict[int, float]]:
        taken: dict[str, dict[int, float]] = {}
        for name, source in self.sources.items():
            seconds = {pid: s for pid in await source() if (s := _cpu_seconds(pid)) is not None}
            taken[name] = seconds
        return taken

    async def start(self) -> None:
        self._before = await self._snapshot()

    async def stop(self) -> dict[str, float]:
        """CPU milliseconds per group since `start()`."""
        after = await self._snapshot()
        spent: dict[str, float] = {}
        for name, now in after.items():
            before = self._before.get(name, {})
            spent[name] = 1000 * sum(s - before.get(pid, 0.0) for pid, s in now.items())
        return spent


def per_step(spent_ms: dict[str, float], steps: int) -> dict[str, float]:
    """CPU ms per step for each group, plus the total (shared groups included)."""
    if steps <= 0:
        return {}
    figures = {name: round(ms / steps, 3) for name, ms in spent_ms.items()}
    figures["total"] = round(sum(spent_ms.values()) / steps, 3)
    return figures


def fixed(pids: Iterable[int]) -> Callable[[], Awaitable[set[int]]]:
    """A source for processes known up front: the services (they spawn no children; the
    embedded Postgres that `tide dev` starts is measured as Postgres, not as `dev`)."""
    roots = frozenset(pids)

    async def source() -> set[int]:
        return set(roots)

    return source


def postgres_sources(dsn: str) -> dict[str, Callable[[], Awaitable[set[int]]]]:
    async def backends() -> set[int]:
        return (await postgres_pids(dsn))[0]

    async def aux() -> set[int]:
        return (await postgres_pids(dsn))[1]

    return {"postgres": backends, "postgres_aux": aux}


def kafka_source() -> Callable[[], Awaitable[set[int]]]:
    async def source() -> set[int]:
        return kafka_brokers()

    return source


def client_source() -> Callable[[], Awaitable[set[int]]]:
    async def source() -> set[int]:
        return {os.getpid()}

    return source
