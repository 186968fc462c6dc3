"""What the hardware allows: raw Postgres commits and raw Kafka round trips.

Measured on the same machine, database and broker as the workloads, so every workload
figure can be read as a fraction of these. The probe table is an ordinary (logged) table:
a temporary or unlogged one would skip the WAL flush that every durable commit pays.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from statistics import median
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tidebench._report import percentile

CREATE = (
    "CREATE TABLE IF NOT EXISTS tidebench_probe (id bigserial PRIMARY KEY, run_id text, data jsonb)"
)
INSERT_ONE = "INSERT INTO tidebench_probe (run_id, data) VALUES ($1, $2::jsonb)"
INSERT_MANY = (
    "INSERT INTO tidebench_probe (run_id, data) SELECT * FROM unnest($1::text[], $2::jsonb[])"
)
DROP = "DROP TABLE tidebench_probe"


async def postgres_probe(dsn: str, *, commits: int = 200, batches: int = 20,
                         batch_rows: int = 1000) -> dict[str, Any]:  # fmt: skip
    """Single-row autocommit INSERT latency, and rows/s of 1000-row batched transactions."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(CREATE)
        insert = await connection.prepare(INSERT_ONE)
        latencies = []
        for i in range(commits):
            began = time.perf_counter()
            await insert.fetch(str(i), '{"v": 1}')
            latencies.append(time.perf_counter() - began)
        ids = [str(i) for i in range(batch_rows)]
        data = ['{"v": 1}'] * batch_rows
        began = time.perf_counter()
        for _ in range(batches):
            async with connection.transaction():
                await connection.execute(INSERT_MANY, ids, data)
        batched_s = time.perf_counter() - began
        await connection.execute(DROP)
    finally:
        await connection.close()
    return {
        "probe": "postgres",
        "commit_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "commit_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "commits_per_s_one_connection": round(commits / sum(latencies), 1),
        "batched_rows_per_s": round(batches * batch_rows / batched_s),
        "batch_rows": batch_rows,
    }


async def kafka_probe(bootstrap: str, *, messages: int = 200,
                      fetch_max_wait_ms: int = 10) -> dict[str, Any]:  # fmt: skip
    """Produce (acks=all, idempotent, like the bus) -> consume round trip, one at a time."""
    topic = f"tidebench-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_max_wait_ms,
        fetch_min_bytes=1,
    )
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getone()
        latencies = []
        for i in range(messages):
            began = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            await asyncio.wait_for(consumer.getone(), timeout=10)
            latencies.append(time.perf_counter() - began)
        acks = []
        for _ in range(50):
            began = time.perf_counter()
            await producer.send_and_wait(topic, b"ack")
            acks.append(time.perf_counter() - began)
    finally:
        await consumer.stop()
        await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()
    return {
        "probe": "kafka",
        "round_trip_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "round_trip_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "produce_ack_p50_ms": round(median(acks) * 1000, 2),
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "linger_ms": 0,
    }
