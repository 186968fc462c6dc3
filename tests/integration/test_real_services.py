"""The real Kafka, Postgres and Redis the project starts actually work end to end."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def test_kafka_produce_then_consume(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, value=f"m{i}".encode(), key=b"run-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < 10:
                batch = await consumer.getmany(timeout_ms=200)
                received += [m.value for msgs in batch.values() for m in msgs if m.value]
        await consumer.commit()
    finally:
        await consumer.stop()
    # one key, so one partition: order is preserved
    assert received == [f"m{i}".encode() for i in range(10)]


async def test_postgres_write_then_read(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        table = f"smoke_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body jsonb)")
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {table} VALUES (1, '{{\"a\": 1}}')")  # noqa: S608
        assert await conn.fetchval(f"SELECT body->>'a' FROM {table} WHERE id = 1") == "1"  # noqa: S608
        assert await conn.fetchval("SHOW fsync") == "on"
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()


async def test_redis_set_then_get(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        key = f"smoke:{uuid.uuid4()}"
        await client.set(key, "v", ex=60)
        assert await client.get(key) == b"v"
        assert await client.incr(f"{key}:n") == 1
    finally:
        await client.aclose()
