"""How far a consumer group is behind the end of its topics (demo, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka_offsets import end_offsets


async def group_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> int:
    """Messages in ``topics`` the group has not committed yet (a missing commit counts all)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        ends = await end_offsets(bootstrap, partitions)  # Tansu under-reports the end
        committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
        lag = 0
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        await admin.close()
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def wait_until_caught_up(
    bootstrap: str, group_id: str, topics: Iterable[str], *, timeout_s: float
) -> bool:
    """Poll until the group's lag on ``topics`` is zero; False if ``timeout_s`` passes first."""
    names = list(topics)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await group_lag(bootstrap, group_id, names) == 0:
            return True
        await asyncio.sleep(0.5)
    return False
