"""``streams.kafka.reading`` on the embedded broker: reads every partition to the *true* end (Tansu
under-reports it after a batched produce), and follows a topic from its end or from a moment."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.kafka.connection import KafkaConnection
from streams.kafka.reading import TopicReader, read_topic
from tests.support.kafka_client import create_topics

pytestmark = pytest.mark.integration

TOPIC = "t"


@pytest.fixture(autouse=True)
async def _topic(broker: EmbeddedBroker) -> None:
    await create_topics(broker.connection, TOPIC, partitions=4)


async def _send(kafka: KafkaConnection, values: list[bytes], *, partition: int) -> None:
    """``values`` to one partition in one batch (what makes Tansu under-report the end)."""
    producer = kafka.producer(linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(TOPIC, v, partition=partition) for v in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _reported_end(kafka: KafkaConnection, partition: int) -> int:
    consumer = kafka.consumer()
    await consumer.start()
    try:
        tp = TopicPartition(TOPIC, partition)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


def _values(records: list[ConsumerRecord[bytes, bytes]]) -> list[bytes | None]:
    return [r.value for r in records]


async def test_reads_every_partition_to_the_true_end_after_a_batched_produce(
    broker: EmbeddedBroker,
) -> None:
    first = [f"a{i}".encode() for i in range(10)]
    last_batch = [f"b{i}".encode() for i in range(7)]
    await _send(broker.connection, first, partition=0)
    await _send(broker.connection, last_batch, partition=0)
    await _send(broker.connection, [b"c"], partition=1)
    # The case the reader exists for: the broker says partition 0 ends inside its last batch.
    assert await _reported_end(broker.connection, 0) < 17

    records = await read_topic(broker.connection, TOPIC, timeout_s=10)

    assert sorted(_values(records)) == sorted([*first, *last_batch, b"c"])
    assert _values([r for r in records if r.partition == 0]) == [*first, *last_batch]


async def test_a_missing_topic_reads_as_empty(broker: EmbeddedBroker) -> None:
    assert await read_topic(broker.connection, "no-such-topic", timeout_s=5) == []


async def test_following_from_the_end_starts_after_the_last_record(broker: EmbeddedBroker) -> None:
    await _send(broker.connection, [b"old-a", b"old-b"], partition=0)
    await _send(broker.connection, [f"old{i}".encode() for i in range(7)], partition=0)
    assert await _reported_end(broker.connection, 0) < 9  # a reader trusting it would re-read

    async with TopicReader(broker.connection, TOPIC, start="end", fetch_max_wait_ms=50) as reader:
        await _send(broker.connection, [b"new-1"], partition=0)
        await _send(broker.connection, [b"new-2"], partition=3)
        seen: list[bytes | None] = []
        deadline = time.monotonic() + 10
        async for batch in reader.follow(timeout_ms=100):
            seen += _values(batch)
            if len(seen) >= 2 or time.monotonic() > deadline:
                break
        assert sorted(seen) == [b"new-1", b"new-2"]
        assert await reader.read_to_end(timeout_s=5) == []
        assert await reader.has_reached(await reader.true_end())


async def test_starting_from_a_moment_skips_older_records(broker: EmbeddedBroker) -> None:
    await _send(broker.connection, [b"before"], partition=0)
    await _send(broker.connection, [b"long-ago"], partition=1)
    # Tansu indexes the time it appended a record: start one millisecond after the acks.
    since = datetime.now(UTC) + timedelta(milliseconds=1)
    while datetime.now(UTC) < since:
        await asyncio.sleep(0.001)
    await _send(broker.connection, [b"after"], partition=0)

    async with TopicReader(broker.connection, TOPIC, start=since) as reader:
        # Partition 1 has nothing since then: it starts at its end, not at its beginning.
        assert _values(await reader.read_to_end(timeout_s=10)) == [b"after"]
