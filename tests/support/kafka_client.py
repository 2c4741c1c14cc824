"""Small Kafka client helpers for tests: create plain topics, produce raw bytes, read a topic until
a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import ConsumerRecord

from schemas.topics import TopicSpec
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader


async def create_topics(kafka: KafkaConnection, *names: str, partitions: int = 4) -> None:
    """Topics outside the registry, for tests of the Kafka helpers: pumpstream's clients do not
    create a topic by asking about it (streams/kafka/no_auto_create.py)."""
    specs = [TopicSpec(name, "a test's topic", None, key="") for name in names]
    await ensure_topics(kafka, partitions=partitions, topics=specs)


async def produce(
    kafka: KafkaConnection, topic: str, value: bytes, key: bytes | None = None
) -> None:
    producer = kafka.producer(acks="all")
    try:  # stopped even when it cannot start, so no half-open producer is left behind
        await producer.start()
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def read_until(
    kafka: KafkaConnection,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    timeout_s: float = 30.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the start until ``done(records)`` or the deadline; return all read."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    async with TopicReader(kafka, topic) as reader:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records += await reader.read(timeout_ms=200)
            if done(records):
                return records
    return records
