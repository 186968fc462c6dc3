"""Apache Kafka 4.x in KRaft mode (one broker+controller) from Maven Central jars.

There is no Kafka distribution tarball on the registries we can reach, but the broker is
just the `org.apache.kafka:kafka_2.13` artifact plus its runtime dependencies, and the
`bin/` scripts are thin wrappers around `kafka.tools.StorageTool` and `kafka.Kafka`. So we
let Maven resolve the jars once into a cache folder and call those main classes directly.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

from tideflow.infra._component import Component, InfraError, port_open

if TYPE_CHECKING:
    from pathlib import Path

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.tideflow.infra</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <!-- kafka's tree pulls slf4j-api 1.7, which cannot see the slf4j2 binding below -->
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.org.name = org.apache.kafka
logger.org.level = warn
"""

STARTED = "Kafka Server started"
SLF4J_VERSION = "2.0.17"


class Kafka(Component):
    """A single-node KRaft cluster on loopback, tuned for fast tests (no rebalance delay)."""

    name = "kafka"

    def __init__(
        self,
        *,
        home: Path,
        cache: Path,
        port: int,
        controller_port: int,
        version: str,
        log4j_version: str,
        heap: str,
    ) -> None:
        super().__init__(home=home, port=port)
        self.controller_port = controller_port
        self.version = version
        self.log4j_version = log4j_version
        self.heap = heap
        self.lib = cache.resolve() / f"kafka-{version}" / "lib"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"

    @property
    def marker(self) -> str:
        return str(self.config)

    def env(self) -> dict[str, str]:
        return {"TIDEFLOW_KAFKA_BOOTSTRAP": self.address}

    def ensure_artifacts(self) -> None:
        """Resolve the broker jars from Maven Central once; later runs reuse the cache."""
        done = self.lib / ".complete"
        if done.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError("Maven (mvn) is required to fetch Kafka; install Java 17 and Maven.")
        build = self.lib.parent
        build.mkdir(parents=True, exist_ok=True)
        (build / "pom.xml").write_text(
            POM.format(kafka=self.version, log4j=self.log4j_version, slf4j=SLF4J_VERSION)
        )
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.lib}",
            ],
            cwd=build,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if result.returncode != 0 or not any(self.lib.glob("kafka_2.13-*.jar")):
            raise InfraError(f"fetching Kafka jars failed:\n{result.stdout}\n{result.stderr}")
        done.touch()

    def _java(self, main: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise InfraError("java (17+) is required to run Kafka.")
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def _write_config(self) -> None:
        (self.home / "log4j2.properties").write_text(LOG4J2)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self._port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self._port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": "8",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "24",
        }
        self.config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def _start(self) -> int:
        self.ensure_artifacts()
        self._write_config()
        if not (self.data / "meta.properties").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            cluster = (
                subprocess.run(
                    self._java("kafka.tools.StorageTool", "random-uuid"),
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=120,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            fmt = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(self.config)
                ),
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if fmt.returncode != 0:
                raise InfraError(f"kafka storage format failed:\n{fmt.stdout}\n{fmt.stderr}")
        self.log.write_text("")
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.config)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return proc.pid

    def ready(self) -> bool:
        return port_open(self._port) and _log_has(self.log, STARTED)


def _log_has(log: Path, text: str) -> bool:
    try:
        with log.open(errors="replace") as handle:
            return any(text in line for line in handle)
    except FileNotFoundError:
        return False
