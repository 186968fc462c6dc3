"""`tide infra up|down|status|env`: the three components as one unit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.infra._component import InfraError
from tideflow.infra._kafka import Kafka
from tideflow.infra._postgres import Postgres
from tideflow.infra._redis import Redis

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tideflow.infra._component import Component, ComponentStatus
    from tideflow.settings import InfraSettings

NAMES = ("postgres", "redis", "kafka")


class Infra:
    """The project-local Postgres, Redis and Kafka described by one `InfraSettings`."""

    def __init__(self, *, settings: InfraSettings) -> None:
        self.settings = settings
        home = settings.home
        self.components: dict[str, Component] = {
            "postgres": Postgres(
                home=home,
                port=settings.postgres_port,
                user=settings.postgres_user,
                database=settings.postgres_database,
            ),
            "redis": Redis(home=home, port=settings.redis_port),
            "kafka": Kafka(
                home=home,
                cache=settings.cache,
                port=settings.kafka_port,
                controller_port=settings.kafka_controller_port,
                version=settings.kafka_version,
                log4j_version=settings.log4j_version,
                heap=settings.kafka_heap,
            ),
        }

    def select(self, only: Iterable[str] | None = None) -> list[Component]:
        """The named components (all of them by default), in start order."""
        wanted = list(only) if only else list(NAMES)
        unknown = [name for name in wanted if name not in self.components]
        if unknown:
            raise ValueError(f"unknown component(s) {unknown}; choose from {list(NAMES)}")
        return [self.components[name] for name in NAMES if name in wanted]

    def up(self, only: Iterable[str] | None = None) -> list[ComponentStatus]:
        """Start what is not running yet and wait for every component to be ready.

        All or nothing: when one component fails, the ones this call started are stopped
        again (those that already ran are left alone), so a failed `tide infra up` leaves
        no stray Postgres behind (nor does Ctrl-C in the middle).
        """
        started: list[Component] = []
        try:
            for component in self.select(only):
                was_running = component.pid() is not None
                try:
                    component.up(timeout=self.settings.start_timeout_s)
                finally:
                    if not was_running and component.pid() is not None:
                        started.append(component)
        except BaseException as e:  # Ctrl-C halfway cleans up too
            stopped = [c.name for c in reversed(started) if c.down()]
            if stopped and isinstance(e, InfraError):
                raise InfraError(f"{e}\nstopped again: {', '.join(stopped)}") from e
            raise
        return self.status(only)

    def down(self, only: Iterable[str] | None = None) -> list[str]:
        """Stop the components we started, in reverse start order; return what was stopped."""
        return [c.name for c in reversed(self.select(only)) if c.down()]

    def status(self, only: Iterable[str] | None = None) -> list[ComponentStatus]:
        """One status line per component."""
        return [component.status() for component in self.select(only)]

    def env(self, only: Iterable[str] | None = None) -> dict[str, str]:
        """TIDEFLOW_* variables for the components that are running now."""
        variables: dict[str, str] = {}
        for component in self.select(only):
            if component.pid() is not None:
                variables.update(component.env())
        return variables
