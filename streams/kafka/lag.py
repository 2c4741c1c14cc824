"""How far a consumer group is behind the end of its topics: one algorithm for the worker's lag
gauge, the demo, the benchmarks and the tests.

Lag is measured the way Kafka's own tools do: the true end offset (``offsets.end_offsets``, since
Tansu under-reports it) minus the group's committed offset, per partition, summed per topic; a
partition the group never committed counts whole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.connection import KafkaConnection
from streams.kafka.offsets import end_offsets, partitions_of


class ConsumerLagProbe:
    """Measures a consumer group's lag on some topics; its clients open on first use and stay
    open between measurements until :meth:`close`."""

    def __init__(self, kafka: KafkaConnection, group_id: str, topics: Iterable[str]) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            consumer = self.kafka.consumer(enable_auto_commit=False)
            admin = self.kafka.admin()
            await consumer.start()
            await admin.start()
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def lag_by_topic(self) -> dict[str, int]:
        consumer, admin = await self._clients()
        partitions = [tp for topic in self.topics for tp in await partitions_of(consumer, topic)]
        ends = await end_offsets(self.kafka, partitions)
        committed = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        lag = dict.fromkeys(self.topics, 0)
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[tp.topic] += max(0, ends[tp] - done)
        return lag

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._consumer is not None:
            await self._consumer.stop()
        self._consumer = self._admin = None


async def wait_until_caught_up(
    kafka: KafkaConnection, group_id: str, topics: Iterable[str], *, timeout_s: float
) -> bool:
    """Poll until the group's lag on ``topics`` is zero; False if ``timeout_s`` passes first."""
    probe = ConsumerLagProbe(kafka, group_id, topics)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if sum((await probe.lag_by_topic()).values()) == 0:
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await probe.close()
