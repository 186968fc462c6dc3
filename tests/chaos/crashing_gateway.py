"""`tide serve gateway` that SIGKILLs itself inside its Nth StartRun publish.

The run row and its outbox row are committed by then and the message is not sent: the
exact window between the gateway's commit and its publish that the outbox relay must
cover. Only the bus call is wrapped; the gateway, Postgres and Kafka are the real ones.
Usage: python crashing_gateway.py <N> [tide serve gateway options]
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from tideflow.bus import KafkaBus, RawOutgoing
from tideflow.cli.main import app

crash_at = int(sys.argv.pop(1))
publish = KafkaBus.publish_raw_batch
starts = 0


async def publish_or_die(self: KafkaBus, records: Sequence[RawOutgoing]) -> None:
    global starts  # noqa: PLW0603 - one process, one counter
    if any(r.topic == self.topics.runs for r in records):
        starts += 1
        if starts >= crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
    await publish(self, records)


KafkaBus.publish_raw_batch = publish_or_die  # type: ignore[method-assign]
sys.argv[1:1] = ["serve", "gateway"]
app()
