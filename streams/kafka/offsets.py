"""End offsets that are true on every broker pumpstream runs on.

Tansu (the embedded broker) answers ListOffsets(latest) with one past the *first* record of the
partition's last batch, not one past its last record: after a producer sent 7 records in one batch
to offsets 10-16, it reports 11 (measured here, Tansu 0.6.0). Lag, "caught up" and "read to the
end" built on that figure stop early. :func:`end_offsets` asks, then reads from one before the
reported end to find the real one; on Apache Kafka that read finds nothing more, at the cost of one
short fetch per partition.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.connection import KafkaConnection


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` as ``consumer`` knows them, asking the broker when its metadata
    does not know the topic yet; empty when the topic does not exist."""
    known = consumer.partitions_for_topic(topic)
    if not known:
        await consumer._client.force_metadata_update()
        known = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(known)]


#: How long :func:`end_offsets` waits for the record before a partition's reported end before
#: taking the reported end as the true one.
QUIET_S = 1.0


async def end_offsets(
    kafka: KafkaConnection, partitions: Sequence[TopicPartition], *, timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """One past the last record of each partition."""
    if not partitions:
        return {}
    consumer = kafka.consumer(enable_auto_commit=False, fetch_max_wait_ms=20)
    try:  # stopped even when it cannot start, so no half-open consumer is left behind
        await consumer.start()
        reported: dict[TopicPartition, int] = await consumer.end_offsets(list(partitions))
        ends = dict(reported)
        pending = [tp for tp in partitions if reported[tp] > 0]
        if not pending:
            return ends
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, reported[tp] - 1)
        began = time.monotonic()
        deadline = began + timeout_s
        # Each partition holds a record at its reported end - 1 (the seek's target), so until
        # it is read an empty round means the fetch has not come back yet, not the end: on a
        # busy machine the first round can be empty, and the reported end was taken for the
        # true one (a CI run of test_topic_reader re-read 7 old records). Only a partition
        # silent for ``QUIET_S`` (its last record gone, as compaction may do) keeps it.
        unread = set(pending)
        while time.monotonic() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=100)
            seen = False
            for tp, records in batch.items():
                if records:
                    seen = True
                    unread.discard(tp)
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
            if not seen and (not unread or time.monotonic() - began > QUIET_S):
                break  # a whole round with nothing more: every partition is at its end
        return ends
    finally:
        await consumer.stop()
