"""A worker's seek back to committed offsets rewinds every stream partition, including those
never committed or committed at 0, which aiokafka leaves where they are (the records Faust
dropped while its flow was stopped were lost there: streams/kafka/transport.py)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from streams.cli.local.embedded_broker import EmbeddedBroker
from streams.kafka.transport import seek_to_committed_or_reset
from tests.support.kafka_client import create_topics

pytestmark = pytest.mark.integration

NEVER = TopicPartition("stream", 0)
AT_ZERO = TopicPartition("stream", 1)
AT_ONE = TopicPartition("stream", 2)
CHANGELOG = TopicPartition("changelog", 0)


async def _positions(consumer: object) -> dict[TopicPartition, int]:
    return {tp: await consumer.position(tp) for tp in (NEVER, AT_ZERO, AT_ONE, CHANGELOG)}  # type: ignore[attr-defined]


@pytest.mark.parametrize("reset", ["earliest", "latest"])
async def test_stream_partitions_go_back_to_their_committed_offset_or_the_reset_policy(
    broker: EmbeddedBroker, reset: str
) -> None:
    await create_topics(broker.connection, "stream", "changelog", partitions=4)
    producer = broker.connection.producer()
    await producer.start()
    try:
        for tp in (NEVER, AT_ZERO, AT_ONE, CHANGELOG):
            for n in range(3):
                await producer.send_and_wait(tp.topic, f"{n}".encode(), partition=tp.partition)
    finally:
        await producer.stop()

    consumer = broker.connection.consumer(
        group_id="g", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([NEVER, AT_ZERO, AT_ONE, CHANGELOG])
        await consumer.commit({AT_ZERO: 0, AT_ONE: 1})
        read = 0
        while read < 11:  # AT_ONE starts after its committed offset
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, "the records never came"
            read += sum(len(records) for records in batches.values())
        assert await _positions(consumer) == dict.fromkeys((NEVER, AT_ZERO, AT_ONE, CHANGELOG), 3)

        # aiokafka alone: only the partition committed above 0 goes back (if a release fixes
        # this, the line fails and the workaround can be dropped).
        await consumer.seek_to_committed()
        assert (await _positions(consumer))[NEVER] == 3
        assert (await _positions(consumer))[AT_ZERO] == 3

        committed = await seek_to_committed_or_reset(consumer, {"stream"}, reset)
        assert committed == {NEVER: None, AT_ZERO: 0, AT_ONE: 1, CHANGELOG: None}
        assert await _positions(consumer) == {
            NEVER: 0 if reset == "earliest" else 3,
            AT_ZERO: 0,
            AT_ONE: 1,
            CHANGELOG: 3,  # not a stream topic: Faust's table recovery places it
        }
    finally:
        await consumer.stop()
